package mutate

import "strings"

// privilege-escalation sets each container's securityContext.allowPrivilegeEscalation to
// false when unset. It skips privileged containers and those that add CAP_SYS_ADMIN, with
// which the apiserver rejects allowPrivilegeEscalation: false, and Windows pods.
var privilegeEscalationDefault = defaulter{
	name: PrivilegeEscalation,
	flag: func(o *Options) *bool { return &o.PrivilegeEscalation },
	container: func(p *pod, c *container) {
		if p.windows {
			return
		}
		sc := c.securityContext()
		if sc.get("privileged") == true {
			return
		}
		added, _ := sc.child("capabilities").get("add").([]any)
		for _, a := range added {
			if s, ok := a.(string); ok && (strings.EqualFold(s, "SYS_ADMIN") || strings.EqualFold(s, "CAP_SYS_ADMIN")) {
				return
			}
		}
		p.add(PrivilegeEscalation, sc, "allowPrivilegeEscalation", false, "false")
	},
}
