package server

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// Names of the webhooks and of their configurations.
const (
	ValidatingName = "validate.bulwark.dev"
	MutatingName   = "mutate.bulwark.dev"
	// RBACName is the validating webhook for Roles, ClusterRoles and their bindings: an entry of
	// its own, so that its rules, scope and match conditions stay apart from the pods'.
	RBACName   = "rbac.bulwark.dev"
	ConfigName = "bulwark"
)

// RBACMatchConditions keep out of the RBAC webhook what the apiserver writes itself: on start
// it creates and reconciles the bootstrap roles and bindings (cluster-admin, system:*, some
// bound to system:unauthenticated) as system:apiserver. Judged by the apiserver, before any
// call, so its start never waits on Bulwark.
func RBACMatchConditions() []admissionregistrationv1.MatchCondition {
	return []admissionregistrationv1.MatchCondition{{
		Name:       "not-the-apiservers-own",
		Expression: "request.userInfo.username != 'system:apiserver'",
	}}
}

// RBACRules are the RBAC kinds Bulwark judges (rbacspec.All), on CREATE and UPDATE, namespaced
// and cluster-wide.
func RBACRules() []admissionregistrationv1.RuleWithOperations {
	var resources []string
	for _, k := range rbacspec.All() {
		resources = append(resources, k.Resource)
	}
	scope := admissionregistrationv1.AllScopes
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{rbacspec.Group}, APIVersions: []string{"v1"}, Resources: resources, Scope: &scope,
		},
	}}
}

// Rules are the resources Bulwark intercepts, on CREATE and UPDATE: every kind that carries a
// pod template (podspec.All), with the subresources evaluated with it (a Pod's ephemeral
// containers), one rule per API group and version.
func Rules() []admissionregistrationv1.RuleWithOperations {
	var out []admissionregistrationv1.RuleWithOperations
	for _, k := range podspec.All() {
		resources := []string{k.Resource}
		for _, sub := range k.Subresources {
			resources = append(resources, k.Resource+"/"+sub)
		}
		if n := len(out); n > 0 && out[n-1].APIGroups[0] == k.Group && out[n-1].APIVersions[0] == k.Version {
			out[n-1].Resources = append(out[n-1].Resources, resources...)
			continue
		}
		scope := admissionregistrationv1.NamespacedScope
		out = append(out, admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{k.Group}, APIVersions: []string{k.Version}, Resources: resources, Scope: &scope,
			},
		})
	}
	return out
}

// WebhookOptions say how the apiserver reaches Bulwark and which namespaces it skips.
type WebhookOptions struct {
	// ClientConfig returns the client configuration for a webhook path (URL or service).
	ClientConfig func(path string) admissionregistrationv1.WebhookClientConfig
	// ExemptNamespaces are never sent to Bulwark (kube-system, Bulwark's own namespace).
	ExemptNamespaces []string
	// FailurePolicy is Fail unless set.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// RBACFailurePolicy is the RBAC webhook's, Ignore unless set: RBAC is how a cluster is
	// repaired, Bulwark's own install included, so a Bulwark that is down does not block it.
	RBACFailurePolicy admissionregistrationv1.FailurePolicyType
}

// WebhookConfigurations returns the validating and mutating configurations for Bulwark.
func WebhookConfigurations(o WebhookOptions) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration) {
	failure := o.FailurePolicy
	if failure == "" {
		failure = admissionregistrationv1.Fail
	}
	rbacFailure := o.RBACFailurePolicy
	if rbacFailure == "" {
		rbacFailure = admissionregistrationv1.Ignore
	}
	sideEffects := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	timeout := int32(5)
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	var selector *metav1.LabelSelector
	if len(o.ExemptNamespaces) > 0 {
		selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: o.ExemptNamespaces,
		}}}
	}
	versions := []string{"v1"}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: ValidatingName, ClientConfig: o.ClientConfig(ValidatePath), Rules: Rules(),
			FailurePolicy: &failure, MatchPolicy: &equivalent, NamespaceSelector: selector,
			SideEffects: &sideEffects, TimeoutSeconds: &timeout, AdmissionReviewVersions: versions,
		}, {
			Name: RBACName, ClientConfig: o.ClientConfig(ValidatePath), Rules: RBACRules(),
			FailurePolicy: &rbacFailure, MatchPolicy: &equivalent, NamespaceSelector: selector,
			MatchConditions: RBACMatchConditions(),
			SideEffects:     &sideEffects, TimeoutSeconds: &timeout, AdmissionReviewVersions: versions,
		}},
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: MutatingName, ClientConfig: o.ClientConfig(MutatePath), Rules: Rules(),
			FailurePolicy: &failure, MatchPolicy: &equivalent, NamespaceSelector: selector,
			SideEffects: &sideEffects, TimeoutSeconds: &timeout, AdmissionReviewVersions: versions,
			ReinvocationPolicy: &reinvoke,
		}},
	}
	return validating, mutating
}
