package node

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// minerIsLimited is the NSA/CISA advisory's scenario: a miner with no resources is admitted
// under the default policy, gets the default limits from the mutating webhook, and its CPU,
// read from its pod's cgroup over 10 seconds, stays within 10% of the injected limit.
func minerIsLimited(t *testing.T, cs *kubernetes.Clientset) {
	ctx := context.Background()
	createNamespace(t, cs, "miners", nil)
	d := bareDeployment("miner", "bulwark.local/test/miner:1", 1)
	if _, err := cs.AppsV1().Deployments("miners").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the miner was not admitted: %v", err)
	}
	eventually(t, 90*time.Second, "the miner Running", func(ctx context.Context) string {
		return podsReady(ctx, cs, "miners", map[string]string{"app": "miner"}, 1)
	})
	pods, err := cs.CoreV1().Pods("miners").List(ctx, metav1.ListOptions{LabelSelector: "app=miner"})
	if err != nil {
		t.Fatal(err)
	}
	pod := pods.Items[0]
	limit := pod.Spec.Containers[0].Resources.Limits.Cpu()
	if limit.MilliValue() != 500 {
		t.Fatalf("the miner's CPU limit is %s, want the injected default 500m", limit)
	}
	usage := filepath.Join(podCgroup(t, "cpuacct", string(pod.UID)), "cpuacct.usage")
	time.Sleep(2 * time.Second) // past the start
	read := func() float64 {
		b, err := os.ReadFile(usage)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	u0, t0 := read(), time.Now()
	time.Sleep(10 * time.Second)
	u1, t1 := read(), time.Now()
	cores := (u1 - u0) / 1e9 / t1.Sub(t0).Seconds()
	want := float64(limit.MilliValue()) / 1000
	t.Logf("the miner used %.3f cores over %.1fs under a limit of %s", cores, t1.Sub(t0).Seconds(), limit)
	if math.Abs(cores-want)/want > 0.10 {
		t.Errorf("the miner used %.3f cores, not within 10%% of its limit %.3f", cores, want)
	}
}

// podCgroup finds the directory of a pod's cgroup in one v1 hierarchy, below the node's.
func podCgroup(t *testing.T, hierarchy, uid string) string {
	t.Helper()
	root := filepath.Join("/sys/fs/cgroup", hierarchy, node.CgroupPath())
	var found string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "pod"+uid {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no cgroup pod%s below %s", uid, root)
	}
	return found
}

// samplesRunOrNeverReachNode applies every sample workload as it is in the repository: the
// admitted ones become Ready (their images are local stand-ins under the same names), the
// denied ones are refused at kubectl apply and leave no pod and no event behind.
func samplesRunOrNeverReachNode(t *testing.T, cs *kubernetes.Clientset) {
	ctx := context.Background()
	createNamespace(t, cs, "samples", nil)
	createNamespace(t, cs, "denied-samples", nil)
	files, err := filepath.Glob(filepath.Join(repoRoot, "config/samples/workloads/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	var admitted []*unstructured.Unstructured
	for _, f := range files {
		base := filepath.Base(f)
		obj := readManifest(t, f)
		switch {
		case strings.HasPrefix(base, "admitted-"):
			if out, err := kubectl("apply", "-n", "samples", "-f", f); err != nil {
				t.Errorf("%s was not admitted: %v\n%s", base, err, out)
				continue
			}
			admitted = append(admitted, obj)
		case strings.HasPrefix(base, "denied-"):
			out, err := kubectl("apply", "-n", "denied-samples", "-f", f)
			if err == nil || !strings.Contains(out, "denied the request") {
				t.Errorf("%s was not denied: %v\n%s", base, err, out)
			}
		default:
			t.Errorf("%s: a sample is named admitted-* or denied-*", base)
		}
	}
	for _, obj := range admitted {
		if obj.GetKind() != "Deployment" {
			t.Errorf("%s %s: only Deployments are waited for here", obj.GetKind(), obj.GetName())
			continue
		}
		name := obj.GetName()
		eventually(t, 2*time.Minute, "sample Deployment "+name+" available", func(ctx context.Context) string {
			d, err := cs.AppsV1().Deployments("samples").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if deploymentAvailable(d) {
				return ""
			}
			return podsReady(ctx, cs, "samples", d.Spec.Selector.MatchLabels, int(ptr.Deref(d.Spec.Replicas, 1)))
		})
	}
	pods, err := cs.CoreV1().Pods("denied-samples").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := cs.CoreV1().Events("denied-samples").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) > 0 || len(events.Items) > 0 {
		t.Errorf("denied samples reached the cluster: %d pods, %d events", len(pods.Items), len(events.Items))
	}
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	want := ptr.Deref(d.Spec.Replicas, 1)
	return d.Status.ObservedGeneration >= d.Generation && d.Status.ReadyReplicas == want &&
		d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want
}

func readManifest(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &obj.Object); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

// rootImageUnderRunAsNonRoot shows the kubelet's rule the mutation steers clear of: a pod of
// an image that runs as root, given runAsNonRoot by its author, is admitted and then refused
// by the kubelet (CreateContainerConfigError). The same pod without it is not given
// runAsNonRoot by Bulwark, whose lookup of the image fails (the node's images are imported),
// and a warning says why; it runs.
func rootImageUnderRunAsNonRoot(t *testing.T, cs *kubernetes.Clientset) {
	ctx := context.Background()
	createNamespace(t, cs, "rootimage", nil)
	t.Cleanup(func() { deleteNamespace(cs, "rootimage") })
	pod := func(name string, sc *corev1.PodSecurityContext) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{SecurityContext: sc, Containers: []corev1.Container{{Name: "server", Image: "bulwark.local/test/root:1"}}},
		}
	}
	if _, err := cs.CoreV1().Pods("rootimage").Create(ctx, pod("asks-non-root", &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("the root image's pod with runAsNonRoot was not admitted: %v", err)
	}
	var msg string
	eventually(t, time.Minute, "the kubelet's verdict on the root image under runAsNonRoot", func(ctx context.Context) string {
		got, err := cs.CoreV1().Pods("rootimage").Get(ctx, "asks-non-root", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		for _, c := range got.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
				msg = w.Message
				return ""
			}
		}
		return podState(got)
	})
	t.Logf("runAsNonRoot set by its author: admitted, then refused by the kubelet: CreateContainerConfigError: %s", msg)
	if !strings.Contains(msg, "runAsNonRoot") || !strings.Contains(msg, "root") {
		t.Errorf("the kubelet's message does not name runAsNonRoot and root: %q", msg)
	}

	file := filepath.Join(t.TempDir(), "bare.yaml")
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: bare, namespace: rootimage, labels: {app: bare}}\nspec:\n  containers: [{name: server, image: bulwark.local/test/root:1}]\n"
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl("apply", "-f", file)
	if err != nil {
		t.Fatalf("the bare root pod was not admitted: %v\n%s", err, out)
	}
	if want := "Warning: bulwark: image bulwark.local/test/root:1 could not be looked up"; !strings.Contains(out, want) {
		t.Errorf("kubectl apply printed:\n%s\nwant a line starting %q", out, want)
	}
	created, err := cs.CoreV1().Pods("rootimage").Get(ctx, "bare", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc := created.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		t.Errorf("runAsNonRoot was added to the bare root pod: %+v", sc)
	}
	if got := waitRunning(cs, "rootimage", "bare"); got != "Running" {
		t.Errorf("the bare root pod: %s; want Running", got)
	}
}

// auditFindsPrivilegedDaemonSet admits a privileged DaemonSet in a namespace in audit mode,
// lets its pod run, and waits for the audit's PolicyViolation Event on the DaemonSet.
func auditFindsPrivilegedDaemonSet(t *testing.T, cs *kubernetes.Clientset) {
	createNamespace(t, cs, "audited", map[string]string{"bulwark.dev/mode": "audit"})
	lbls := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "agent", Image: "bulwark.local/test/nonroot:1",
					SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
				}}},
			},
		},
	}
	// The namespace's mode label reaches Bulwark's cache shortly after the namespace exists.
	eventually(t, 30*time.Second, "the privileged DaemonSet admitted in audit mode", func(ctx context.Context) string {
		_, err := cs.AppsV1().DaemonSets("audited").Create(ctx, ds, metav1.CreateOptions{})
		if err != nil {
			return err.Error()
		}
		return ""
	})
	eventually(t, 90*time.Second, "the privileged DaemonSet's pod Running", func(ctx context.Context) string {
		return podsReady(ctx, cs, "audited", lbls, 1)
	})
	eventually(t, 90*time.Second, "the audit's PolicyViolation Event on daemonset/agent", func(ctx context.Context) string {
		evs, err := cs.EventsV1().Events("audited").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == "PolicyViolation" && e.Regarding.Kind == "DaemonSet" && e.Regarding.Name == "agent" {
				if !strings.Contains(e.Note, "[privileged]") {
					return "the Event does not name [privileged]: " + e.Note
				}
				return ""
			}
		}
		return strconv.Itoa(len(evs.Items)) + " events, none a PolicyViolation on daemonset/agent"
	})
}
