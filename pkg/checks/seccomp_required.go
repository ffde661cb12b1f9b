package checks

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:         "seccomp-required",
		Category:   LeastPrivilege,
		Profiles:   ProfileActions{Restricted: Enforce, NSA: Warn},
		Mutation:   "seccomp",
		Summary:    "Pods or all their containers must set a RuntimeDefault or Localhost seccomp profile, which filters the system calls they can make (Linux pods only).",
		Supersedes: []string{"seccomp"},
		Evaluate: func(c *Context) {
			if c.Pod.IsWindows() {
				return // seccomp does not exist on Windows
			}
			var podSet, podValid bool
			var podType corev1.SeccompProfileType
			if sc := c.Pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
				podSet, podType = true, sc.SeccompProfile.Type
				podValid = validSeccompType(podType)
			}
			var inheriting, explicit []podspec.Container
			c.Pod.Containers(func(ct podspec.Container) bool {
				switch sc := ct.SecurityContext; {
				case sc != nil && sc.SeccompProfile != nil:
					if !validSeccompType(sc.SeccompProfile.Type) {
						explicit = append(explicit, ct)
					}
				case !podValid:
					inheriting = append(inheriting, ct)
				}
				return true
			})

			podField := c.Pod.SpecField("securityContext.seccompProfile.type")
			const podFix = "set the pod's securityContext.seccompProfile.type: RuntimeDefault"
			switch {
			case podSet && !podValid && len(inheriting) > 0:
				c.Report(podField,
					fmt.Sprintf("the pod sets seccomp profile %q, so %s can make any system call, a large kernel attack surface", podType, joinDescribed(inheriting)),
					podFix)
			case podSet && !podValid:
				c.Report(podField,
					fmt.Sprintf("the pod sets seccomp profile %q, which leaves any container without its own profile free to make any system call", podType),
					podFix)
			case len(inheriting) > 0:
				c.Report(podField,
					fmt.Sprintf("%s can make any system call, a large kernel attack surface, because neither %s nor the pod set a RuntimeDefault or Localhost seccomp profile", joinDescribed(inheriting), pronoun(len(inheriting))),
					podFix)
			}
			for _, ct := range explicit {
				c.Report(ct.Field("securityContext.seccompProfile.type"),
					fmt.Sprintf("%s sets seccomp profile %q and can make any system call, a large kernel attack surface", ct.Describe(), ct.SecurityContext.SeccompProfile.Type),
					"set securityContext.seccompProfile.type: RuntimeDefault")
			}
		},
	})
}

func validSeccompType(t corev1.SeccompProfileType) bool {
	return t == corev1.SeccompProfileTypeRuntimeDefault || t == corev1.SeccompProfileTypeLocalhost
}
