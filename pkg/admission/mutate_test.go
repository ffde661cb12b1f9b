package admission

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

const minimalSpec = `{"containers":[{"name":"app","image":"nginx:1.27"}]}`

// TestMutatorMinimalPod: the docs/checks.md defaults of the nsa profile, as a patch against the
// object as sent, listed in warnings and counted.
func TestMutatorMinimalPod(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	obj := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"team-a"},"spec":` + minimalSpec + `}`
	req := request(admissionv1.Create, kPod, "x", obj, "")
	resp := h.m.Handle(context.Background(), req)
	if !resp.Allowed || resp.Result.Code != http.StatusOK {
		t.Fatalf("got %+v, want allowed", resp.Result)
	}
	for _, p := range resp.Patches {
		if p.Operation != "add" {
			t.Errorf("operation %q at %s, want only add", p.Operation, p.Path)
		}
	}
	out := applyPatch(t, req, resp, obj)
	assertJSONEqual(t, out, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"team-a"},"spec":{
		"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
		"containers":[{"name":"app","image":"nginx:1.27",
			"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}},
			"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"512Mi"}}}]}}`)

	wantWarnings := []string{
		"bulwark set defaults in spec.securityContext: seccompProfile.type=RuntimeDefault, runAsNonRoot=true",
		"bulwark set defaults in spec.containers[0].securityContext: allowPrivilegeEscalation=false, capabilities.drop=[ALL]",
		"bulwark set defaults in spec.containers[0].resources: requests.cpu=100m, requests.memory=128Mi, limits.cpu=500m, limits.memory=512Mi",
	}
	if !reflect.DeepEqual(resp.Warnings, wantWarnings) {
		t.Errorf("warnings:\n got  %q\n want %q", resp.Warnings, wantWarnings)
	}
	assertMaps(t, "mutations", h.counters("bulwark_mutations_total"), map[string]float64{
		"default=seccomp":              1,
		"default=run-as-non-root":      1,
		"default=privilege-escalation": 1,
		"default=drop-capabilities":    1,
		"default=resources":            4,
	})
	assertMaps(t, "decisions", h.decisions(), map[string]float64{
		decisionKey("mutate", "pods", "create", "allowed"): 1,
	})
	assertBoundedLabels(t, h, req)
}

// TestMutatorKeepsUserValuesAndUnknownFields: only missing fields are added; what the user
// set and what k8s.io/api does not know survive.
func TestMutatorKeepsUserValuesAndUnknownFields(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	spec := `{
		"futureField":{"mode":"strict","level":7},
		"securityContext":{"runAsNonRoot":false,"fsGroup":2000},
		"containers":[
			{"name":"app","image":"nginx:1.27","futureContainerField":["a",{"b":1}],
			 "securityContext":{"allowPrivilegeEscalation":true,"capabilities":{"add":["NET_ADMIN"]}},
			 "resources":{"limits":{"cpu":"2"}}},
			{"name":"side","image":"envoy:1.30",
			 "securityContext":{"capabilities":{"drop":[]}},
			 "resources":{"requests":{"memory":"64Mi"},"limits":{"memory":"1Gi"}}}]}`
	obj := kDeployment.object("web", spec, `"replicas":3`)
	req := request(admissionv1.Create, kDeployment, "web", obj, "")
	resp := h.m.Handle(context.Background(), req)
	out := applyPatch(t, req, resp, obj)
	wantSpec := `{
		"futureField":{"mode":"strict","level":7},
		"securityContext":{"runAsNonRoot":false,"fsGroup":2000,"seccompProfile":{"type":"RuntimeDefault"}},
		"containers":[
			{"name":"app","image":"nginx:1.27","futureContainerField":["a",{"b":1}],
			 "securityContext":{"allowPrivilegeEscalation":true,"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]}},
			 "resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"2","memory":"512Mi"}}},
			{"name":"side","image":"envoy:1.30",
			 "securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":[]}},
			 "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"500m","memory":"1Gi"}}}]}`
	assertJSONEqual(t, out, kDeployment.object("web", wantSpec, `"replicas":3`))
	for _, p := range resp.Patches {
		if strings.Contains(p.Path, "futureField") || strings.Contains(p.Path, "futureContainerField") {
			t.Errorf("patch touches an unknown field: %s", p.Path)
		}
	}
	wantWarnings := []string{
		"bulwark set defaults in spec.template.spec.securityContext: seccompProfile.type=RuntimeDefault",
		"bulwark set defaults in spec.template.spec.containers[0].securityContext: capabilities.drop=[ALL]",
		"bulwark set defaults in spec.template.spec.containers[0].resources: requests.cpu=100m, requests.memory=128Mi, limits.memory=512Mi",
		"bulwark set defaults in spec.template.spec.containers[1].securityContext: allowPrivilegeEscalation=false",
		"bulwark set defaults in spec.template.spec.containers[1].resources: requests.cpu=100m, limits.cpu=500m",
	}
	if !reflect.DeepEqual(resp.Warnings, wantWarnings) {
		t.Errorf("warnings:\n got  %q\n want %q", resp.Warnings, wantWarnings)
	}
	// run-as-non-root was set by the user (false): no mutation counted for it.
	assertMaps(t, "mutations", h.counters("bulwark_mutations_total"), map[string]float64{
		"default=seccomp":              1,
		"default=privilege-escalation": 1,
		"default=drop-capabilities":    1,
		"default=resources":            5,
	})
}

// TestMutatorEveryKindIdempotent: each kind is patched at its own pod spec path, the result
// passes the restricted profile, and mutating the result again changes nothing.
func TestMutatorEveryKindIdempotent(t *testing.T) {
	for _, k := range allKinds {
		t.Run(k.kind, func(t *testing.T) {
			h := newHarness(t, profile(t, "nsa"))
			obj := k.object("w", minimalSpec)
			req := request(admissionv1.Create, k, "w", obj, "")
			resp := h.m.Handle(context.Background(), req)
			if len(resp.Patches) != 3 {
				t.Errorf("got %d patch operations, want 3 (pod securityContext, container securityContext, resources): %v", len(resp.Patches), resp.Patches)
			}
			for _, p := range resp.Patches {
				if !strings.HasPrefix(p.Path, k.pointer+"/") {
					t.Errorf("patch path %s outside the pod spec %s", p.Path, k.pointer)
				}
			}
			out := applyPatch(t, req, resp, obj)
			spec := toJSON(t, at(t, out, pointerSegs(k.pointer)...))
			assertJSONEqual(t, spec, `{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
				"containers":[{"name":"app","image":"nginx:1.27",
				"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}},
				"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"512Mi"}}}]}`)
			if len(resp.Warnings) != 3 || !strings.HasPrefix(resp.Warnings[0], "bulwark set defaults in "+k.specPath+".securityContext: ") ||
				!strings.HasPrefix(resp.Warnings[1], "bulwark set defaults in "+k.specPath+".containers[0].securityContext: ") ||
				!strings.HasPrefix(resp.Warnings[2], "bulwark set defaults in "+k.specPath+".containers[0].resources: ") {
				t.Errorf("warnings %q, want one for the securityContext of %s, and one each for the securityContext and resources of its containers[0]", resp.Warnings, k.specPath)
			}

			// Idempotent.
			again := h.m.Handle(context.Background(), request(admissionv1.Create, k, "w", out, ""))
			if !again.Allowed || len(again.Patches) != 0 || len(again.Warnings) != 0 {
				t.Errorf("second mutation: allowed %v, patches %v, warnings %q; want none", again.Allowed, again.Patches, again.Warnings)
			}

			// docs/checks.md: a pod without securityContext passes restricted once mutated.
			restricted := newHarness(t, profile(t, "restricted"))
			if r := restricted.v.Handle(context.Background(), request(admissionv1.Create, k, "w", obj, "")); r.Allowed {
				t.Error("restricted admits the unmutated object")
			}
			if r := restricted.v.Handle(context.Background(), request(admissionv1.Create, k, "w", out, "")); !r.Allowed {
				t.Errorf("restricted denies the mutated object: %s", r.Result.Message)
			}
			// And the nsa validator has no warnings left for what was mutated.
			r := h.v.Handle(context.Background(), request(admissionv1.Create, k, "w", out, ""))
			for _, id := range checkIDs(r.Warnings) {
				switch id {
				case "run-as-non-root", "privilege-escalation", "drop-capabilities", "seccomp-required", "resource-limits", "resource-requests":
					t.Errorf("nsa still warns about mutated check %s: %q", id, r.Warnings)
				}
			}
			assertMaps(t, "decisions", h.decisions(), map[string]float64{
				decisionKey("mutate", k.resource, "create", "allowed"):   2,
				decisionKey("validate", k.resource, "create", "allowed"): 1,
			})
		})
	}
}

// TestMutatorSkips: no patch where mutation must not happen.
func TestMutatorSkips(t *testing.T) {
	pod := kPod.object("x", minimalSpec)
	cases := []struct {
		name      string
		policy    func(*testing.T) *harness
		req       func() (string, admissionv1.Operation, kind, string, string)
		resource  string
		operation string
		want      string
	}{
		{
			name:   "pod update",
			policy: func(t *testing.T) *harness { return newHarness(t, profile(t, "nsa")) },
			req: func() (string, admissionv1.Operation, kind, string, string) {
				changed := strings.Replace(pod, "nginx:1.27", "nginx:1.28", 1)
				return "x", admissionv1.Update, kPod, changed, pod
			},
			resource: "pods", operation: "update", want: "pods are mutated on creation only",
		},
		{
			name:   "baseline profile",
			policy: func(t *testing.T) *harness { return newHarness(t, profile(t, "baseline")) },
			req: func() (string, admissionv1.Operation, kind, string, string) {
				return "x", admissionv1.Create, kPod, pod, ""
			},
			resource: "pods", operation: "create", want: "mutation is off in the policy",
		},
		{
			name:   "restricted profile",
			policy: func(t *testing.T) *harness { return newHarness(t, profile(t, "restricted")) },
			req: func() (string, admissionv1.Operation, kind, string, string) {
				return "web", admissionv1.Create, kDeployment, kDeployment.object("web", minimalSpec), ""
			},
			resource: "deployments", operation: "create", want: "mutation is off in the policy",
		},
		{
			name: "mutation disabled in the policy document",
			policy: func(t *testing.T) *harness {
				return newHarness(t, parsePolicy(t, "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nmutation:\n  enabled: false\n"))
			},
			req: func() (string, admissionv1.Operation, kind, string, string) {
				return "x", admissionv1.Create, kPod, pod, ""
			},
			resource: "pods", operation: "create", want: "mutation is off in the policy",
		},
		{
			name:   "deployment without template",
			policy: func(t *testing.T) *harness { return newHarness(t, profile(t, "nsa")) },
			req: func() (string, admissionv1.Operation, kind, string, string) {
				return "web", admissionv1.Create, kDeployment, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1}}`, ""
			},
			resource: "deployments", operation: "create", want: "the object has no pod template",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.policy(t)
			name, op, k, obj, old := c.req()
			req := request(op, k, name, obj, old)
			resp := h.m.Handle(context.Background(), req)
			if !resp.Allowed || resp.Result.Message != c.want {
				t.Errorf("allowed %v, reason %q; want allowed, %q", resp.Allowed, resp.Result.Message, c.want)
			}
			if len(resp.Patches) != 0 || len(resp.Warnings) != 0 {
				t.Errorf("patches %v, warnings %q; want none", resp.Patches, resp.Warnings)
			}
			if out := applyPatch(t, req, resp, obj); out != obj {
				t.Errorf("object changed: %s", out)
			}
			assertMaps(t, "decisions", h.decisions(), map[string]float64{
				decisionKey("mutate", c.resource, c.operation, "skipped"): 1,
			})
			if m := h.counters("bulwark_mutations_total"); len(m) != 0 {
				t.Errorf("mutations counted: %v", m)
			}
		})
	}
}

// TestMutatorPolicyDefaults: a policy document switches single defaults and sets the
// resource values.
func TestMutatorPolicyDefaults(t *testing.T) {
	h := newHarness(t, parsePolicy(t, `
apiVersion: bulwark.dev/v1alpha1
kind: Policy
mutation:
  defaults:
    read-only-root-filesystem: true
    automount-service-account-token: true
    drop-capabilities: false
  resources:
    requests: {cpu: 50m, memory: 64Mi}
    limits: {cpu: "1", memory: 256Mi}
`))
	obj := kJob.object("batch", minimalSpec)
	req := request(admissionv1.Create, kJob, "batch", obj, "")
	resp := h.m.Handle(context.Background(), req)
	out := applyPatch(t, req, resp, obj)
	assertJSONEqual(t, toJSON(t, at(t, out, "spec", "template", "spec")), `{
		"automountServiceAccountToken":false,
		"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
		"containers":[{"name":"app","image":"nginx:1.27",
			"securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true},
			"resources":{"requests":{"cpu":"50m","memory":"64Mi"},"limits":{"cpu":"1","memory":"256Mi"}}}]}`)
	assertMaps(t, "mutations", h.counters("bulwark_mutations_total"), map[string]float64{
		"default=seccomp":                         1,
		"default=run-as-non-root":                 1,
		"default=automount-service-account-token": 1,
		"default=privilege-escalation":            1,
		"default=read-only-root-filesystem":       1,
		"default=resources":                       4,
	})
	if all := strings.Join(resp.Warnings, "\n"); len(resp.Warnings) != 4 ||
		!strings.Contains(all, "bulwark set defaults in spec.template.spec: automountServiceAccountToken=false") ||
		!strings.Contains(all, "bulwark set defaults in spec.template.spec.containers[0].securityContext: allowPrivilegeEscalation=false, readOnlyRootFilesystem=true") {
		t.Errorf("warnings %q do not list automountServiceAccountToken and readOnlyRootFilesystem", resp.Warnings)
	}
}
