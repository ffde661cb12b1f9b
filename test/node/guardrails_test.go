package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// policyTimeout bounds how long the node's NetworkPolicy implementation (kube-router, which
// syncs its rules asynchronously) may take to apply a change.
const policyTimeout = 90 * time.Second

// tenantLabel marks the namespaces the guardrails are kept in: the policy of this step turns
// the namespace checks off elsewhere, so that the other steps' namespaces stay as they are.
const tenantLabel = "tenant"

// guardrailQuota is the quota the guardrails give each tenant namespace here: room for two
// containers at the injected limit of 500m CPU.
var guardrailQuota = map[string]any{"requests.cpu": "1", "limits.cpu": "1", "requests.memory": "1Gi", "limits.memory": "2Gi", "pods": "20"}

// guardrailsGuardTenants turns the policy's guardrails on (helm upgrade with
// policy.guardrails.create) for the namespaces labelled tenant, and proves on the node what
// they are for: a guarded pod reaches another namespace only once a policy allows it, a miner
// scaled to 40 replicas stays within the namespace's quota, and an anonymous binding is refused.
func guardrailsGuardTenants(t *testing.T, cs *kubernetes.Clientset) {
	off := map[string]any{"action": "off"}
	values := map[string]any{"policy": map[string]any{
		"namespaces": map[string]any{"rules": []any{map[string]any{
			"name":     "tenants-only",
			"selector": map[string]any{"matchExpressions": []any{map[string]any{"key": tenantLabel, "operator": "DoesNotExist"}}},
			"checks":   map[string]any{"namespace-quota": off, "namespace-limit-range": off, "namespace-network-policy": off},
		}}},
		"guardrails": map[string]any{"create": true, "resourceQuota": map[string]any{"hard": guardrailQuota}},
	}}
	b, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "bulwark-guardrails-") // helm splits -f at commas, which t.TempDir may hold
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := helm(t, "upgrade", release, "charts/bulwark", "--namespace", bulwarkNS, "--reuse-values", "-f", file, "--wait", "--timeout", "3m"); err != nil {
		t.Fatalf("helm upgrade with policy.guardrails.create: %v\n%s", err, out)
	}
	eventually(t, time.Minute, "the upgraded Bulwark denying", func(context.Context) string {
		if err := waitDenied(); err != nil {
			return err.Error()
		}
		return ""
	})
	t.Run("a guarded pod reaches another namespace only once allowed", func(t *testing.T) { guardedEgress(t, cs) })
	t.Run("a miner scaled to 40 stays within the quota", func(t *testing.T) { minerMeetsQuota(t, cs) })
	t.Run("binding system:anonymous is denied", func(t *testing.T) { anonymousBindingDenied(t) })
}

// waitGuardrails waits for Bulwark's three guardrails in ns.
func waitGuardrails(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	eventually(t, time.Minute, "the guardrails in "+ns, func(ctx context.Context) string {
		if _, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "bulwark-quota", metav1.GetOptions{}); err != nil {
			return err.Error()
		}
		if _, err := cs.CoreV1().LimitRanges(ns).Get(ctx, "bulwark-limits", metav1.GetOptions{}); err != nil {
			return err.Error()
		}
		if _, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, "bulwark-default-deny", metav1.GetOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}

// guardedEgress: the client's namespace becomes a tenant, Bulwark's default-deny cuts its
// connections to a server in another namespace, and an egress policy lets them through again.
func guardedEgress(t *testing.T, cs *kubernetes.Clientset) {
	const clientNS = "tenant-net"
	isolates(t, cs, "netpol-server", clientNS, func(t *testing.T, cs kubernetes.Interface) {
		ns, err := cs.CoreV1().Namespaces().Get(context.Background(), clientNS, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels[tenantLabel] = "yes"
		if _, err := cs.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitGuardrails(t, cs, clientNS)
		t.Logf("Bulwark created the guardrails of %s %.1fs after it became a tenant", clientNS, time.Since(start).Seconds())
	}, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-to-netpol-server", Namespace: clientNS},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "netpol-server"}},
			}}}},
		},
	})
}

// isolates runs a server pod in serverNS and a client pod in clientNS, and shows with new
// connections from the client that: the client reaches the server; once isolate has done its
// part, it does not; and once the allow policy is created, it does again. The namespaces are
// deleted at the end.
func isolates(t *testing.T, cs kubernetes.Interface, serverNS, clientNS string, isolate func(*testing.T, kubernetes.Interface), allow *networkingv1.NetworkPolicy) {
	ctx := context.Background()
	lbls := map[string]string{"app": "netpol"}
	for _, ns := range []string{serverNS, clientNS} {
		createNamespace(t, cs, ns, nil)
		t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "netpol", Labels: lbls},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "bulwark.local/test/nonroot:1"}}},
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s/netpol: %v", ns, err)
		}
	}
	for _, ns := range []string{serverNS, clientNS} {
		eventually(t, 90*time.Second, "pod "+ns+"/netpol Running", func(ctx context.Context) string {
			return podsReady(ctx, cs, ns, lbls, 1)
		})
	}
	server, err := cs.CoreV1().Pods(serverNS).Get(ctx, "netpol", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + server.Status.PodIP + ":8080/"
	// fetch GETs url from the client pod on a new connection: nil when the server answered,
	// else what failed.
	fetch := func(ctx context.Context) (string, error) {
		k := node.Kubectl("exec", "--namespace", clientNS, "netpol", "--", "/testimage", "fetch", "--timeout", "2s", url)
		out, err := exec.CommandContext(ctx, k.Path, k.Args[1:]...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	reaches := func(ctx context.Context) string {
		if out, err := fetch(ctx); err != nil {
			return "the client does not reach the server: " + err.Error() + ": " + out
		}
		return ""
	}
	// refused is "" once the client's request fails in the network (refused or timed out),
	// not for another reason such as kubectl's; denial is then what the client said.
	var denial string
	refused := func(ctx context.Context) string {
		out, err := fetch(ctx)
		switch {
		case err == nil:
			return "the client still reaches the server: " + out
		case !strings.Contains(out, "testimage: Get "):
			return "the client's request failed otherwise: " + err.Error() + ": " + out
		}
		denial = out
		return ""
	}

	eventually(t, policyTimeout, "with no NetworkPolicy, the client in "+clientNS+" reaches the server in "+serverNS+" at "+url, reaches)

	isolate(t, cs)
	start := time.Now()
	eventually(t, policyTimeout, "isolated: the client's connections refused", refused)
	t.Logf("isolated %.1fs after the policy was created; the client: %s", time.Since(start).Seconds(), denial)

	createPolicy(t, cs, allow)
	start = time.Now()
	eventually(t, policyTimeout, "allowed by "+allow.Name+": the client reaches the server again", reaches)
	t.Logf("allowed %.1fs after %s/%s was created", time.Since(start).Seconds(), allow.Namespace, allow.Name)
}

func createPolicy(t *testing.T, cs kubernetes.Interface, p *networkingv1.NetworkPolicy) {
	t.Helper()
	if _, err := cs.NetworkingV1().NetworkPolicies(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating NetworkPolicy %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// minerMeetsQuota scales a miner to 40 replicas in a tenant namespace: the ReplicaSet is
// refused every pod beyond the quota Bulwark created, naming it, and the pods that run use no
// more CPU together than the quota's limits.cpu.
func minerMeetsQuota(t *testing.T, cs *kubernetes.Clientset) {
	const ns = "tenant-mine"
	ctx := context.Background()
	createNamespace(t, cs, ns, map[string]string{tenantLabel: "yes"})
	t.Cleanup(func() { deleteNamespace(cs, ns) })
	waitGuardrails(t, cs, ns)
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, bareDeployment("miner", "bulwark.local/test/miner:1", 40), metav1.CreateOptions{}); err != nil {
		t.Fatalf("the miner was not admitted: %v", err)
	}
	eventually(t, 90*time.Second, "a FailedCreate naming bulwark-quota", func(context.Context) string {
		if msg := failedCreate(cs, ns); strings.Contains(msg, "exceeded quota: bulwark-quota") {
			t.Logf("the ReplicaSet: %s", msg)
			return ""
		}
		return "none yet: " + firstLine(failedCreate(cs, ns))
	})
	quotaCPU := resource.MustParse(guardrailQuota["limits.cpu"].(string))
	perPod := resource.MustParse("500m") // the injected limit
	want := int(quotaCPU.MilliValue() / perPod.MilliValue())
	eventually(t, 90*time.Second, "the miners the quota admits Running", func(ctx context.Context) string {
		return podsReady(ctx, cs, ns, map[string]string{"app": "miner"}, want)
	})
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=miner"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != want {
		t.Fatalf("%d miner pods exist of 40 asked for, want the %d the quota's limits.cpu %s admits", len(pods.Items), want, quotaCPU.String())
	}
	q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "bulwark-quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := q.Status.Used[corev1.ResourceLimitsCPU]
	t.Logf("bulwark-quota: limits.cpu used %s of %s, pods %s", used.String(), quotaCPU.String(), q.Status.Used.Pods().String())

	files := make([]string, len(pods.Items))
	for i, p := range pods.Items {
		files[i] = filepath.Join(podCgroup(t, "cpuacct", string(p.UID)), "cpuacct.usage")
	}
	total := func() float64 {
		sum := 0.0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ns, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			if err != nil {
				t.Fatal(err)
			}
			sum += ns
		}
		return sum
	}
	time.Sleep(2 * time.Second) // past the start
	u0, t0 := total(), time.Now()
	time.Sleep(10 * time.Second)
	u1, t1 := total(), time.Now()
	cores := (u1 - u0) / 1e9 / t1.Sub(t0).Seconds()
	limit := float64(quotaCPU.MilliValue()) / 1000
	t.Logf("the namespace's %d miners used %.3f cores together over %.1fs; the quota's limits.cpu is %s", len(files), cores, t1.Sub(t0).Seconds(), quotaCPU.String())
	if cores > limit*1.10 {
		t.Errorf("the miners used %.3f cores, above the quota's limits.cpu %s", cores, quotaCPU.String())
	}
	if cores < limit*0.8 {
		t.Errorf("the miners used %.3f cores: they do not burn what the quota admits (%s), so the measure proves nothing", cores, quotaCPU.String())
	}
	time.Sleep(5 * time.Second)
	if pods, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=miner"}); err != nil || len(pods.Items) != want {
		t.Errorf("after 15s more, %d miner pods (%v), want still %d", len(pods.Items), err, want)
	}
}

// anonymousBindingDenied applies the sample that binds system:anonymous through kubectl.
func anonymousBindingDenied(t *testing.T) {
	out, err := kubectl("apply", "-n", "default", "-f", filepath.Join(repoRoot, "config/samples/rbac/denied-anonymous-rolebinding.yaml"))
	if err == nil {
		t.Fatalf("kubectl apply of a RoleBinding to system:anonymous succeeded:\n%s", out)
	}
	for _, want := range []string{`admission webhook "rbac.bulwark.dev" denied the request`, `RoleBinding "public-status" violates 1 Bulwark check`, "[anonymous-binding] subjects[0].name: binds ClusterRole \"view\" to user system:anonymous"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl's error lacks %q:\n%s", want, out)
		}
	}
	t.Logf("kubectl apply: %s", strings.TrimSpace(out))
}
