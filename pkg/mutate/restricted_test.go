package mutate

import (
	"os"
	"path/filepath"
	"testing"

	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// TestNSAMutatedPassesRestricted checks the promise of docs/checks.md: a pod that sets no
// securityContext at all passes the restricted Pod Security Standard (as
// k8s.io/pod-security-admission evaluates it) once mutated with the nsa defaults, and fails it
// before.
func TestNSAMutatedPassesRestricted(t *testing.T) {
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	must(t, err)
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, kind := range []string{"pod", "deployment", "cronjob"} {
		t.Run(kind, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(fixtureDir, "defaults", kind+".input.yaml"))
			must(t, err)
			js, err := sigsyaml.YAMLToJSON(data)
			must(t, err)
			gk := groupKind(t, js)
			failures := func(obj []byte) []string {
				pod, ok, err := podspec.Decode(gk, obj)
				if err != nil || !ok {
					t.Fatalf("decode: ok=%v %v", ok, err)
				}
				var out []string
				for _, r := range evaluator.EvaluatePod(restricted, &pod.Meta, &pod.Spec) {
					if !r.Allowed {
						out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
					}
				}
				return out
			}
			if len(failures(js)) == 0 {
				t.Fatal("the bare input already passes restricted; the test proves nothing")
			}
			_, mutated := mutateJSON(t, gk, js, nil, Target{})
			if f := failures(mutated); len(f) > 0 {
				t.Fatalf("mutated object fails restricted: %q", f)
			}
		})
	}
}
