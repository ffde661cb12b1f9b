package checks

import (
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "run-as-user",
		Category: LeastPrivilege,
		Profiles: ProfileActions{Restricted: Enforce, NSA: Warn},
		PodWide:  true,
		Summary:  "Pods and containers must not set runAsUser: 0 (root), unless the pod runs in a user namespace.",
		Evaluate: func(c *Context) {
			if inUserNamespace(c.Pod) {
				return // UID 0 in a user namespace is an unprivileged UID on the node
			}
			if sc := c.Pod.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				c.Report(c.Pod.SpecField("securityContext.runAsUser"),
					"the pod sets runAsUser: 0, so its containers run as root, which is root on the node after an escape",
					"set the pod's securityContext.runAsUser to a non-zero UID")
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if sc := ct.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
					c.Report(ct.Field("securityContext.runAsUser"),
						ct.Describe()+" sets runAsUser: 0 and runs as root, which is root on the node after an escape",
						"set securityContext.runAsUser to a non-zero UID")
				}
				return true
			})
		},
	})
}
