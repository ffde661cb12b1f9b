package checks

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

func init() {
	Register(Check{
		ID:       "namespace-limit-range",
		Category: NamespaceGuardrails,
		Target:   Namespaces,
		Profiles: ProfileActions{NSA: Audit},
		Summary:  "Namespaces should have a LimitRange giving containers default CPU and memory limits, so that no container runs unbounded and a ResourceQuota can admit pods that set none.",
		Evaluate: func(c *Context) {
			reportChanged(c, "LimitRange")
			ns := c.Namespace
			defaulted := map[corev1.ResourceName]bool{}
			for _, lr := range ns.LimitRanges {
				for _, l := range lr.Spec.Limits {
					if l.Type != corev1.LimitTypeContainer {
						continue
					}
					for name := range l.Default {
						defaulted[name] = true
					}
				}
			}
			var missing []string
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if !defaulted[r] {
					missing = append(missing, string(r))
				}
			}
			if len(missing) == 0 {
				return
			}
			c.Report("LimitRange",
				fmt.Sprintf("no LimitRange gives containers a default %s limit", strings.Join(missing, " or ")),
				"add a LimitRange with a limit of type Container whose default, defaultRequest and max set cpu and memory")
		},
	})
}
