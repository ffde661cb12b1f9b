package checks

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

func init() {
	Register(Check{
		ID:       "namespace-quota",
		Category: NamespaceGuardrails,
		Target:   Namespaces,
		Profiles: ProfileActions{NSA: Audit},
		Summary:  "Namespaces should have a ResourceQuota capping their total CPU and memory: a per-pod limit does not stop a miner that starts forty pods.",
		Evaluate: func(c *Context) {
			reportChanged(c, "ResourceQuota")
			ns := c.Namespace
			capped := map[string]bool{}
			for _, q := range ns.ResourceQuotas {
				if len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil {
					continue // it caps only some of the pods
				}
				for name := range q.Spec.Hard {
					switch name {
					case corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU:
						capped["cpu"] = true
					case corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory:
						capped["memory"] = true
					}
				}
			}
			var missing []string
			for _, r := range []string{"cpu", "memory"} {
				if !capped[r] {
					missing = append(missing, r)
				}
			}
			if len(missing) == 0 {
				return
			}
			c.Report("ResourceQuota",
				fmt.Sprintf("no ResourceQuota (without scopes) caps the namespace's total %s, so its pods together may take every node's %s",
					strings.Join(missing, " or "), strings.Join(missing, " and ")),
				"add a ResourceQuota whose spec.hard caps requests.cpu, limits.cpu, requests.memory, limits.memory and pods")
		},
	})
}
