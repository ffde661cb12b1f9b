package checks

import (
	"fmt"
	"slices"
)

// safeSysctls is the Pod Security Standards' safe set as of v1.37: namespaced sysctls that
// are isolated from other pods on the node. Names are matched exactly, as upstream does.
var safeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ping_group_range",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_notsent_lowat",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_slow_start_after_idle",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_wmem",
}

func init() {
	Register(Check{
		ID:       "sysctls",
		Category: Privilege,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		PodWide:  true,
		Summary:  "Pods may set only the sysctls known to be isolated from the rest of the node (securityContext.sysctls).",
		Evaluate: func(c *Context) {
			sc := c.Pod.Spec.SecurityContext
			if sc == nil {
				return
			}
			for i, s := range sc.Sysctls {
				if slices.Contains(safeSysctls, s.Name) {
					continue
				}
				c.Report(c.Pod.SpecField(fmt.Sprintf("securityContext.sysctls[%d].name", i)),
					fmt.Sprintf("the pod sets sysctl %q, which is outside the safe set and may affect the whole node", s.Name),
					fmt.Sprintf("remove %q from securityContext.sysctls", s.Name))
			}
		},
	})
}
