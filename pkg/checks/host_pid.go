package checks

func init() {
	Register(Check{
		ID:       "host-pid",
		Category: HostIsolation,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods must not share the node's process namespace (spec.hostPID).",
		Evaluate: func(c *Context) {
			if c.Pod.Spec.HostPID {
				c.Report(c.Pod.SpecField("hostPID"),
					"the pod shares the node's process namespace and can see and signal every process on the node",
					"remove hostPID or set it to false")
			}
		},
	})
}
