package checks

import (
	"fmt"
	"slices"
	"strings"
)

func init() {
	Register(Check{
		ID:       "wildcard-role",
		Category: AccessControl,
		Target:   RBAC,
		Profiles: ProfileActions{NSA: Warn},
		Summary:  "Roles and ClusterRoles should not grant every verb (*) on every resource (*): such a rule also covers Secrets, RBAC and every resource added later.",
		Evaluate: func(c *Context) {
			o := c.RBAC
			if o.Binding {
				return
			}
			for i, r := range o.Rules {
				if !slices.Contains(r.Verbs, "*") || !slices.Contains(r.Resources, "*") {
					continue
				}
				groups := "every API group"
				if !slices.Contains(r.APIGroups, "*") {
					groups = "the API groups " + quoteGroups(r.APIGroups)
				}
				c.Report(fmt.Sprintf("rules[%d]", i),
					fmt.Sprintf("grants every verb on every resource of %s", groups),
					"list the verbs and resources the role's subjects use")
			}
		},
	})
}

// quoteGroups names API groups, the core group as "" (core).
func quoteGroups(groups []string) string {
	out := make([]string, len(groups))
	for i, g := range groups {
		if g == "" {
			out[i] = `"" (core)`
		} else {
			out[i] = fmt.Sprintf("%q", g)
		}
	}
	return strings.Join(out, ", ")
}
