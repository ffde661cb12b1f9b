package checks

import (
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "privilege-escalation",
		Category: LeastPrivilege,
		Profiles: ProfileActions{Restricted: Enforce, NSA: Warn},
		Mutation: "privilege-escalation",
		Summary:  "Containers must set allowPrivilegeEscalation: false, so no process can gain more privileges than its parent (Linux pods only).",
		Evaluate: func(c *Context) {
			if c.Pod.IsWindows() {
				return // the field does not exist on Windows
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				sc := ct.SecurityContext
				switch {
				case sc == nil || sc.AllowPrivilegeEscalation == nil:
					c.Report(ct.Field("securityContext.allowPrivilegeEscalation"),
						ct.Describe()+" does not set allowPrivilegeEscalation: false and may gain more privileges than its parent process (setuid binaries)",
						"set securityContext.allowPrivilegeEscalation: false")
				case *sc.AllowPrivilegeEscalation:
					c.Report(ct.Field("securityContext.allowPrivilegeEscalation"),
						ct.Describe()+" sets allowPrivilegeEscalation: true and may gain more privileges than its parent process (setuid binaries)",
						"set securityContext.allowPrivilegeEscalation: false")
				}
				return true
			})
		},
	})
}
