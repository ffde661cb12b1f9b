package checks

import (
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

const hostProcessFix = "remove windowsOptions.hostProcess or set it to false"

func init() {
	Register(Check{
		ID:       "host-process",
		Category: HostIsolation,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods and containers must not run as Windows host processes (windowsOptions.hostProcess).",
		Evaluate: func(c *Context) {
			if sc := c.Pod.Spec.SecurityContext; sc != nil && sc.WindowsOptions != nil &&
				sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
				c.Report(c.Pod.SpecField("securityContext.windowsOptions.hostProcess"),
					"the pod runs as a Windows host process, with full access to the node",
					hostProcessFix)
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if sc := ct.SecurityContext; sc != nil && sc.WindowsOptions != nil &&
					sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
					c.Report(ct.Field("securityContext.windowsOptions.hostProcess"),
						ct.Describe()+" runs as a Windows host process, with full access to the node",
						hostProcessFix)
				}
				return true
			})
		},
	})
}
