package helm

import (
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// TestRulesNameEngineKinds: in every rendering, the webhooks intercept exactly the kinds
// pkg/podspec evaluates (with the pods' ephemeralcontainers), and the audit may list exactly
// those. The chart writes the kinds out; this ties them to the one table in pkg/podspec.
func TestRulesNameEngineKinds(t *testing.T) {
	h := newHelm(t, "")
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			fullname := r.objectsName()
			objs := parseManifest(t, render(t, h, r.release, r.namespace, r.flags...))
			var v admissionregistrationv1.ValidatingWebhookConfiguration
			var m admissionregistrationv1.MutatingWebhookConfiguration
			var cr rbacv1.ClusterRole
			decode(t, find(t, objs, "ValidatingWebhookConfiguration", fullname), &v)
			decode(t, find(t, objs, "MutatingWebhookConfiguration", fullname), &m)
			decode(t, find(t, objs, "ClusterRole", fullname), &cr)
			if r.pullSecrets {
				// The image lookups' pull secrets and ServiceAccounts, which TestRBACExactRules
				// pins; not kinds.
				cr.Rules = slices.DeleteFunc(cr.Rules, func(rule rbacv1.PolicyRule) bool {
					return slices.Equal(rule.Resources, []string{"secrets"}) || slices.Equal(rule.Resources, []string{"serviceaccounts"})
				})
			}
			for _, e := range framework.KindRuleErrors("chart "+r.name, &v, &m, &cr) {
				t.Error(e)
			}
		})
	}
}
