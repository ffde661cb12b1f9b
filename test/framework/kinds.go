package framework

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
	"github.com/bulwark-k8s/bulwark/pkg/server"
)

// GuardrailListRules are the audit's permissions for the namespace checks: list on the
// resources of audit.GuardrailResources, one rule per API group.
func GuardrailListRules() []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range audit.GuardrailResources {
		if n := len(out); n > 0 && out[n-1].APIGroups[0] == r.Group {
			out[n-1].Resources = append(out[n-1].Resources, r.Resource)
			continue
		}
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{r.Resource}, Verbs: []string{"list"}})
	}
	return out
}

// GuardrailWriteRules are the rules serve --guardrails needs (the chart's
// policy.guardrails.create) in place of GuardrailListRules: the guardrail keeper watches
// Bulwark's own limit ranges, quotas and network policies, reads one directly where its cache
// may lag, and creates and updates them. It never deletes one.
func GuardrailWriteRules() []rbacv1.PolicyRule {
	out := GuardrailListRules()
	for i := range out {
		out[i].Verbs = []string{"get", "list", "watch", "create", "update"}
	}
	return out
}

// RBACListRules are the audit's permissions for the access-control checks: list on the RBAC
// kinds of rbacspec.All.
func RBACListRules() []rbacv1.PolicyRule {
	var resources []string
	for _, k := range rbacspec.All() {
		resources = append(resources, k.Resource)
	}
	return []rbacv1.PolicyRule{{APIGroups: []string{rbacspec.Group}, Resources: resources, Verbs: []string{"list"}}}
}

// AuditListRules are the audit's permissions on the kinds it reads: list on the resource of
// every kind podspec evaluates, one rule per API group, in the order of podspec.All.
func AuditListRules() []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, k := range podspec.All() {
		if n := len(out); n > 0 && out[n-1].APIGroups[0] == k.Group {
			out[n-1].Resources = append(out[n-1].Resources, k.Resource)
			continue
		}
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{k.Group}, Resources: []string{k.Resource}, Verbs: []string{"list"}})
	}
	return out
}

// KindRuleErrors compares what an install grants and intercepts with podspec's table of kinds,
// and describes every difference (none: nil):
//   - the webhooks' rules name exactly the resources of podspec.All at their versions, with
//     their subresources, on CREATE and UPDATE, namespaced; but for the validating webhook
//     rbac.bulwark.dev, which must be there and name exactly the RBAC kinds (server.RBACRules);
//   - the ClusterRole grants list on exactly those resources, besides namespaces (the
//     namespace cache), policyreports (the audit's reports), what the namespace checks read
//     (audit.GuardrailResources) and the RBAC kinds (rbacspec.All).
//
// what names the install in the descriptions ("chart default").
func KindRuleErrors(what string, validating *admissionregistrationv1.ValidatingWebhookConfiguration,
	mutating *admissionregistrationv1.MutatingWebhookConfiguration, clusterRole *rbacv1.ClusterRole) []string {
	webhooks := map[string][]admissionregistrationv1.RuleWithOperations{}
	var errs []string
	rbacWebhook := false
	for _, w := range validating.Webhooks {
		if w.Name == server.RBACName {
			rbacWebhook = true
			if got, want := w.Rules, server.RBACRules(); !equality.Semantic.DeepEqual(got, want) {
				errs = append(errs, fmt.Sprintf("%s: ValidatingWebhookConfiguration %s webhook %s has the rules\n  %+v\nwant rbacspec's kinds\n  %+v",
					what, validating.Name, w.Name, got, want))
			}
			continue
		}
		webhooks["ValidatingWebhookConfiguration "+validating.Name+" webhook "+w.Name] = w.Rules
	}
	if !rbacWebhook {
		errs = append(errs, what+": ValidatingWebhookConfiguration "+validating.Name+" has no webhook "+server.RBACName)
	}
	for _, w := range mutating.Webhooks {
		webhooks["MutatingWebhookConfiguration "+mutating.Name+" webhook "+w.Name] = w.Rules
	}
	var want, listed []string
	for _, k := range podspec.All() {
		want = append(want, k.Group+"/"+k.Version+"/"+k.Resource)
		for _, sub := range k.Subresources {
			want = append(want, k.Group+"/"+k.Version+"/"+k.Resource+"/"+sub)
		}
		listed = append(listed, k.Group+"/"+k.Resource)
	}
	slices.Sort(want)
	if len(validating.Webhooks) == 0 || len(mutating.Webhooks) == 0 {
		errs = append(errs, what+": no validating or no mutating webhook")
	}
	for _, name := range slices.Sorted(maps.Keys(webhooks)) {
		var got []string
		for _, r := range webhooks[name] {
			if !slices.Equal(r.Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}) ||
				r.Scope == nil || *r.Scope != admissionregistrationv1.NamespacedScope {
				errs = append(errs, what+": "+name+": the rule on "+strings.Join(r.Resources, ", ")+" is not on CREATE and UPDATE of namespaced objects")
			}
			for _, g := range r.APIGroups {
				for _, v := range r.APIVersions {
					for _, res := range r.Resources {
						got = append(got, g+"/"+v+"/"+res)
					}
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			errs = append(errs, what+": "+name+" intercepts (group/version/resource)\n  "+
				strings.Join(got, "\n  ")+"\nwant podspec's kinds\n  "+strings.Join(want, "\n  "))
		}
	}
	listed = append(listed, "/namespaces", "wgpolicyk8s.io/policyreports")
	for _, r := range audit.GuardrailResources {
		listed = append(listed, r.Group+"/"+r.Resource)
	}
	for _, k := range rbacspec.All() {
		listed = append(listed, k.Group+"/"+k.Resource)
	}
	slices.Sort(listed)
	var got []string
	for _, r := range clusterRole.Rules {
		if !slices.Contains(r.Verbs, "list") && !slices.Contains(r.Verbs, "*") {
			continue
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got = append(got, g+"/"+res)
			}
		}
	}
	slices.Sort(got)
	if got = slices.Compact(got); !slices.Equal(got, listed) {
		errs = append(errs, what+": ClusterRole "+clusterRole.Name+" grants list on (group/resource)\n  "+strings.Join(got, "\n  ")+
			"\nwant podspec's kinds, namespaces and policyreports\n  "+strings.Join(listed, "\n  "))
	}
	return errs
}
