package checks

func init() {
	Register(Check{
		ID:       "host-network",
		Category: HostIsolation,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods must not share the node's network namespace (spec.hostNetwork).",
		Evaluate: func(c *Context) {
			if c.Pod.Spec.HostNetwork {
				c.Report(c.Pod.SpecField("hostNetwork"),
					"the pod shares the node's network namespace and can reach every service bound on the node",
					"remove hostNetwork or set it to false")
			}
		},
	})
}
