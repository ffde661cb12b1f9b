package checks

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

func init() {
	Register(Check{
		ID:       "namespace-network-policy",
		Category: NamespaceGuardrails,
		Target:   Namespaces,
		Profiles: ProfileActions{NSA: Audit},
		Summary:  "Namespaces should isolate every pod with NetworkPolicies selecting all pods for ingress and egress (default deny), so that a compromised pod cannot reach the rest of the cluster.",
		Evaluate: func(c *Context) {
			reportChanged(c, "NetworkPolicy")
			ns := c.Namespace
			isolated := map[networkingv1.PolicyType]bool{}
			for _, p := range ns.NetworkPolicies {
				if len(p.Spec.PodSelector.MatchLabels) > 0 || len(p.Spec.PodSelector.MatchExpressions) > 0 {
					continue // selects only some pods
				}
				for _, t := range policyTypes(&p.Spec) {
					isolated[t] = true
				}
			}
			var open []string
			for _, t := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
				if !isolated[t] {
					open = append(open, strings.ToLower(string(t)))
				}
			}
			if len(open) == 0 {
				return
			}
			c.Report("NetworkPolicy",
				fmt.Sprintf("no NetworkPolicy selects every pod for %s, so its pods accept and open connections to and from anywhere in the cluster",
					strings.Join(open, " and ")),
				"add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] (default deny), then allow what the pods need")
		},
	})
}

// policyTypes are the directions a NetworkPolicy isolates its pods in: its policyTypes, or,
// when it lists none, Ingress, and Egress too if it has egress rules (as the API defaults them).
func policyTypes(s *networkingv1.NetworkPolicySpec) []networkingv1.PolicyType {
	if len(s.PolicyTypes) > 0 {
		return s.PolicyTypes
	}
	out := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if len(s.Egress) > 0 {
		out = append(out, networkingv1.PolicyTypeEgress)
	}
	return out
}
