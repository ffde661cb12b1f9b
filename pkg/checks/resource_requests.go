package checks

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "resource-requests",
		Category: Resources,
		Profiles: ProfileActions{NSA: Warn},
		Mutation: "resources",
		Summary:  "Containers must set cpu and memory requests, so the scheduler reserves what they need and they are not the first to be starved or evicted.",
		Evaluate: func(c *Context) {
			// Kubernetes defaults a missing request to the limit, on pods (not templates, so
			// both are read here) and for pod-level resources.
			var podRequests, podLimits corev1.ResourceList
			if r := c.Pod.Spec.Resources; r != nil {
				podRequests, podLimits = r.Requests, r.Limits
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if ct.Kind == podspec.EphemeralContainer {
					return true // ephemeral containers cannot have resources
				}
				for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if q, ok := ct.Resources.Requests[name]; ok {
						if q.Sign() > 0 {
							continue
						}
						c.Report(ct.Field("resources.requests."+string(name)),
							ct.Describe()+" has a "+string(name)+" request of "+q.String()+", so the scheduler reserves no "+resourceNoun(name)+" for it and it is among the first to be starved or evicted",
							"set resources.requests."+string(name)+" above 0")
						continue
					}
					if q, ok := ct.Resources.Limits[name]; ok && q.Sign() > 0 {
						continue // the request defaults to the limit
					}
					podRequest, podLimit := podRequests[name], podLimits[name]
					if podRequest.Sign() > 0 || podLimit.Sign() > 0 {
						continue // covered by the pod-level request
					}
					c.Report(ct.Field("resources.requests."+string(name)),
						ct.Describe()+" has no "+string(name)+" request, so the scheduler reserves no "+resourceNoun(name)+" for it and it is among the first to be starved or evicted",
						"set resources.requests."+string(name))
				}
				return true
			})
		},
	})
}
