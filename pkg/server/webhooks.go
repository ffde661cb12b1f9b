package server

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of the webhooks and of their configurations.
const (
	ValidatingName = "validate.bulwark.dev"
	MutatingName   = "mutate.bulwark.dev"
	ConfigName     = "bulwark"
)

// Rules are the resources Bulwark intercepts: pods, their ephemeral containers, and every
// built-in workload that carries a pod template, on CREATE and UPDATE.
func Rules() []admissionregistrationv1.RuleWithOperations {
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	scope := admissionregistrationv1.NamespacedScope
	rule := func(group string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources, Scope: &scope,
			},
		}
	}
	return []admissionregistrationv1.RuleWithOperations{
		rule("", "pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"),
		rule("apps", "deployments", "replicasets", "statefulsets", "daemonsets"),
		rule("batch", "jobs", "cronjobs"),
	}
}

// WebhookOptions say how the apiserver reaches Bulwark and which namespaces it skips.
type WebhookOptions struct {
	// ClientConfig returns the client configuration for a webhook path (URL or service).
	ClientConfig func(path string) admissionregistrationv1.WebhookClientConfig
	// ExemptNamespaces are never sent to Bulwark (kube-system, Bulwark's own namespace).
	ExemptNamespaces []string
	// FailurePolicy is Fail unless set.
	FailurePolicy admissionregistrationv1.FailurePolicyType
}

// WebhookConfigurations returns the validating and mutating configurations for Bulwark.
func WebhookConfigurations(o WebhookOptions) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration) {
	failure := o.FailurePolicy
	if failure == "" {
		failure = admissionregistrationv1.Fail
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
