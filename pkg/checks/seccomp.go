package checks

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

const seccompFix = "set seccompProfile.type to RuntimeDefault, or Localhost with a localhostProfile"

func init() {
	Register(Check{
		ID:       "seccomp",
		Category: Privilege,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Mutation: "seccomp",
		Summary:  "Pods and containers that set a seccomp profile must use RuntimeDefault or Localhost, never Unconfined (seccompProfile).",
		Evaluate: func(c *Context) {
			// The legacy seccomp annotations are deliberately ignored: kubelets no longer
			// apply them, and neither do the Pod Security Standards' current checks.
			if sc := c.Pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && !allowedSeccompType(sc.SeccompProfile.Type) {
				c.Report(c.Pod.SpecField("securityContext.seccompProfile.type"),
					"the pod "+seccompTypeProblem(sc.SeccompProfile.Type), seccompFix)
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if sc := ct.SecurityContext; sc != nil && sc.SeccompProfile != nil && !allowedSeccompType(sc.SeccompProfile.Type) {
					c.Report(ct.Field("securityContext.seccompProfile.type"),
						ct.Describe()+" "+seccompTypeProblem(sc.SeccompProfile.Type), seccompFix)
				}
				return true
			})
		},
	})
}

func allowedSeccompType(t corev1.SeccompProfileType) bool {
	return t == corev1.SeccompProfileTypeRuntimeDefault || t == corev1.SeccompProfileTypeLocalhost
}

// seccompTypeProblem completes "<who> ..." for a forbidden profile type.
func seccompTypeProblem(t corev1.SeccompProfileType) string {
	switch t {
	case corev1.SeccompProfileTypeUnconfined:
		return `sets seccomp profile type "Unconfined", which turns system call filtering off`
	case "":
		return "sets a seccomp profile without a type, which is not RuntimeDefault or Localhost"
	}
	return fmt.Sprintf("sets seccomp profile type %q, which is not RuntimeDefault or Localhost", t)
}
