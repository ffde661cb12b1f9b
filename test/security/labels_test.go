package security

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// guardFile is the ValidatingAdmissionPolicy docs/security.md recommends for the namespace
// labels that lower enforcement.
const guardFile = "testdata/namespace-label-guard.yaml"

// TestNamespaceLabelGuard applies the ValidatingAdmissionPolicy of docs/security.md with the
// real kubectl and checks what it promises: someone who may create and label namespaces can no
// longer set, change or remove bulwark.dev/mode or a pod-security.kubernetes.io label (nor
// create a namespace with one), and keeps every other label; a member of bulwark-admins can;
// the status and finalize subresources are no way around it; system:masters is held too.
func TestNamespaceLabelGuard(t *testing.T) {
	guard, err := os.ReadFile(guardFile)
	if err != nil {
		t.Fatal(err)
	}
	docPath, err := framework.RepoFile("docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := os.ReadFile(docPath); err != nil || !strings.Contains(string(doc), string(guard)) {
		t.Errorf("docs/security.md does not hold %s as it is (%v)", guardFile, err)
	}

	cluster, _ := controlPlane(t)
	dir := t.TempDir()
	admin := filepath.Join(dir, "admin")
	if err := cluster.WriteKubeconfig(admin); err != nil {
		t.Fatal(err)
	}
	// Both may manage namespaces; only bob is in bulwark-admins.
	cs := clientset(t, cluster.Config)
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-manager"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "create", "update", "patch"}}},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-managers"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.GroupKind, Name: "namespace-managers"},
			{Kind: rbacv1.GroupKind, Name: "bulwark-admins"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	user := func(name string, groups ...string) string {
		u, err := cluster.User(name, groups...)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := framework.WriteKubeconfigFile(path, cluster.Config, u); err != nil {
			t.Fatal(err)
		}
		return path
	}
	alice, bob := user("alice", "namespace-managers"), user("bob", "bulwark-admins")
	kubectl := func(kubeconfig, stdin string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(cluster.Assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := kubectl(admin, "", "apply", "-f", guardFile); err != nil {
		t.Fatalf("kubectl apply -f %s: %v\n%s", guardFile, err, out)
	}
	if out, err := kubectl(alice, "", "create", "namespace", "team-a"); err != nil {
		t.Fatalf("alice creates a namespace: %v\n%s", err, out)
	}
	const refusal = "only members of bulwark-admins may set, change or remove the labels bulwark.dev/mode and pod-security.kubernetes.io/*"
	// The policy takes effect once the apiserver has loaded it: until alice is refused a new
	// namespace carrying the label (those admitted before stay, unused).
	var out string
	for i := 0; ; i++ {
		out, err = kubectl(alice, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: probe-%d\n  labels:\n    bulwark.dev/mode: \"off\"\n", i), "apply", "-f", "-")
		if err != nil || i == 150 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil || !strings.Contains(out, refusal) {
		t.Fatalf("the policy is not in force after 30s: alice creates a namespace labelled bulwark.dev/mode=off: %v\n%s", err, out)
	}
	out, err = kubectl(alice, "", "label", "namespace", "team-a", "bulwark.dev/mode=off")
	if err == nil || !strings.Contains(out, refusal) {
		t.Fatalf("alice labels team-a bulwark.dev/mode=off: %v\n%s", err, out)
	}
	t.Logf("kubectl label namespace team-a bulwark.dev/mode=off, as alice:\n%s", strings.TrimSpace(out))

	for _, tc := range []struct {
		who, kubeconfig string
		args            []string
		stdin           string
		allowed         bool
	}{
		{"alice", alice, []string{"label", "namespace", "team-a", "pod-security.kubernetes.io/enforce=privileged"}, "", false},
		{"alice", alice, []string{"label", "namespace", "team-a", "team=payments"}, "", true},
		{"bob", bob, []string{"label", "namespace", "team-a", "bulwark.dev/mode=warn"}, "", true},
		{"alice", alice, []string{"label", "namespace", "team-a", "team=shop", "--overwrite"}, "", true},
		{"alice", alice, []string{"label", "namespace", "team-a", "bulwark.dev/mode=off", "--overwrite"}, "", false},
		{"alice", alice, []string{"label", "namespace", "team-a", "bulwark.dev/mode-"}, "", false},
		{"alice", alice, []string{"apply", "-f", "-"}, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n  labels:\n    bulwark.dev/mode: \"off\"\n", false},
		{"alice", alice, []string{"apply", "-f", "-"}, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-c\n  labels:\n    team: shop\n", true},
		{"bob", bob, []string{"label", "namespace", "team-a", "bulwark.dev/mode-"}, "", true},
	} {
		out, err := kubectl(tc.kubeconfig, tc.stdin, tc.args...)
		what := tc.who + ": kubectl " + strings.Join(tc.args, " ")
		switch {
		case tc.allowed && err != nil:
			t.Errorf("%s: refused: %v\n%s", what, err, out)
		case !tc.allowed && err == nil:
			t.Errorf("%s: admitted:\n%s", what, out)
		case !tc.allowed && !strings.Contains(out, refusal):
			t.Errorf("%s: refused, but not by the policy:\n%s", what, out)
		}
	}

	// The status and finalize subresources carry the namespace's metadata too: someone who may
	// update only those cannot lower enforcement through them either.
	subRole := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-finalizer"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "namespaces/status"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces/status", "namespaces/finalize"}, Verbs: []string{"update", "patch"}},
		},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(t.Context(), subRole, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-finalizers"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: subRole.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "carol"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	carol := user("carol")
	finalize := func(labels string) string {
		return `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a","labels":{` + labels + `}},"spec":{"finalizers":["kubernetes"]}}`
	}
	for _, tc := range []struct {
		what    string
		args    []string
		stdin   string
		allowed bool
	}{
		{"status patch setting bulwark.dev/mode", []string{"patch", "namespace", "team-a", "--subresource=status", "--type=merge", "-p", `{"metadata":{"labels":{"bulwark.dev/mode":"off"}}}`}, "", false},
		{"status patch setting another label", []string{"patch", "namespace", "team-a", "--subresource=status", "--type=merge", "-p", `{"metadata":{"labels":{"team":"shop"}}}`}, "", true},
		{"finalize setting bulwark.dev/mode", []string{"replace", "--raw", "/api/v1/namespaces/team-a/finalize", "-f", "-"}, finalize(`"team":"shop","bulwark.dev/mode":"off"`), false},
		{"finalize setting pod-security enforce", []string{"replace", "--raw", "/api/v1/namespaces/team-a/finalize", "-f", "-"}, finalize(`"team":"shop","pod-security.kubernetes.io/enforce":"privileged"`), false},
	} {
		out, err := kubectl(carol, tc.stdin, tc.args...)
		switch {
		case tc.allowed && err != nil:
			t.Errorf("carol, %s: refused: %v\n%s", tc.what, err, out)
		case !tc.allowed && err == nil:
			t.Errorf("carol, %s: admitted:\n%s", tc.what, out)
		case !tc.allowed && !strings.Contains(out, refusal):
			t.Errorf("carol, %s: refused, but not by the policy:\n%s", tc.what, out)
		}
	}

	// Admission applies to system:masters too: the cluster admin outside bulwark-admins is
	// refused like anyone else (authorization is what system:masters skips).
	if out, err := kubectl(admin, "", "label", "namespace", "team-a", "bulwark.dev/mode=off"); err == nil || !strings.Contains(out, refusal) {
		t.Errorf("system:masters labels team-a bulwark.dev/mode=off: %v\n%s", err, out)
	}
	ns, err := cs.CoreV1().Namespaces().Get(t.Context(), "team-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels["team"] != "shop" || ns.Labels["bulwark.dev/mode"] != "" || ns.Labels["pod-security.kubernetes.io/enforce"] != "" {
		t.Errorf("team-a's labels at the end: %v, want team=shop and no bulwark.dev/mode or pod-security label", ns.Labels)
	}
}
