package checks

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:         "drop-capabilities",
		Category:   LeastPrivilege,
		Profiles:   ProfileActions{Restricted: Enforce, NSA: Warn},
		Mutation:   "drop-capabilities",
		Summary:    "Containers must drop ALL capabilities and may add back only NET_BIND_SERVICE (Linux pods only).",
		Supersedes: []string{"capabilities"},
		Evaluate: func(c *Context) {
			if c.Pod.IsWindows() {
				return // Linux capabilities do not apply to Windows containers
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				var caps *corev1.Capabilities
				if ct.SecurityContext != nil {
					caps = ct.SecurityContext.Capabilities
				}
				if caps == nil {
					caps = &corev1.Capabilities{}
				}
				checkDropAll(c, ct, caps.Drop)
				for k, capability := range caps.Add {
					if capability == "NET_BIND_SERVICE" {
						continue
					}
					field := ct.Field(fmt.Sprintf("securityContext.capabilities.add[%d]", k))
					if isNetBindService(capability) {
						c.Report(field,
							fmt.Sprintf("%s adds capability %q, which the restricted profile accepts only when written exactly NET_BIND_SERVICE", ct.Describe(), capability),
							fmt.Sprintf("write %q as NET_BIND_SERVICE", capability))
						continue
					}
					c.Report(field,
						fmt.Sprintf("%s adds capability %q; only NET_BIND_SERVICE may be added back, other capabilities widen what a compromised process can do", ct.Describe(), capability),
						fmt.Sprintf("remove %q from securityContext.capabilities.add", capability))
				}
				return true
			})
		},
	})
}

func checkDropAll(c *Context, ct podspec.Container, drop []corev1.Capability) {
	var spelled corev1.Capability
	for _, d := range drop {
		if d == "ALL" {
			return
		}
		if spelled == "" && (strings.EqualFold(string(d), "ALL") || strings.EqualFold(string(d), "CAP_ALL")) {
			spelled = d
		}
	}
	field := ct.Field("securityContext.capabilities.drop")
	if spelled != "" {
		c.Report(field,
			fmt.Sprintf("%s drops %q instead of ALL; capability names are matched exactly, so the value must be upper-case ALL", ct.Describe(), spelled),
			fmt.Sprintf("replace %q with ALL in securityContext.capabilities.drop", spelled))
		return
	}
	c.Report(field,
		ct.Describe()+" does not drop ALL capabilities and keeps the runtime's defaults (such as NET_RAW, used for spoofing)",
		"add ALL to securityContext.capabilities.drop")
}

// isNetBindService reports another spelling of NET_BIND_SERVICE (lower case, CAP_ prefix).
func isNetBindService(c corev1.Capability) bool {
	s := strings.ToUpper(string(c))
	return s == "NET_BIND_SERVICE" || s == "CAP_NET_BIND_SERVICE"
}
