package checks

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "proc-mount",
		Category: Privilege,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		Summary:  "Containers must keep the default /proc masks (securityContext.procMount), unless the pod runs in a user namespace.",
		Evaluate: func(c *Context) {
			strict := c.Params != nil && c.Params.StrictProcMount
			// A pod in its own user namespace only sees its own /proc, so the baseline
			// Pod Security Standard allows any procMount there; restricted does not.
			userNamespace := c.Pod.Spec.HostUsers != nil && !*c.Pod.Spec.HostUsers
			if userNamespace && !strict {
				return
			}
			fix := "remove securityContext.procMount or set it to Default"
			if !strict {
				fix += ", or run the pod in a user namespace (hostUsers: false)"
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				sc := ct.SecurityContext
				if sc == nil || sc.ProcMount == nil || *sc.ProcMount == corev1.DefaultProcMount {
					return true
				}
				c.Report(ct.Field("securityContext.procMount"),
					fmt.Sprintf("%s sets procMount %q, which unmasks kernel files in /proc that the default hides", ct.Describe(), *sc.ProcMount),
					fix)
				return true
			})
		},
	})
}
