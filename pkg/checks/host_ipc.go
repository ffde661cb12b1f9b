package checks

func init() {
	Register(Check{
		ID:       "host-ipc",
		Category: HostIsolation,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods must not share the node's IPC namespace (spec.hostIPC).",
		Evaluate: func(c *Context) {
			if c.Pod.Spec.HostIPC {
				c.Report(c.Pod.SpecField("hostIPC"),
					"the pod shares the node's IPC namespace and can read the shared memory of every process on the node",
					"remove hostIPC or set it to false")
			}
		},
	})
}
