package checks

import (
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The identities of requests without credentials: the apiserver gives every anonymous request
// the user system:anonymous and the group system:unauthenticated.
const (
	anonymousUser        = "system:anonymous"
	unauthenticatedGroup = "system:unauthenticated"
)

func init() {
	Register(Check{
		ID:       "anonymous-binding",
		Category: AccessControl,
		Target:   RBAC,
		Profiles: ProfileActions{NSA: Enforce},
		Risk:     High, // a way into the cluster, as the baseline checks guard the ways out of a container
		Summary:  "RoleBindings and ClusterRoleBindings must not grant a role to system:anonymous or system:unauthenticated, which would give it to every request that carries no credentials.",
		Evaluate: func(c *Context) {
			o := c.RBAC
			if !o.Binding {
				return
			}
			for i, s := range o.Subjects {
				if !anonymous(s) {
					continue
				}
				c.Report(fmt.Sprintf("subjects[%d].name", i),
					fmt.Sprintf("binds %s %q to %s %s: anyone who can reach the apiserver gets its rights without logging in",
						o.RoleRef.Kind, o.RoleRef.Name, lower(s.Kind), s.Name),
					"remove the subject and bind the role to the users, groups or ServiceAccounts that need it")
			}
		},
	})
}

// anonymous reports whether s names the anonymous user or the unauthenticated group.
func anonymous(s rbacv1.Subject) bool {
	return (s.Kind == rbacv1.UserKind && s.Name == anonymousUser) ||
		(s.Kind == rbacv1.GroupKind && s.Name == unauthenticatedGroup)
}

func lower(kind string) string {
	switch kind {
	case rbacv1.UserKind:
		return "user"
	case rbacv1.GroupKind:
		return "group"
	}
	return kind
}
