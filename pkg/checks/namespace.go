package checks

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Namespace is what a namespace check sees: a namespace and the objects in it that cap what
// its pods may use and reach. The audit and `bulwark scan --cluster` read them.
type Namespace struct {
	Name            string
	Labels          map[string]string
	ResourceQuotas  []corev1.ResourceQuota
	LimitRanges     []corev1.LimitRange
	NetworkPolicies []networkingv1.NetworkPolicy
}

// EvaluateNamespace runs every active namespace check over ns, as Evaluate does over a pod.
func (s *Settings) EvaluateNamespace(ns *Namespace) []Violation {
	if ns == nil {
		return nil
	}
	return s.run(s.namespaces, Context{Namespace: ns})
}
