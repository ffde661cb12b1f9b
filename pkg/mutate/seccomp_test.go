package mutate

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestSeccompLegacyAnnotations: RuntimeDefault is set when the legacy annotations that apply
// agree with it (absent, runtime/default, docker/default), and never against one that says
// otherwise, which the apiserver would reject.
func TestSeccompLegacyAnnotations(t *testing.T) {
	pod := schema.GroupKind{Kind: "Pod"}
	for _, tc := range []struct {
		annotations string
		ephemeral   bool
		want        bool
	}{
		{`{}`, false, true},
		{`{"seccomp.security.alpha.kubernetes.io/pod":"runtime/default"}`, false, true},
		{`{"seccomp.security.alpha.kubernetes.io/pod":"docker/default"}`, false, true},
		{`{"seccomp.security.alpha.kubernetes.io/pod":"unconfined"}`, false, false},
		{`{"seccomp.security.alpha.kubernetes.io/pod":"localhost/profile.json"}`, false, false},
		{`{"seccomp.security.alpha.kubernetes.io/pod":"RUNTIME/DEFAULT"}`, false, false},
		// A container annotation does not stop the pod-level default.
		{`{"container.seccomp.security.alpha.kubernetes.io/app":"unconfined"}`, false, true},
		// Ephemeral-only: the pod's and the new container's annotations both count.
		{`{"seccomp.security.alpha.kubernetes.io/pod":"runtime/default"}`, true, true},
		{`{"container.seccomp.security.alpha.kubernetes.io/dbg":"runtime/default"}`, true, true},
		{`{"container.seccomp.security.alpha.kubernetes.io/dbg":"unconfined"}`, true, false},
		{`{"seccomp.security.alpha.kubernetes.io/pod":"unconfined","container.seccomp.security.alpha.kubernetes.io/dbg":"runtime/default"}`, true, false},
	} {
		obj := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":%s},"spec":{`+
			`"containers":[{"name":"app","image":"a:1"}],"ephemeralContainers":[{"name":"dbg","image":"b:1"}]}}`, tc.annotations)
		opts := Options{Seccomp: true}
		res, err := Patch(pod, []byte(obj), &opts, Target{EphemeralOnly: tc.ephemeral})
		if err != nil {
			t.Fatalf("%s: %v", tc.annotations, err)
		}
		want := "spec.securityContext.seccompProfile.type"
		if tc.ephemeral {
			want = "spec.ephemeralContainers[0].securityContext.seccompProfile.type"
		}
		got := false
		for _, c := range res.Changes {
			if c.Field == want && c.Value == "RuntimeDefault" {
				got = true
			}
		}
		if got != tc.want || len(res.Changes) > 1 {
			t.Errorf("%s (ephemeral %v): changes %v, want RuntimeDefault at %s: %v", tc.annotations, tc.ephemeral, res.Changes, want, tc.want)
		}
	}
}
