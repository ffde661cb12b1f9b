package checks

import (
	"strings"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "run-as-non-root",
		Category: LeastPrivilege,
		Profiles: ProfileActions{Restricted: Enforce, NSA: Warn},
		Mutation: "run-as-non-root",
		Summary:  "Containers must be required to run as a non-root user (runAsNonRoot: true on the pod or every container), unless the pod runs in a user namespace.",
		Evaluate: func(c *Context) {
			if inUserNamespace(c.Pod) {
				return // root in a user namespace is not root on the node
			}
			var podTrue, podFalse bool
			if sc := c.Pod.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
				podTrue, podFalse = *sc.RunAsNonRoot, !*sc.RunAsNonRoot
			}
			var inheriting, explicit []podspec.Container
			c.Pod.Containers(func(ct podspec.Container) bool {
				switch sc := ct.SecurityContext; {
				case sc != nil && sc.RunAsNonRoot != nil:
					if !*sc.RunAsNonRoot {
						explicit = append(explicit, ct)
					}
				case !podTrue:
					inheriting = append(inheriting, ct)
				}
				return true
			})

			podField := c.Pod.SpecField("securityContext.runAsNonRoot")
			switch {
			case podFalse && len(inheriting) > 0:
				c.Report(podField,
					"the pod sets runAsNonRoot: false, so "+joinDescribed(inheriting)+" may run as root, which is root on the node after an escape",
					"set the pod's securityContext.runAsNonRoot: true")
			case podFalse:
				c.Report(podField,
					"the pod sets runAsNonRoot: false, which lets any container without its own setting run as root",
					"set the pod's securityContext.runAsNonRoot: true")
			case len(inheriting) > 0:
				c.Report(podField,
					joinDescribed(inheriting)+" may run as root, because neither "+pronoun(len(inheriting))+" nor the pod set runAsNonRoot: true",
					"set the pod's securityContext.runAsNonRoot: true")
			}
			for _, ct := range explicit {
				c.Report(ct.Field("securityContext.runAsNonRoot"),
					ct.Describe()+" sets runAsNonRoot: false and may run as root, which is root on the node after an escape",
					"set securityContext.runAsNonRoot: true")
			}
		},
	})
}

// inUserNamespace reports a pod with hostUsers: false, whose UIDs are mapped to unprivileged
// ones on the node; the restricted Pod Security Standard relaxes its user checks for it.
func inUserNamespace(p *podspec.Pod) bool {
	return p.Spec.HostUsers != nil && !*p.Spec.HostUsers
}

// joinDescribed names containers for a message: `container "a"`,
// `container "a" and init container "b"`, `container "a", container "b" and container "c"`.
func joinDescribed(cs []podspec.Container) string {
	names := make([]string, len(cs))
	for i, ct := range cs {
		names[i] = ct.Describe()
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// pronoun is "it" or "they", for a message about n containers.
func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "they"
}
