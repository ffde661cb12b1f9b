package checks_test

import (
	"slices"
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

const sysAdminPod = `apiVersion: v1
kind: Pod
metadata:
  name: admin
spec:
  containers:
  - name: app
    image: registry.example.com/app:1.0
    securityContext:
      capabilities:
        drop: [ALL]
        add: [SYS_ADMIN]
`

// TestDropCapabilitiesSupersedesCapabilities checks that drop-capabilities replaces the
// baseline capabilities check only when its action is at least as strict.
func TestDropCapabilitiesSupersedesCapabilities(t *testing.T) {
	pod := decodeManifest(t, "sysAdminPod", []byte(sysAdminPod))
	const field = "spec.containers[0].securityContext.capabilities.add[0]"
	for _, tc := range []struct {
		name    string
		actions map[string]checks.Action
		want    []string // "check action" per violation, in order
	}{
		{
			name:    "both enforce: reported once",
			actions: map[string]checks.Action{"drop-capabilities": checks.Enforce, "capabilities": checks.Enforce},
			want:    []string{"drop-capabilities enforce"},
		},
		{
			name:    "stricter superseding check: reported once",
			actions: map[string]checks.Action{"drop-capabilities": checks.Enforce, "capabilities": checks.Warn},
			want:    []string{"drop-capabilities enforce"},
		},
		{
			name:    "weaker superseding check: both report",
			actions: map[string]checks.Action{"drop-capabilities": checks.Warn, "capabilities": checks.Enforce},
			want:    []string{"capabilities enforce", "drop-capabilities warn"},
		},
		{
			name:    "superseding check off: capabilities reports",
			actions: map[string]checks.Action{"drop-capabilities": checks.Off, "capabilities": checks.Enforce},
			want:    []string{"capabilities enforce"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := checks.Compile(tc.actions, checks.Params{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range s.Evaluate(pod) {
				if v.Field != field {
					t.Errorf("unexpected violation: %s", v)
					continue
				}
				got = append(got, v.Check+" "+string(v.Action))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
