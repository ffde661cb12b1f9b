package server

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// TestRules: the rules built from podspec's kinds, written out as the chart and config/
// render them, in their order.
func TestRules(t *testing.T) {
	scope := admissionregistrationv1.NamespacedScope
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	rule := func(group string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources, Scope: &scope,
		}}
	}
	want := []admissionregistrationv1.RuleWithOperations{
		rule("", "pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"),
		rule("apps", "deployments", "replicasets", "statefulsets", "daemonsets"),
		rule("batch", "jobs", "cronjobs"),
	}
	if got := Rules(); !equality.Semantic.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("Rules() =\n%s\nwant\n%s", g, w)
	}
}

// TestRBACRules: the RBAC rules as the chart and config/ render them.
func TestRBACRules(t *testing.T) {
	scope := admissionregistrationv1.AllScopes
	want := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"rbac.authorization.k8s.io"}, APIVersions: []string{"v1"},
			Resources: []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, Scope: &scope,
		},
	}}
	if got := RBACRules(); !equality.Semantic.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("RBACRules() =\n%s\nwant\n%s", g, w)
	}
}
