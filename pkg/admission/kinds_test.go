package admission

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// TestAllKindsAreTheEngines: the kinds these tests send are every kind the engine evaluates,
// with the version and resource the webhook rules name and the pod spec where podspec reads it.
func TestAllKindsAreTheEngines(t *testing.T) {
	sent := map[schema.GroupKind]kind{}
	for _, k := range allKinds {
		sent[schema.GroupKind{Group: k.group, Kind: k.kind}] = k
	}
	for _, e := range podspec.All() {
		k, ok := sent[e.GroupKind]
		switch {
		case !ok:
			t.Errorf("%s: not in allKinds", e.GroupKind)
		case k.version != e.Version || k.resource != e.Resource || k.specPath != e.Shape.SpecPath():
			t.Errorf("%s: sent as %s %s with its spec at %s; podspec has %s %s, %s", e.GroupKind,
				k.version, k.resource, k.specPath, e.Version, e.Resource, e.Shape.SpecPath())
		}
	}
	if len(sent) != len(podspec.All()) {
		t.Errorf("allKinds has %d kinds, podspec %d", len(sent), len(podspec.All()))
	}
}
