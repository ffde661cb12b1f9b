package framework

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/pkg/server"
)

// TestKindRuleErrors: the install pkg/server and ClusterRules describe passes; a kind missing
// from a webhook or from the audit's list rules, another resource listed, or a webhook rule on
// other operations fails, naming what differs.
func TestKindRuleErrors(t *testing.T) {
	install := func() (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, *rbacv1.ClusterRole) {
		v, m := server.WebhookConfigurations(server.WebhookOptions{
			ClientConfig: func(string) admissionregistrationv1.WebhookClientConfig {
				return admissionregistrationv1.WebhookClientConfig{}
			},
		})
		n := RBACNames{Namespace: "bulwark-system", Name: "bulwark", WebhookConfig: "bulwark", TLSSecret: "bulwark-tls"}
		return v, m, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bulwark"}, Rules: ClusterRules(n)}
	}
	v, m, cr := install()
	if errs := KindRuleErrors("pkg/server", v, m, cr); errs != nil {
		t.Fatalf("the install pkg/server builds: %s", strings.Join(errs, "\n"))
	}
	for _, c := range []struct {
		name   string
		change func(*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, *rbacv1.ClusterRole)
		want   string
	}{
		{"a kind missing from the mutating webhook", func(_ *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration, _ *rbacv1.ClusterRole) {
			m.Webhooks[0].Rules[1].Resources = []string{"deployments", "replicasets", "statefulsets"}
		}, "MutatingWebhookConfiguration bulwark webhook mutate.bulwark.dev intercepts"},
		{"the ephemeral containers not intercepted", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration, _ *rbacv1.ClusterRole) {
			v.Webhooks[0].Rules[0].Resources = []string{"pods", "podtemplates", "replicationcontrollers"}
		}, "ValidatingWebhookConfiguration bulwark webhook validate.bulwark.dev intercepts"},
		{"another version", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration, _ *rbacv1.ClusterRole) {
			v.Webhooks[0].Rules[2].APIVersions = []string{"v1", "v1beta1"}
		}, "validate.bulwark.dev intercepts"},
		{"delete intercepted", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration, _ *rbacv1.ClusterRole) {
			v.Webhooks[0].Rules[0].Operations = append(v.Webhooks[0].Rules[0].Operations, admissionregistrationv1.Delete)
		}, "is not on CREATE and UPDATE of namespaced objects"},
		{"a kind the audit may not list", func(_ *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration, cr *rbacv1.ClusterRole) {
			for i, r := range cr.Rules {
				if r.APIGroups[0] == "batch" {
					cr.Rules[i].Resources = []string{"jobs"}
				}
			}
		}, "ClusterRole bulwark grants list on"},
		{"another resource listed", func(_ *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration, cr *rbacv1.ClusterRole) {
			cr.Rules = append(cr.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list"}})
		}, "ClusterRole bulwark grants list on"},
	} {
		v, m, cr := install()
		c.change(v, m, cr)
		errs := KindRuleErrors("changed", v, m, cr)
		if len(errs) != 1 || !strings.Contains(errs[0], c.want) {
			t.Errorf("%s: %q, want one error with %q", c.name, errs, c.want)
		}
	}
}
