package mutate

import "strings"

// privilege-escalation sets each container's securityContext.allowPrivilegeEscalation to
// false when unset. It skips privileged containers and those that add CAP_SYS_ADMIN, with
// which the apiserver rejects allowPrivilegeEscalation: false, and Windows pods.
var privilegeEscalationDefault = defaulter{
	name: PrivilegeEscalation,
	flag: func(o *Options) *bool { return &o.PrivilegeEscalation },
	container: func(p *patcher, c *container) {
		if p.windows {
			return
		}
		sc := c.SecurityContext
		if sc != nil {
			if sc.AllowPrivilegeEscalation != nil || (sc.Privileged != nil && *sc.Privileged) {
				return
			}
			if caps := sc.Capabilities; caps != nil {
				for _, a := range caps.Add {
					if s := string(a); strings.EqualFold(s, "SYS_ADMIN") || strings.EqualFold(s, "CAP_SYS_ADMIN") {
						return
					}
				}
			}
		}
		p.set(PrivilegeEscalation, &c.owner, allowPrivilegeEscalationPath, depth(sc != nil), false, "false")
	},
}

var allowPrivilegeEscalationPath = []string{"securityContext", "allowPrivilegeEscalation"}
