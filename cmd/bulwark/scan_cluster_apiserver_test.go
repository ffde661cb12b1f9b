package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

const (
	hostNetworkMessage = "the pod shares the node's network namespace and can reach every service bound on the node"
	hostNetworkFix     = "remove hostNetwork or set it to false"
)

// TestScanClusterAPIServer runs bulwark scan --cluster against a real kube-apiserver with no
// webhook, so that violating objects can be created: a Deployment with hostNetwork, its
// ReplicaSet and two pods (created here with their ownerReferences, as no controller runs), a
// compliant Pod beside it, a hostNetwork Pod in another namespace, and hostNetwork Pods in
// kube-system and bulwark-system, which are exempt.
func TestScanClusterAPIServer(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("needs kube-apiserver and etcd: run make test, or set KUBEBUILDER_ASSETS to hack/tools.sh's directory")
	}
	c, err := framework.StartControlPlane()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	seedCluster(ctx, t, cs)
	kc := writeScanKubeconfig(ctx, t, c, cs)
	server := c.Config.Host
	where := `context "admin" (` + server + `)`
	deny := func(source, object string) string {
		return source + ": " + object + ": denied\n" +
			"  enforce [host-network] " + hostNetworkField(object) + ": " + hostNetworkMessage + "\n" +
			"      fix: " + hostNetworkFix + "\n"
	}
	kinds := func(deployments, replicaSets, pods string) string {
		return "read 0 CronJobs\nread " + deployments + "\nread 0 StatefulSets\nread 0 DaemonSets\nread 0 ReplicationControllers\n" +
			"read 0 PodTemplates\nread 0 Jobs\nread " + replicaSets + "\nread " + pods + "\n"
	}

	t.Run("whole cluster", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc)
		want := deny("admin", `Deployment "team-a/web"`) +
			`admin: Pod "bulwark-system/agent": exempt: namespace "bulwark-system" is exempt (Bulwark's own namespace)` + "\n" +
			`admin: Pod "kube-system/proxy": exempt: namespace "kube-system" is exempt` + "\n" +
			`admin: Pod "team-a/good": ok` + "\n" +
			deny("admin", `Pod "team-b/sniffer"`) +
			// Besides: 7 namespaces, 5 evaluated (audited by the namespace checks) and 2 exempt,
			// and the test's ClusterRole and ClusterRoleBinding for the viewer (Kubernetes' own
			// RBAC defaults are left out).
			"17 objects read from " + where + ": 10 evaluated (2 denied, 0 with warnings), 4 exempt, 3 counted against their owner\n"
		if code != exitDenied || withoutNamespaces(out) != want {
			t.Errorf("exit %d, want 1; stdout\n%s\nwant (besides the namespaces)\n%s", code, out, want)
		}
		if n := strings.Count(out, "admin: Namespace "); n != 7 {
			t.Errorf("%d namespaces reported, want the 7 of the cluster:\n%s", n, out)
		}
		for _, rbac := range []string{`admin: ClusterRole "scan-viewer": ok`, `admin: ClusterRoleBinding "scan-viewer": ok`} {
			if !strings.Contains(out, rbac+"\n") {
				t.Errorf("stdout lacks %q:\n%s", rbac, out)
			}
		}
		// Progress on a pipe: one line per kind.
		if wantErr := kinds("1 Deployment", "1 ReplicaSet", "6 Pods"); errOut != wantErr {
			t.Errorf("stderr\n%s\nwant\n%s", errOut, wantErr)
		}
	})

	// On a terminal, the progress line is redrawn per page and cleared before the report,
	// which is the same.
	t.Run("terminal", func(t *testing.T) {
		snap, err := policy.FromProfile("")
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		cf := &clusterFlags{enabled: true, kubeconfig: kc, bulwarkNamespace: defaultBulwarkNamespace}
		code := scanClusterWith(cf, snap, nil, scan.Formats[0], &out, &errOut, newProgress(&errOut, true))
		_, pipeOut, _ := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc)
		if code != exitDenied || out.String() != pipeOut {
			t.Errorf("exit %d, want 1; stdout\n%s\nwant\n%s", code, out.String(), pipeOut)
		}
		last := "Pods  6/6 [========================] 100%"
		if e := errOut.String(); !strings.HasPrefix(e, "\rCronJobs  0/0 [") || !strings.Contains(e, "\r"+last) || !strings.HasSuffix(e, "\r"+strings.Repeat(" ", len(last))+"\r") || strings.Contains(e, "\n") {
			t.Errorf("stderr %q", e)
		}
	})

	t.Run("namespace", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "--namespace", "team-a")
		want := deny("admin", `Deployment "team-a/web"`) +
			`admin: Pod "team-a/good": ok` + "\n" +
			`admin: Namespace "team-a": admitted` + "\n" +
			"  audit [namespace-limit-range] LimitRange: no LimitRange gives containers a default cpu or memory limit\n" +
			"      fix: add a LimitRange with a limit of type Container whose default, defaultRequest and max set cpu and memory\n" +
			"  audit [namespace-network-policy] NetworkPolicy: no NetworkPolicy selects every pod for ingress and egress, so its pods accept and open connections to and from anywhere in the cluster\n" +
			"      fix: add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] (default deny), then allow what the pods need\n" +
			"  audit [namespace-quota] ResourceQuota: no ResourceQuota (without scopes) caps the namespace's total cpu or memory, so its pods together may take every node's cpu and memory\n" +
			"      fix: add a ResourceQuota whose spec.hard caps requests.cpu, limits.cpu, requests.memory, limits.memory and pods\n" +
			`6 objects read from namespace "team-a" of ` + where + ": 3 evaluated (1 denied, 0 with warnings), 0 exempt, 3 counted against their owner\n"
		if code != exitDenied || out != want {
			t.Errorf("exit %d, want 1; stdout\n%s\nwant\n%s\nstderr\n%s", code, out, want, errOut)
		}
		code, out, _ = runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "-n", "kube-system")
		if code != exitOK || !strings.Contains(out, `2 objects read from namespace "kube-system" of `+where+": 0 evaluated (0 denied, 0 with warnings), 2 exempt, 0 counted against their owner\n") {
			t.Errorf("kube-system: exit %d, want 0\n%s", code, out)
		}
	})

	// The policy exempts the Deployment by name and only warns in namespaces labelled
	// tier=sandbox (team-b): nothing would be denied.
	policyFile := writeFile(t, t.TempDir(), "policy.yaml", `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
namespaces:
  rules:
    - name: sandbox
      selector: {matchLabels: {tier: sandbox}}
      action: warn
exemptions:
  - name: web-migration
    reason: moves off hostNetwork in TICKET-9
    namespace: team-a
    kinds: [Deployment]
    names: [web]
`)
	t.Run("policy", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "--policy", policyFile, "--bulwark-namespace", "")
		want := `admin: Deployment "team-a/web": exempt: exemption "web-migration" (Deployment "team-a/web")` + "\n" +
			`admin: Pod "bulwark-system/agent": denied` + "\n" +
			"  enforce [host-network] spec.hostNetwork: " + hostNetworkMessage + "\n" +
			"      fix: " + hostNetworkFix + "\n" +
			`admin: Pod "kube-system/proxy": exempt: namespace "kube-system" is exempt` + "\n" +
			`admin: Pod "team-a/good": ok` + "\n" +
			`admin: Pod "team-b/sniffer": admitted with warnings` + "\n" +
			"  warn [host-network] spec.hostNetwork: " + hostNetworkMessage + "\n" +
			"      fix: " + hostNetworkFix + "\n" +
			"17 objects read from " + where + ": 11 evaluated (1 denied, 2 with warnings), 3 exempt, 3 counted against their owner\n"
		if code != exitDenied || withoutNamespaces(out) != want {
			t.Errorf("exit %d, want 1; stdout\n%s\nwant\n%s\nstderr\n%s", code, out, want, errOut)
		}
		// With Bulwark's namespace exempt again, nothing is denied.
		code, out, _ = runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "--policy", policyFile)
		if code != exitOK || !strings.Contains(out, `admin: Pod "bulwark-system/agent": exempt`) {
			t.Errorf("exit %d, want 0\n%s", code, out)
		}
	})

	t.Run("json", func(t *testing.T) {
		code, out, _ := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "--output", "json", "--policy", policyFile)
		if code != exitOK {
			t.Errorf("exit %d, want 0", code)
		}
		var rep struct {
			Results []struct {
				Source, Kind, Namespace, Name, UID, Decision, Exempt string
				Line                                                 int
				Violations                                           []struct{ Check, Field, Action string }
			}
			Summary map[string]int
			Cluster map[string]any
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var got []string
		for _, r := range rep.Results {
			if r.Kind != "Pod" && r.Kind != "Deployment" {
				continue // namespaces and RBAC objects, pinned by the text subtests
			}
			s := r.Source + " " + r.Kind + " " + r.Namespace + "/" + r.Name + " " + r.Decision
			for _, v := range r.Violations {
				s += " " + v.Action + ":" + v.Check + ":" + v.Field
			}
			if r.UID == "" || r.Line != 0 {
				t.Errorf("%s: uid %q, line %d", s, r.UID, r.Line)
			}
			got = append(got, s)
		}
		want := []string{
			"admin Deployment team-a/web exempt",
			"admin Pod bulwark-system/agent exempt",
			"admin Pod kube-system/proxy exempt",
			"admin Pod team-a/good ok",
			"admin Pod team-b/sniffer warned warn:host-network:spec.hostNetwork",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("results\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// Besides the pods: 7 namespaces, 5 of them audited (team-b's warned, by its rule), 2
		// exempt; and the viewer's ClusterRole and ClusterRoleBinding, ok.
		if s := rep.Summary; s["objects"] != 14 || s["denied"] != 0 || s["warned"] != 2 || s["ok"] != 3 || s["admitted"] != 4 || s["exempt"] != 5 {
			t.Errorf("summary %v", s)
		}
		wantCluster := map[string]any{"context": "admin", "server": server, "read": 17.0, "evaluated": 9.0, "exempt": 5.0, "owned": 3.0}
		if b, w := mustJSON(t, rep.Cluster), mustJSON(t, wantCluster); b != w {
			t.Errorf("cluster %s, want %s", b, w)
		}
	})

	t.Run("sarif", func(t *testing.T) {
		code, out, _ := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "-o", "sarif", "-n", "team-b")
		if code != exitDenied {
			t.Errorf("exit %d, want 1", code)
		}
		for _, want := range []string{
			`"uri": "` + strings.TrimSuffix(server, "/") + `/api/v1/namespaces/team-b/pods/sniffer"`,
			`"text": "Pod \"team-b/sniffer\": ` + hostNetworkMessage + `. Fix: ` + hostNetworkFix + `"`,
			`"fullyQualifiedName": "spec.hostNetwork"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("SARIF lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, `"region"`) {
			t.Errorf("a cluster object has a region:\n%s", out)
		}
	})

	// With --resolve-images, the images are looked up (with the local Docker configuration's
	// credentials) and the note says where the webhook would leave runAsNonRoot out: for the
	// Deployment of a root image, not for the Pod of a non-root one.
	t.Run("resolve images", func(t *testing.T) {
		reg := registrytest.Start(t, "", "")
		reg.Push(t, "shop/web:1.27", "")
		reg.Push(t, "shop/api:2", "65532")
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		web, api := reg.Ref("shop/web:1.27"), reg.Ref("shop/api:2")
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "images"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app": "web"}
		spec := func(image string) corev1.PodSpec {
			return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}
		}
		if _, err := cs.AppsV1().Deployments("images").Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec(web)}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Pods("images").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: spec(api)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "-n", "images", "--resolve-images")
		note := "  note: bulwark: image " + web + " runs as root (no USER); runAsNonRoot was not added because the kubelet would refuse to start it. Fix: set securityContext.runAsUser, or build the image with a numeric non-root USER\n"
		if code != exitOK || !strings.Contains(out, `admin: Deployment "images/web": admitted with warnings`+"\n"+note) || strings.Count(out, "note:") != 1 {
			t.Errorf("exit %d, want 0; stdout\n%s\nwant the Deployment's note, and only it:\n%s\nstderr\n%s", code, out, note, errOut)
		}
		if n := reg.Manifests.Load(); n != 2 {
			t.Errorf("%d manifest reads, want one per image", n)
		}
		code, out, _ = runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "-n", "images")
		if code != exitOK || strings.Contains(out, "note:") || reg.Manifests.Load() != 2 {
			t.Errorf("without --resolve-images: exit %d, %d manifest reads, stdout\n%s", code, reg.Manifests.Load(), out)
		}
	})

	// The viewer may list the kinds but not get namespaces: one warning, and the sandbox rule,
	// which selects by label, does not apply.
	t.Run("namespaces forbidden", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "--context", "viewer", "--policy", policyFile, "-n", "team-b")
		want := deny("viewer", `Pod "team-b/sniffer"`) +
			`1 object read from namespace "team-b" of context "viewer" (` + server + "): 1 evaluated (1 denied, 0 with warnings), 0 exempt, 0 counted against their owner\n"
		if code != exitDenied || out != want {
			t.Errorf("exit %d, want 1; stdout\n%s\nwant\n%s", code, out, want)
		}
		warning := `bulwark scan: warning: namespace labels unknown, namespace rules that select namespaces by label and the bulwark.dev/mode label were not applied: namespaces "team-b" is forbidden: User "viewer" cannot get resource "namespaces"`
		if strings.Count(errOut, "warning:") != 1 || !strings.Contains(errOut, warning) {
			t.Errorf("stderr lacks one %q:\n%s", warning, errOut)
		}
	})

	t.Run("list forbidden", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "--context", "nobody")
		if code != exitUsage || out != "" {
			t.Errorf("exit %d, want 2, stdout %q", code, out)
		}
		for _, want := range []string{
			`bulwark scan: context "nobody" (server ` + server + `, kubeconfig ` + kc + `): listing CronJobs: cronjobs.batch is forbidden: User "nobody" cannot list resource "cronjobs"`,
			"bulwark scan: the scan lists cronjobs, deployments, statefulsets, daemonsets, replicationcontrollers, podtemplates, jobs, replicasets, pods in every namespace; get on namespaces is optional\n",
			"bulwark scan: no report: the scan did not read every object\n",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})
}

// withoutNamespaces drops the results of namespaces and RBAC objects (a line naming the object
// and its indented lines) from a text report.
func withoutNamespaces(out string) string {
	var b strings.Builder
	skipping := false
	for _, line := range strings.SplitAfter(out, "\n") {
		switch {
		case strings.Contains(line, ": Namespace \""), strings.Contains(line, ": ClusterRole"), strings.Contains(line, ": Role"):
			skipping = true
			continue
		case skipping && strings.HasPrefix(line, " "):
			continue
		}
		skipping = false
		b.WriteString(line)
	}
	return b.String()
}

// hostNetworkField is where a kind keeps hostNetwork.
func hostNetworkField(object string) string {
	if strings.HasPrefix(object, "Pod ") {
		return "spec.hostNetwork"
	}
	return "spec.template.spec.hostNetwork"
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seedCluster creates the namespaces and objects TestScanClusterAPIServer scans.
func seedCluster(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bulwark-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Labels: map[string]string{"tier": "sandbox"}}},
	} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	good := podFromYAML(t, compliantPod)
	bad := podFromYAML(t, hostNetworkPod)
	labels := map[string]string{"app": "web"}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: bad.Spec}
	dep, err := cs.AppsV1().Deployments("team-a").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := cs.AppsV1().ReplicaSets("team-a").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8", OwnerReferences: controlledBy("apps/v1", "Deployment", dep.Name, dep.UID)},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := []struct {
		ns, name string
		spec     corev1.PodSpec
		owner    []metav1.OwnerReference
	}{
		{"team-a", "web-5d8-a", bad.Spec, controlledBy("apps/v1", "ReplicaSet", rs.Name, rs.UID)},
		{"team-a", "web-5d8-b", bad.Spec, controlledBy("apps/v1", "ReplicaSet", rs.Name, rs.UID)},
		{"team-a", "good", good.Spec, nil},
		{"team-b", "sniffer", bad.Spec, nil},
		{"kube-system", "proxy", bad.Spec, nil},
		{"bulwark-system", "agent", bad.Spec, nil},
	}
	for _, p := range pods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: labels, OwnerReferences: p.owner}, Spec: p.spec}
		if _, err := cs.CoreV1().Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func controlledBy(apiVersion, kind, name string, uid types.UID) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}}
}

func podFromYAML(t *testing.T, s string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// writeScanKubeconfig writes a kubeconfig with three contexts on the cluster: admin
// (system:masters, the current context), viewer (may list the kinds a scan reads, not get
// namespaces) and nobody (no permission at all).
func writeScanKubeconfig(ctx context.Context, t *testing.T, c *framework.Cluster, cs kubernetes.Interface) string {
	t.Helper()
	var resources []string
	for _, k := range audit.Kinds() {
		resources = append(resources, k.Resource)
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "scan-viewer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"", "apps", "batch"}, Resources: resources, Verbs: []string{"list"}}},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "scan-viewer"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "viewer"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var users []framework.KubeconfigUser
	for _, u := range []struct {
		name   string
		groups []string
	}{{"admin", []string{"system:masters"}}, {"viewer", nil}, {"nobody", nil}} {
		user, err := c.User(u.name, u.groups...)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, user)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := framework.WriteKubeconfigFile(path, c.Config, users...); err != nil {
		t.Fatal(err)
	}
	return path
}
