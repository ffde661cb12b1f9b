package integration

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// TestKindsAsServed: every kind pkg/podspec evaluates is served at its version as its
// resource (and subresources), namespaced, with the verbs the webhooks intercept and the audit
// uses, as the real apiserver's discovery says.
func TestKindsAsServed(t *testing.T) {
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]*metav1.APIResourceList{}
	for _, k := range podspec.All() {
		gv := k.GroupVersion().String()
		if served[gv] == nil {
			if served[gv], err = cs.Discovery().ServerResourcesForGroupVersion(gv); err != nil {
				t.Fatalf("discovery of %s: %v", gv, err)
			}
		}
		find := func(name string) *metav1.APIResource {
			for i, r := range served[gv].APIResources {
				if r.Name == name {
					return &served[gv].APIResources[i]
				}
			}
			t.Errorf("%s: %s serves no %s", k.GroupKind, gv, name)
			return nil
		}
		if r := find(k.Resource); r != nil {
			if r.Kind != k.Kind || !r.Namespaced {
				t.Errorf("%s: %s %s is kind %s (namespaced %v)", k.GroupKind, gv, k.Resource, r.Kind, r.Namespaced)
			}
			for _, verb := range []string{"create", "update", "list"} {
				if !slices.Contains(r.Verbs, verb) {
					t.Errorf("%s: %s %s has no verb %s (%v)", k.GroupKind, gv, k.Resource, verb, r.Verbs)
				}
			}
		}
		for _, sub := range k.Subresources {
			if r := find(k.Resource + "/" + sub); r != nil && (r.Kind != k.Kind || !slices.Contains(r.Verbs, "update")) {
				t.Errorf("%s: %s %s/%s is kind %s with verbs %v", k.GroupKind, gv, k.Resource, sub, r.Kind, r.Verbs)
			}
		}
	}
}
