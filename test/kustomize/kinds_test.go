package kustomize

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// TestRulesNameEngineKinds: config/default and config/certmanager have the webhooks intercept
// exactly the kinds pkg/podspec evaluates (with the pods' ephemeralcontainers), and let the
// audit list exactly those. config/ writes the kinds out; this ties them to the one table in
// pkg/podspec.
func TestRulesNameEngineKinds(t *testing.T) {
	for _, dir := range []string{"default", "certmanager"} {
		t.Run(dir, func(t *testing.T) {
			objs := parse(t, render(t, dir))
			var v admissionregistrationv1.ValidatingWebhookConfiguration
			var m admissionregistrationv1.MutatingWebhookConfiguration
			var cr rbacv1.ClusterRole
			typed(t, objs.get(t, "ValidatingWebhookConfiguration", fullname), &v)
			typed(t, objs.get(t, "MutatingWebhookConfiguration", fullname), &m)
			typed(t, objs.get(t, "ClusterRole", fullname), &cr)
			for _, e := range framework.KindRuleErrors("config/"+dir, &v, &m, &cr) {
				t.Error(e)
			}
		})
	}
}
