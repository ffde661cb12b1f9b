package admission

import (
	"context"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// TestObjectTypeMeta: the object's own apiVersion and kind, read in the decoding pass, are
// checked against the request's kind as a separate read of them would: a mismatch is a 400
// even when the object would not decode as the request's kind either; values that are not
// strings, or absent, are not checked and the object is evaluated by the request's kind.
func TestObjectTypeMeta(t *testing.T) {
	const privileged = `{"containers":[{"name":"app","image":"nginx:1.27","securityContext":{"privileged":true}}]}`
	withTypeMeta := func(apiVersion, kind string) string {
		return `{"apiVersion":` + apiVersion + `,"kind":` + kind + `,"metadata":{"name":"x","namespace":"team-a"},"spec":` + privileged + `}`
	}
	cases := []struct {
		name string
		obj  string
		code int32  // 400 bad input, 403 denied (evaluated)
		want string // fragment of the message
	}{
		{"as written", withTypeMeta(`"v1"`, `"Pod"`), 403, "[privileged]"},
		{"absent", `{"metadata":{"name":"x"},"spec":` + privileged + `}`, 403, "[privileged]"},
		{"null", withTypeMeta(`null`, `null`), 403, "[privileged]"},
		{"apiVersion not a string", withTypeMeta(`1`, `"Deployment"`), 403, "[privileged]"},
		{"kind not a string", withTypeMeta(`"apps/v1"`, `{"k":"Deployment"}`), 403, "[privileged]"},
		{"another kind", withTypeMeta(`"apps/v1"`, `"Deployment"`), 400, "the object is a Deployment.apps, but the AdmissionReview request says Pod"},
		{"another group", withTypeMeta(`"batch/v1"`, `"Pod"`), 400, "the object is a Pod.batch, but the AdmissionReview request says Pod"},
		{"bad apiVersion", withTypeMeta(`"a/b/c"`, `"Pod"`), 400, `the object's apiVersion "a/b/c"`},
		{"another kind that does not decode as a Pod", `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"hostNetwork":"yes"}}`, 400,
			"the object is a Deployment.apps, but the AdmissionReview request says Pod"},
		{"a Pod that does not decode", `{"apiVersion":"v1","kind":"Pod","spec":{"hostNetwork":"yes"}}`, 400,
			"decoding Pod: spec.hostNetwork: got a string, want true or false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, profile(t, "nsa"))
			resp := h.v.Handle(context.Background(), request(admissionv1.Create, kPod, "x", c.obj, ""))
			if resp.Allowed || resp.Result == nil || resp.Result.Code != c.code || !strings.Contains(resp.Result.Message, c.want) {
				t.Errorf("validate: allowed %v, %+v; want %d with %q", resp.Allowed, resp.Result, c.code, c.want)
			}
			m := h.m.Handle(context.Background(), request(admissionv1.Create, kPod, "x", c.obj, ""))
			if c.code == http.StatusBadRequest {
				if m.Allowed || m.Result.Code != c.code || !strings.Contains(m.Result.Message, c.want) {
					t.Errorf("mutate: allowed %v, %+v; want %d with %q", m.Allowed, m.Result, c.code, c.want)
				}
			} else if !m.Allowed || len(m.Patches) == 0 {
				t.Errorf("mutate: allowed %v, %d patches; want a patch", m.Allowed, len(m.Patches))
			}
		})
	}
}
