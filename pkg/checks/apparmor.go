package checks

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

const appArmorFix = "set appArmorProfile.type to RuntimeDefault, or Localhost with a localhostProfile"

func init() {
	Register(Check{
		ID:       "apparmor",
		Category: Privilege,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods and containers must not turn AppArmor off or use an unknown profile type (appArmorProfile, AppArmor annotations).",
		Evaluate: func(c *Context) {
			if sc := c.Pod.Spec.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !allowedAppArmorType(sc.AppArmorProfile.Type) {
				c.Report(c.Pod.SpecField("securityContext.appArmorProfile.type"),
					"the pod "+appArmorTypeProblem(sc.AppArmorProfile.Type), appArmorFix)
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if sc := ct.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !allowedAppArmorType(sc.AppArmorProfile.Type) {
					c.Report(ct.Field("securityContext.appArmorProfile.type"),
						ct.Describe()+" "+appArmorTypeProblem(sc.AppArmorProfile.Type), appArmorFix)
				}
				return true
			})
			// The deprecated per-container annotations; kubelets still apply them when the
			// field is not set.
			keys := make([]string, 0, len(c.Pod.Meta.Annotations))
			for k := range c.Pod.Meta.Annotations {
				if strings.HasPrefix(k, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix) {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				v := c.Pod.Meta.Annotations[k]
				if v == "" || v == corev1.DeprecatedAppArmorBetaProfileRuntimeDefault ||
					strings.HasPrefix(v, corev1.DeprecatedAppArmorBetaProfileNamePrefix) {
					continue
				}
				container := strings.TrimPrefix(k, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix)
				why := "which is not a recognized profile"
				if v == corev1.DeprecatedAppArmorBetaProfileNameUnconfined {
					why = "which turns AppArmor confinement off"
				}
				c.Report(c.Pod.MetaField("annotations")+"["+k+"]",
					fmt.Sprintf("annotation %q sets AppArmor profile %q for container %q, %s", k, v, container, why),
					fmt.Sprintf("remove annotation %q and set securityContext.appArmorProfile.type to RuntimeDefault", k))
			}
		},
	})
}

func allowedAppArmorType(t corev1.AppArmorProfileType) bool {
	return t == corev1.AppArmorProfileTypeRuntimeDefault || t == corev1.AppArmorProfileTypeLocalhost
}

// appArmorTypeProblem completes "<who> ..." for a forbidden profile type.
func appArmorTypeProblem(t corev1.AppArmorProfileType) string {
	if t == corev1.AppArmorProfileTypeUnconfined {
		return `sets AppArmor profile type "Unconfined", which turns AppArmor confinement off`
	}
	return fmt.Sprintf("sets AppArmor profile type %q, which is not RuntimeDefault or Localhost", t)
}
