package checks

import (
	"fmt"
	"strings"

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
	// Changed are the guardrails Bulwark created in the namespace that someone has changed
	// since.
	Changed []Changed
}

// Changed is a guardrail Bulwark created and someone changed: its kind and name, and what
// differs from what Bulwark wrote ("spec.hard.pods: 50 -> 100").
type Changed struct {
	Kind, Name string
	Changes    []string
}

// reportChanged reports the changed guardrails of kind, for the check that serves them.
func reportChanged(c *Context, kind string) {
	for _, ch := range c.Namespace.Changed {
		if ch.Kind != kind {
			continue
		}
		c.Report(kind+" "+ch.Name,
			fmt.Sprintf("Bulwark's %s %s was changed since Bulwark wrote it: %s", kind, ch.Name, strings.Join(ch.Changes, "; ")),
			"undo the change, or delete the "+kind+" for Bulwark to create it afresh; to keep another "+kind+" in this namespace, exempt the namespace from this check with a reason and an expiry")
	}
}

// EvaluateNamespace runs every active namespace check over ns, as Evaluate does over a pod.
func (s *Settings) EvaluateNamespace(ns *Namespace) []Violation {
	if ns == nil {
		return nil
	}
	return s.run(s.namespaces, Context{Namespace: ns})
}
