package node

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// policyTimeout bounds how long the node's NetworkPolicy implementation (kube-router, which
// syncs its rules asynchronously) may take to apply a change.
const policyTimeout = 90 * time.Second

// networkPolicyIsolates proves that NetworkPolicies hold on the node, with a default-deny
// NetworkPolicy as the isolation.
func networkPolicyIsolates(t *testing.T, cs *kubernetes.Clientset) {
	isolates(t, cs, "netpol-server", "netpol-client", createDefaultDeny)
}

// createDefaultDeny isolates every pod of ns both ways.
func createDefaultDeny(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	createPolicy(t, cs, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "bulwark-default-deny", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	})
}

// isolates runs a server pod in serverNS and a client pod in clientNS, and shows with new
// connections from the client that: the client reaches the server; once isolate has done its
// part for serverNS, it does not; and with a policy in serverNS allowing ingress from clientNS,
// it does again. The namespaces are deleted at the end.
func isolates(t *testing.T, cs kubernetes.Interface, serverNS, clientNS string, isolate func(*testing.T, kubernetes.Interface, string)) {
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

	isolate(t, cs, serverNS)
	start := time.Now()
	eventually(t, policyTimeout, serverNS+" isolated: the client's connections refused", refused)
	t.Logf("%s isolated %.1fs after its policy was created; the client: %s", serverNS, time.Since(start).Seconds(), denial)

	createPolicy(t, cs, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-from-" + clientNS, Namespace: serverNS},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": clientNS}},
			}}}},
		},
	})
	start = time.Now()
	eventually(t, policyTimeout, "ingress from "+clientNS+" allowed: the client reaches the server again", reaches)
	t.Logf("ingress from %s allowed %.1fs after its policy was created", clientNS, time.Since(start).Seconds())
}

func createPolicy(t *testing.T, cs kubernetes.Interface, p *networkingv1.NetworkPolicy) {
	t.Helper()
	if _, err := cs.NetworkingV1().NetworkPolicies(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating NetworkPolicy %s/%s: %v", p.Namespace, p.Name, err)
	}
}
