package checks

import "fmt"

func init() {
	Register(Check{
		ID:       "host-path",
		Category: HostIsolation,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods must not mount directories of the node's file system (hostPath volumes).",
		Evaluate: func(c *Context) {
			for i, v := range c.Pod.Spec.Volumes {
				if v.HostPath == nil {
					continue
				}
				c.Report(c.Pod.SpecField(fmt.Sprintf("volumes[%d].hostPath", i)),
					fmt.Sprintf("volume %q mounts %q from the node's file system, a common way out of the container", v.Name, v.HostPath.Path),
					fmt.Sprintf("replace volume %q with an emptyDir, configMap, secret or persistentVolumeClaim volume", v.Name))
			}
		},
	})
}
