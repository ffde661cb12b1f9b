package checks

import (
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "read-only-root-filesystem",
		Category: LeastPrivilege,
		Profiles: ProfileActions{NSA: Warn},
		Mutation: "read-only-root-filesystem",
		Summary:  "Containers must mount their root file system read-only (readOnlyRootFilesystem: true), so an intruder cannot change binaries or drop tools (Linux pods only).",
		Evaluate: func(c *Context) {
			if c.Pod.IsWindows() {
				return // the field does not exist on Windows
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if sc := ct.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					c.Report(ct.Field("securityContext.readOnlyRootFilesystem"),
						ct.Describe()+" can write to its root file system, so an intruder can change its binaries or drop tools",
						"set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the app must write")
				}
				return true
			})
		},
	})
}
