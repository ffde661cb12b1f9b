package admission

import (
	"context"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// TestBadInput: objects the handlers cannot read get a 400 naming the problem, from both
// handlers, counted as errors; never a panic and never an admission.
func TestBadInput(t *testing.T) {
	ephemeral := func(r admission.Request) admission.Request {
		r.SubResource = "ephemeralcontainers"
		return r
	}
	good := kPod.object("x", minimalSpec)
	cases := []struct {
		name     string
		req      admission.Request
		resource string
		want     []string // fragments of the message
	}{
		{
			name:     "empty object",
			req:      request(admissionv1.Create, kPod, "x", "", ""),
			resource: "pods",
			want:     []string{"the AdmissionReview request has no object"},
		},
		{
			name:     "malformed JSON",
			req:      request(admissionv1.Create, kPod, "x", `{"apiVersion":"v1","kind":"Pod","spec":`, ""),
			resource: "pods",
			want:     []string{"decoding Pod", "unexpected end of JSON input"},
		},
		{
			name:     "data after the object",
			req:      request(admissionv1.Create, kPod, "x", good+` {}`, ""),
			resource: "pods",
			want:     []string{"decoding Pod", "after top-level value"},
		},
		{
			name:     "hostNetwork is a string",
			req:      request(admissionv1.Create, kPod, "x", kPod.object("x", `{"hostNetwork":"yes","containers":[{"name":"app","image":"nginx:1.27"}]}`), ""),
			resource: "pods",
			want:     []string{"decoding Pod: spec.hostNetwork: got a string, want true or false"},
		},
		{
			name:     "containers is a string",
			req:      request(admissionv1.Create, kDeployment, "web", kDeployment.object("web", `{"containers":"app"}`), ""),
			resource: "deployments",
			want:     []string{"decoding Deployment", "spec.template.spec.containers"},
		},
		{
			name:     "securityContext is a string",
			req:      request(admissionv1.Create, kCronJob, "cj", kCronJob.object("cj", `{"containers":[{"name":"app","securityContext":"restricted"}]}`), ""),
			resource: "cronjobs",
			want:     []string{"decoding CronJob", "spec.jobTemplate.spec.template.spec.containers.securityContext"},
		},
		{
			name:     "runAsUser is a string",
			req:      request(admissionv1.Create, kPod, "x", kPod.object("x", `{"securityContext":{"runAsUser":"0"},"containers":[]}`), ""),
			resource: "pods",
			want:     []string{"spec.securityContext.runAsUser: got a string, want an integer"},
		},
		{
			name:     "bad quantity",
			req:      request(admissionv1.Create, kPod, "x", kPod.object("x", `{"containers":[{"name":"app","resources":{"limits":{"cpu":"lots"}}}]}`), ""),
			resource: "pods",
			want:     []string{"decoding Pod", "quantities must match"},
		},
		{
			name:     "object is an array",
			req:      request(admissionv1.Create, kPod, "x", `[]`, ""),
			resource: "pods",
			want:     []string{"decoding Pod: the object: got an array, want an object"},
		},
		{
			name:     "spec is an array",
			req:      request(admissionv1.Create, kPod, "x", `{"apiVersion":"v1","kind":"Pod","spec":[]}`, ""),
			resource: "pods",
			want:     []string{"decoding Pod: spec: got an array, want an object"},
		},
		{
			name:     "malformed old object",
			req:      request(admissionv1.Update, kDeployment, "web", kDeployment.object("web", minimalSpec), `{"spec":{"template":`),
			resource: "deployments",
			want:     []string{"old object: decoding Deployment"},
		},
		{
			name:     "malformed ephemeral containers update",
			req:      ephemeral(request(admissionv1.Update, kPod, "x", kPod.object("x", `{"ephemeralContainers":{"name":"dbg"}}`), good)),
			resource: "pods/ephemeralcontainers",
			want:     []string{"decoding Pod", "spec.ephemeralContainers"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, profile(t, "nsa"))
			op := strings.ToLower(string(c.req.Operation))
			for _, hd := range []struct {
				webhook string
				h       admission.Handler
			}{{"validate", h.v}, {"mutate", h.m}} {
				resp := hd.h.Handle(context.Background(), c.req)
				if resp.Allowed {
					t.Fatalf("%s: bad input admitted", hd.webhook)
				}
				if resp.Result == nil || resp.Result.Code != http.StatusBadRequest {
					t.Fatalf("%s: result %+v, want code 400", hd.webhook, resp.Result)
				}
				for _, w := range c.want {
					if !strings.Contains(resp.Result.Message, w) {
						t.Errorf("%s: message %q does not mention %q", hd.webhook, resp.Result.Message, w)
					}
				}
				if len(resp.Patches) != 0 || len(resp.Warnings) != 0 {
					t.Errorf("%s: error response with patches %v or warnings %q", hd.webhook, resp.Patches, resp.Warnings)
				}
			}
			assertMaps(t, "decisions", h.decisions(), map[string]float64{
				decisionKey("validate", c.resource, op, "error"): 1,
				decisionKey("mutate", c.resource, op, "error"):   1,
			})
			if logs := h.logLines("denied"); len(logs) != 0 {
				t.Errorf("error logged as a denial: %v", logs)
			}
		})
	}
}

// TestMutatorShapeErrors: JSON the typed decoder accepts but the raw-JSON mutation cannot
// patch (a null container) is an error response, not a panic nor a patch that fails at the
// apiserver.
func TestMutatorShapeErrors(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	resp := h.m.Handle(context.Background(), request(admissionv1.Create, kDeployment, "web", kDeployment.object("web", `{"containers":[null]}`), ""))
	const want = "spec.template.spec.containers[0] is not an object"
	if resp.Allowed || resp.Result.Code != http.StatusBadRequest || resp.Result.Message != want {
		t.Errorf("got allowed %v, %+v; want 400 %q", resp.Allowed, resp.Result, want)
	}
	assertMaps(t, "decisions", h.decisions(), map[string]float64{
		decisionKey("mutate", "deployments", "create", "error"): 1,
	})
}
