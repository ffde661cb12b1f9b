package admission

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

var (
	kRole               = kind{group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", resource: "roles"}
	kClusterRole        = kind{group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", resource: "clusterroles"}
	kRoleBinding        = kind{group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", resource: "rolebindings"}
	kClusterRoleBinding = kind{group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding", resource: "clusterrolebindings"}
)

// rbacKinds are the RBAC kinds as the apiserver sends them: those of rbacspec's table.
var rbacKinds = []kind{kRole, kClusterRole, kRoleBinding, kClusterRoleBinding}

func TestRBACKindsAreTheEngines(t *testing.T) {
	if len(rbacKinds) != len(rbacspec.All()) {
		t.Fatalf("rbacKinds has %d kinds, rbacspec %d", len(rbacKinds), len(rbacspec.All()))
	}
	for _, k := range rbacKinds {
		e, ok := rbacspec.Lookup(schema.GroupKind{Group: k.group, Kind: k.kind})
		if !ok || e.Version != k.version || e.Resource != k.resource {
			t.Errorf("%s: sent as %s %s; rbacspec has %+v (known %v)", k.kind, k.version, k.resource, e, ok)
		}
	}
}

func binding(k kind, name, subjects, roleKind, roleName string) string {
	ns := `,"namespace":"team-a"`
	if k.kind == "ClusterRoleBinding" {
		ns = ""
	}
	return `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"` + k.kind + `","metadata":{"name":"` + name + `"` + ns + `},` +
		`"subjects":` + subjects + `,"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"` + roleKind + `","name":"` + roleName + `"}}`
}

func role(k kind, name, rules string) string {
	return `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"` + k.kind + `","metadata":{"name":"` + name + `"},"rules":` + rules + `}`
}

const (
	anonymousSubjects = `[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"},` +
		`{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:unauthenticated"}]`
	aliceSubjects = `[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"}]`
	fixAnonymous  = "remove the subject and bind the role to the users, groups or ServiceAccounts that need it"
)

// TestRBACAdmission: the nsa profile denies a binding to the anonymous identities, warns on
// cluster-admin bindings and wildcard roles, leaves RBAC objects unmutated, and counts them by
// their resource.
func TestRBACAdmission(t *testing.T) {
	h := newHarness(t, profile(t, policy.NSA))
	ctx := context.Background()

	for _, k := range []kind{kRoleBinding, kClusterRoleBinding} {
		obj := binding(k, "open", anonymousSubjects, "ClusterRole", "view")
		resp := h.v.Handle(ctx, request(admissionv1.Create, k, "open", obj, ""))
		head, lines := denialLines(t, resp)
		if want := k.kind + ` "open" violates 1 Bulwark check (profile nsa):`; head != want {
			t.Errorf("%s: denial header %q, want %q", k.kind, head, want)
		}
		assertLines(t, k.kind, lines, []wantLine{{"anonymous-binding", "subjects[1].name", fixAnonymous,
			`binds ClusterRole "view" to group system:unauthenticated`}})
		if m := h.m.Handle(ctx, request(admissionv1.Create, k, "open", obj, "")); !m.Allowed || len(m.Patches) > 0 || m.Result.Message != "RBAC objects are not mutated" {
			t.Errorf("%s: mutate answered %+v, want allowed, unchanged", k.kind, m)
		}
	}

	// cluster-admin is a warning, as is a wildcard rule; a narrow binding or role passes clean.
	for _, tc := range []struct {
		k        kind
		obj      string
		warnings []string
	}{
		{kClusterRoleBinding, binding(kClusterRoleBinding, "ops", aliceSubjects, "ClusterRole", "cluster-admin"), []string{
			"[cluster-admin-binding] roleRef.name: grants cluster-admin, every verb on every resource of the cluster, to user alice. Fix: bind a Role or ClusterRole with only the verbs and resources the subjects use"}},
		{kRoleBinding, binding(kRoleBinding, "ops", aliceSubjects, "ClusterRole", "admin"), nil},
		{kClusterRole, role(kClusterRole, "all", `[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]`), []string{
			"[wildcard-role] rules[0]: grants every verb on every resource of every API group. Fix: list the verbs and resources the role's subjects use"}},
		{kRole, role(kRole, "pods", `[{"apiGroups":[""],"resources":["pods"],"verbs":["*"]}]`), nil},
	} {
		resp := h.v.Handle(ctx, request(admissionv1.Create, tc.k, "x", tc.obj, ""))
		if !resp.Allowed || strings.Join(resp.Warnings, "\n") != strings.Join(tc.warnings, "\n") {
			t.Errorf("%s: allowed %v, warnings\n  %q\nwant allowed, warnings\n  %q", tc.obj, resp.Allowed, resp.Warnings, tc.warnings)
		}
	}

	// An update that leaves the grant as it was is not judged again: the object predates the
	// policy, or was admitted under it.
	old := binding(kRoleBinding, "open", anonymousSubjects, "ClusterRole", "view")
	relabelled := strings.Replace(old, `"name":"open"`, `"name":"open","labels":{"team":"a"}`, 1)
	if resp := h.v.Handle(ctx, request(admissionv1.Update, kRoleBinding, "open", relabelled, old)); !resp.Allowed {
		t.Errorf("relabelling an existing binding was denied: %s", resp.Result.Message)
	}
	// Adding the anonymous subject by an update is denied like a create.
	if resp := h.v.Handle(ctx, request(admissionv1.Update, kRoleBinding, "open", old, binding(kRoleBinding, "open", aliceSubjects, "ClusterRole", "view"))); resp.Allowed {
		t.Error("an update adding system:unauthenticated was allowed")
	}

	assertMaps(t, "decisions", h.decisions(), map[string]float64{
		decisionKey("validate", "rolebindings", "create", "denied"):         1,
		decisionKey("validate", "clusterrolebindings", "create", "denied"):  1,
		decisionKey("mutate", "rolebindings", "create", "skipped"):          1,
		decisionKey("mutate", "clusterrolebindings", "create", "skipped"):   1,
		decisionKey("validate", "clusterrolebindings", "create", "allowed"): 1,
		decisionKey("validate", "rolebindings", "create", "allowed"):        1,
		decisionKey("validate", "clusterroles", "create", "allowed"):        1,
		decisionKey("validate", "roles", "create", "allowed"):               1,
		decisionKey("validate", "rolebindings", "update", "skipped"):        1,
		decisionKey("validate", "rolebindings", "update", "denied"):         1,
	})
}

// TestRBACBadInput: an RBAC object that is not what the request says, or not decodable, is a
// 400 naming the problem.
func TestRBACBadInput(t *testing.T) {
	h := newHarness(t, profile(t, policy.NSA))
	for _, tc := range []struct {
		name string
		req  func() admission.Request
		want string
	}{
		{"kind of another resource", func() admission.Request {
			r := request(admissionv1.Create, kRoleBinding, "x", binding(kRoleBinding, "x", aliceSubjects, "Role", "r"), "")
			r.Resource.Resource = "clusterrolebindings"
			return r
		}, "the AdmissionReview request's kind RoleBinding.rbac.authorization.k8s.io does not match its resource clusterrolebindings.rbac.authorization.k8s.io"},
		{"object of another kind", func() admission.Request {
			return request(admissionv1.Create, kRoleBinding, "x", role(kRole, "x", `[]`), "")
		}, "the object is a Role.rbac.authorization.k8s.io, but the AdmissionReview request says RoleBinding.rbac.authorization.k8s.io"},
		{"wrong type", func() admission.Request {
			return request(admissionv1.Create, kRoleBinding, "x", `{"subjects":{"kind":"User"}}`, "")
		}, "decoding RoleBinding: subjects: got an object, want a list"},
	} {
		resp := h.v.Handle(context.Background(), tc.req())
		if resp.Allowed || resp.Result == nil || resp.Result.Code != 400 || resp.Result.Message != tc.want {
			t.Errorf("%s: got %+v, want 400 %q", tc.name, resp.Result, tc.want)
		}
	}
}
