package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const (
	release   = "bulwark"
	bulwarkNS = "bulwark-system"
)

var bulwarkSelector = map[string]string{"app.kubernetes.io/name": "bulwark", "app.kubernetes.io/instance": release}

// TestBulwarkOnNode starts workloads, installs the chart with the locally built image and its
// default values (the policy in mode audit), rolls the policy out to enforce, and then, in
// order, proves on running pods what the chart's users rely on; the last steps upgrade and
// uninstall it.
func TestBulwarkOnNode(t *testing.T) {
	cs := clientset(t)
	runBeforeInstall(t, cs)
	install(t, cs)
	steps := []struct {
		name string
		run  func(*testing.T, *kubernetes.Clientset)
	}{
		{"what ran before the install keeps running", keepsRunningAfterInstall},
		{"install matrix with the chart's defaults", installMatrix},
		{"roll out to enforce with an expiring exemption for the node agent", rolloutToEnforce},
		{"denies a hostNetwork pod through the Service", deniesHostNetwork},
		{"a mutated Deployment runs", mutatedDeploymentRuns},
		{"guardrails: default-deny networking, a quota against miners, no anonymous bindings", guardrailsGuardTenants},
		{"no failed admission while a replica is deleted", failoverUnderLoad},
		{"slow bodies on one replica while admissions go on", slowClientsUnderLoad},
		{"the injected CPU limit holds against a miner", minerIsLimited},
		{"samples: admitted run, denied never reach the node", samplesRunOrNeverReachNode},
		{"runAsNonRoot on a root image", rootImageUnderRunAsNonRoot},
		{"the audit finds a privileged DaemonSet's pods", auditFindsPrivilegedDaemonSet},
		{"helm upgrade rolls the pods", upgradeRollsPods},
		{"image lookups let a root server run from the node's registry", imageLookupsKeepRootImagesRunning},
		{"helm uninstall leaves the cluster usable", uninstallLeavesClusterUsable},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { s.run(t, cs) })
	}
}

func install(t *testing.T, cs *kubernetes.Clientset) {
	repo, tag, _ := strings.Cut(bulwarkTag, ":")
	out, err := helm(t, "install", release, "charts/bulwark", "--namespace", bulwarkNS, "--create-namespace",
		"--set", "image.repository="+repo, "--set", "image.tag="+tag, "--set", "image.pullPolicy=Never",
		"--set", "audit.interval=10s", "--wait", "--timeout", "3m")
	if err != nil {
		t.Fatalf("helm install: %v\n%s\n%s", err, out, describeBulwark(cs))
	}
	eventually(t, time.Minute, "2 Bulwark replicas Ready", func(ctx context.Context) string {
		return podsReady(ctx, cs, bulwarkNS, bulwarkSelector, 2)
	})
	ctx := context.Background()
	secret, err := cs.CoreV1().Secrets(bulwarkNS).Get(ctx, "bulwark-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the built-in TLS did not create its Secret: %v", err)
	}
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if len(secret.Data[k]) == 0 {
			t.Errorf("Secret bulwark-tls has no %s", k)
		}
	}
	eventually(t, time.Minute, "the CA bundle injected into both webhooks", func(ctx context.Context) string {
		v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		for _, cc := range []struct {
			name   string
			bundle []byte
			svc    bool
		}{{"validating", v.Webhooks[0].ClientConfig.CABundle, v.Webhooks[0].ClientConfig.Service != nil}, {"mutating", m.Webhooks[0].ClientConfig.CABundle, m.Webhooks[0].ClientConfig.Service != nil}} {
			if !cc.svc {
				return cc.name + " webhook does not call a Service"
			}
			if !strings.Contains(string(cc.bundle), string(secret.Data["ca.crt"])) {
				return cc.name + " webhook's caBundle does not hold the Secret's ca.crt"
			}
		}
		return ""
	})
	// Ready pods are not yet reachable through the Service: kube-proxy writes the new
	// endpoints into its rules a moment later.
	eventually(t, 30*time.Second, "the apiserver reaches Bulwark through the Service", func(context.Context) string {
		if err := waitAnswered(); err != nil {
			return err.Error()
		}
		return ""
	})
}

// describeBulwark is how Bulwark's pods stand, for a failure message.
func describeBulwark(cs kubernetes.Interface) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return podsReady(ctx, cs, bulwarkNS, bulwarkSelector, 2)
}

func deniesHostNetwork(t *testing.T, _ *kubernetes.Clientset) {
	out, err := kubectl("apply", "-f", repoRoot+"/config/samples/workloads/denied-hostnetwork-pod.yaml")
	if err == nil {
		t.Fatalf("a hostNetwork pod was admitted:\n%s", out)
	}
	for _, want := range []string{`admission webhook "validate.bulwark.dev" denied the request`, "[host-network] spec.hostNetwork"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl's output lacks %q:\n%s", want, out)
		}
	}
}

// bareDeployment is a Deployment as tutorials write it: no securityContext, no resources.
func bareDeployment(name, image string, replicas int32) *appsv1.Deployment {
	lbls := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
}

func mutatedDeploymentRuns(t *testing.T, cs *kubernetes.Clientset) {
	ctx := context.Background()
	createNamespace(t, cs, "apps", nil)
	d := bareDeployment("web", "bulwark.local/test/nonroot:1", 2)
	if _, err := cs.AppsV1().Deployments("apps").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the mutated Deployment's pods Running and Ready", func(ctx context.Context) string {
		return podsReady(ctx, cs, "apps", map[string]string{"app": "web"}, 2)
	})
	pods, err := cs.CoreV1().Pods("apps").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	p := pods.Items[0]
	sc, c := p.Spec.SecurityContext, p.Spec.Containers[0]
	switch {
	case sc != nil && sc.RunAsNonRoot != nil:
		// The node's images are imported, not served by a registry Bulwark can reach: the
		// lookup fails, and runAsNonRoot is left out rather than risk a pod that cannot start.
		t.Errorf("pod %s: runAsNonRoot was set although its image could not be looked up: %+v", p.Name, sc)
	case sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod %s: seccompProfile RuntimeDefault was not set: %+v", p.Name, sc)
	case c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation:
		t.Errorf("pod %s: allowPrivilegeEscalation false was not set", p.Name)
	case c.Resources.Limits.Cpu().String() != "500m" || c.Resources.Limits.Memory().String() != "512Mi":
		t.Errorf("pod %s: limits %v, want the defaults cpu 500m, memory 512Mi", p.Name, c.Resources.Limits)
	}
}

// failoverUnderLoad keeps admission requests going (server-side dry runs of a compliant pod)
// while one Bulwark pod is deleted and replaced, and counts what failed.
func failoverUnderLoad(t *testing.T, cs *kubernetes.Clientset) {
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(bulwarkNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=bulwark"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("listing Bulwark's pods: %v (%d)", err, len(pods.Items))
	}
	victim := pods.Items[0].Name
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "load-"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "bulwark.local/test/nonroot:1"}}},
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	done := make(chan *loadResult, 1)
	go func() { done <- admissions(loadCtx, cs, "apps", probe, 4) }()
	time.Sleep(2 * time.Second)
	if err := cs.CoreV1().Pods(bulwarkNS).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}
	eventually(t, 2*time.Minute, "a replacement Bulwark pod Ready", func(ctx context.Context) string {
		if _, err := cs.CoreV1().Pods(bulwarkNS).Get(ctx, victim, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return victim + " still exists"
		}
		return podsReady(ctx, cs, bulwarkNS, bulwarkSelector, 2)
	})
	time.Sleep(3 * time.Second)
	stopLoad()
	load := <-done
	t.Logf("%d admission requests while %s was deleted and replaced, %d failed", load.sent(), victim, load.failed)
	if load.failed > 0 {
		t.Errorf("%d of %d admission requests failed during the failover; first: %v", load.failed, load.sent(), load.firstErr)
	}
	if load.sent() < 100 {
		t.Errorf("only %d requests were sent: the load did not cover the failover", load.sent())
	}
}

func upgradeRollsPods(t *testing.T, cs *kubernetes.Clientset) {
	ctx := context.Background()
	before, err := cs.CoreV1().Pods(bulwarkNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=bulwark"})
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	for _, p := range before.Items {
		old[p.Name] = true
	}
	out, err := helm(t, "upgrade", release, "charts/bulwark", "--namespace", bulwarkNS, "--reuse-values",
		"--set", "podAnnotations.rolled=yes", "--wait", "--timeout", "3m")
	if err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	eventually(t, 2*time.Minute, "every Bulwark pod replaced and Ready", func(ctx context.Context) string {
		pods, err := cs.CoreV1().Pods(bulwarkNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=bulwark"})
		if err != nil {
			return err.Error()
		}
		for _, p := range pods.Items {
			if old[p.Name] || p.Annotations["rolled"] != "yes" {
				return p.Name + " is from before the upgrade"
			}
		}
		return podsReady(ctx, cs, bulwarkNS, bulwarkSelector, 2)
	})
	if err := waitDenied(); err != nil {
		t.Errorf("after the upgrade: %v", err)
	}
}

// waitDenied checks that a hostNetwork pod is denied (Bulwark answers).
func waitDenied() error {
	out, err := kubectl("apply", "--dry-run=server", "-f", repoRoot+"/config/samples/workloads/denied-hostnetwork-pod.yaml")
	if err == nil || !strings.Contains(out, "[host-network]") {
		return fmt.Errorf("a hostNetwork pod was not denied by Bulwark: %v\n%s", err, out)
	}
	return nil
}

func uninstallLeavesClusterUsable(t *testing.T, cs *kubernetes.Clientset) {
	out, err := helm(t, "uninstall", release, "--namespace", bulwarkNS, "--wait", "--timeout", "2m")
	if err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	ctx := context.Background()
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ValidatingWebhookConfiguration is still there: %v", err)
	}
	createNamespace(t, cs, "after", nil)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "after-uninstall", Labels: map[string]string{"app": "after"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "bulwark.local/test/nonroot:1"}}},
	}
	if _, err := cs.CoreV1().Pods("after").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a pod after the uninstall: %v", err)
	}
	eventually(t, time.Minute, "a pod created after the uninstall Running", func(ctx context.Context) string {
		return podsReady(ctx, cs, "after", map[string]string{"app": "after"}, 1)
	})
}
