package checks

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "resource-limits",
		Category: Resources,
		Profiles: ProfileActions{NSA: Warn},
		Mutation: "resources",
		Summary:  "Containers must set cpu and memory limits, so one workload cannot starve the node (for example with a crypto miner).",
		Evaluate: func(c *Context) {
			var pod corev1.ResourceList
			if r := c.Pod.Spec.Resources; r != nil {
				pod = r.Limits
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if ct.Kind == podspec.EphemeralContainer {
					return true // ephemeral containers cannot have resources
				}
				for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if q, ok := ct.Resources.Limits[name]; ok {
						if q.Sign() > 0 {
							continue
						}
						// The kubelet sets no cgroup limit for a limit of 0: it is no limit.
						c.Report(ct.Field("resources.limits."+string(name)),
							ct.Describe()+" has a "+string(name)+" limit of "+q.String()+", which the kubelet treats as no limit, so it can use all the node's "+resourceNoun(name),
							"set resources.limits."+string(name)+" above 0")
						continue
					}
					if q, ok := pod[name]; ok && q.Sign() > 0 {
						continue // bounded by the pod-level limit
					}
					c.Report(ct.Field("resources.limits."+string(name)),
						ct.Describe()+" has no "+string(name)+" limit and can use all the node's "+resourceNoun(name)+" at the expense of other workloads",
						"set resources.limits."+string(name))
				}
				return true
			})
		},
	})
}

func resourceNoun(name corev1.ResourceName) string {
	if name == corev1.ResourceCPU {
		return "CPU"
	}
	return string(name)
}
