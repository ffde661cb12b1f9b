package checks

func init() {
	Register(Check{
		ID:       "automount-service-account-token",
		Category: SupplyChain,
		Profiles: ProfileActions{NSA: Audit},
		Mutation: "automount-service-account-token",
		Summary:  "Pods must set automountServiceAccountToken: false, so a compromised container holds no Kubernetes API credentials it does not need.",
		Evaluate: func(c *Context) {
			if t := c.Pod.Spec.AutomountServiceAccountToken; t == nil || *t {
				c.Report(c.Pod.SpecField("automountServiceAccountToken"),
					"the pod mounts its service account token, which anyone who compromises a container can use against the Kubernetes API",
					"set automountServiceAccountToken: false, and mount a projected token only where the API is needed")
			}
		},
	})
}
