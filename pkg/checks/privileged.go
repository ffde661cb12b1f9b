package checks

import (
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "privileged",
		Category: Privilege,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		Summary:  "Containers must not run privileged (securityContext.privileged), which turns off nearly all isolation.",
		Evaluate: func(c *Context) {
			c.Pod.Containers(func(ct podspec.Container) bool {
				if sc := ct.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
					c.Report(ct.Field("securityContext.privileged"),
						ct.Describe()+" runs privileged, with every capability and access to all of the node's devices",
						"remove securityContext.privileged or set it to false")
				}
				return true
			})
		},
	})
}
