package scan

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// TestRBACManifests: a scan judges Roles, ClusterRoles and their bindings with the access
// control checks, names misspelt fields in them, and explains an RBAC kind under the wrong
// apiVersion.
func TestRBACManifests(t *testing.T) {
	const manifests = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: open, namespace: shop}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: system:anonymous}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-admin}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: shop}
rules:
- {apiGroups: [""], resources: [pods], verb: [get]}
`
	docs, err := Read([]string{"-"}, strings.NewReader(manifests))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.FromProfile(policy.NSA)
	if err != nil {
		t.Fatal(err)
	}
	results, err := EvaluatePolicy(docs, snap, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		line := r.Object() + ": " + r.Decision()
		for _, v := range r.Violations {
			line += " [" + v.Check + " " + string(v.Action) + " " + v.Field + "]"
		}
		for _, f := range r.UnknownFields {
			line += " unknown " + f
		}
		got = append(got, line)
	}
	want := []string{
		`RoleBinding "shop/open": denied [anonymous-binding enforce subjects[0].name]`,
		`ClusterRoleBinding "ci-admin": warned [cluster-admin-binding warn roleRef.name]`,
		`Role "shop/reader": ok unknown rules[0].verb`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	docs, err = Read([]string{"-"}, strings.NewReader("apiVersion: v1\nkind: RoleBinding\nmetadata: {name: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = EvaluatePolicy(docs, snap, time.Now())
	if want := "apiVersion v1 has no kind RoleBinding; did you mean rbac.authorization.k8s.io/v1?"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("RoleBinding of apiVersion v1: %v, want an error saying %q", err, want)
	}
}
