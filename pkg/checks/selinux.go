package checks

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// containerSELinuxTypes are the SELinux types the Pod Security Standards allow (v1.31+); the
// empty type keeps the runtime's default.
var containerSELinuxTypes = []string{"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

func init() {
	Register(Check{
		ID:       "selinux",
		Category: Privilege,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods and containers must keep a container SELinux type and must not set an SELinux user or role (seLinuxOptions).",
		Evaluate: func(c *Context) {
			if sc := c.Pod.Spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
				reportSELinux(c, "the pod", c.Pod.SpecField("securityContext.seLinuxOptions"), sc.SELinuxOptions)
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				if sc := ct.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
					reportSELinux(c, ct.Describe(), ct.Field("securityContext.seLinuxOptions"), sc.SELinuxOptions)
				}
				return true
			})
		},
	})
}

// reportSELinux reports the type, user and role of opts, set by who at field.
func reportSELinux(c *Context, who, field string, opts *corev1.SELinuxOptions) {
	if !slices.Contains(containerSELinuxTypes, opts.Type) {
		c.Report(field+".type",
			fmt.Sprintf("%s sets SELinux type %q, which is not a container type and may run unconfined", who, opts.Type),
			"remove seLinuxOptions.type or set it to container_t, container_init_t, container_kvm_t or container_engine_t")
	}
	if opts.User != "" {
		c.Report(field+".user",
			fmt.Sprintf("%s sets SELinux user %q, which can give it a more privileged SELinux identity", who, opts.User),
			"remove seLinuxOptions.user")
	}
	if opts.Role != "" {
		c.Report(field+".role",
			fmt.Sprintf("%s sets SELinux role %q, which can give it a more privileged SELinux identity", who, opts.Role),
			"remove seLinuxOptions.role")
	}
}
