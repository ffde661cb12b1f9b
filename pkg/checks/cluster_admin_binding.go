package checks

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// clusterAdmin is the built-in ClusterRole that allows every verb on every resource.
const clusterAdmin = "cluster-admin"

func init() {
	Register(Check{
		ID:       "cluster-admin-binding",
		Category: AccessControl,
		Target:   RBAC,
		Profiles: ProfileActions{NSA: Warn},
		Summary:  "RoleBindings and ClusterRoleBindings should not grant cluster-admin: it allows everything, so any token of a subject bound to it controls the cluster, or the whole namespace.",
		Evaluate: func(c *Context) {
			o := c.RBAC
			if !o.Binding || o.RoleRef.Kind != "ClusterRole" || o.RoleRef.Name != clusterAdmin {
				return
			}
			scope := "every resource of the cluster"
			if o.Kind.Namespaced {
				scope = "every resource of the namespace, its Roles and RoleBindings included"
			}
			c.Report("roleRef.name",
				fmt.Sprintf("grants cluster-admin, every verb on %s, to %s", scope, subjects(o.Subjects)),
				"bind a Role or ClusterRole with only the verbs and resources the subjects use")
		},
	})
}

// subjects names up to three subjects: `user alice, ServiceAccount ci/deployer and 2 more`.
func subjects(ss []rbacv1.Subject) string {
	if len(ss) == 0 {
		return "no subject yet"
	}
	var names []string
	for i, s := range ss {
		if i == 3 {
			names = append(names, fmt.Sprintf("%d more", len(ss)-3))
			break
		}
		name := s.Name
		if s.Kind == rbacv1.ServiceAccountKind && s.Namespace != "" {
			name = s.Namespace + "/" + s.Name
		}
		names = append(names, lower(s.Kind)+" "+name)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
