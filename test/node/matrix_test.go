package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// workload is one row of the install matrix: a kind of workload a cluster already runs when
// Bulwark is installed.
type workload struct {
	name string
	// manifest is the object, given where the matrix runs.
	manifest func(e matrixEnv) string
	// cronJob: the workload is a CronJob, whose Job is created at once (kubectl create job
	// --from), as its schedule would.
	cronJob bool
}

// matrixEnv is where a matrix runs: the prefix of its images, the pull secret's name ("" for
// none), and the node port of its node agent (the agent shares the node's network, so two
// matrices that run at once need two ports).
type matrixEnv struct {
	prefix, pullSecret string
	agentPort          int
}

// localImages are the test images imported into the node.
var localImages = matrixEnv{prefix: "bulwark.local/test/", agentPort: 18080}

// matrixWorkloads are what a cluster typically runs when Bulwark is installed: root and non-root web
// servers, an image with a named USER, an app that writes to /, a non-root app that binds :80
// with NET_BIND_SERVICE, a node agent with hostNetwork and hostPath outside kube-system, a
// Job and a CronJob.
var matrixWorkloads = []workload{
	{name: "root-web", manifest: deployment("root-web", "root:1", "")},
	{name: "nonroot-web", manifest: deployment("nonroot-web", "nonroot:1", "")},
	{name: "named-user", manifest: deployment("named-user", "named-user:1", "")},
	{name: "writes-root-fs", manifest: deployment("writes-root-fs", "writer:1", "")},
	{name: "binds-80", manifest: deployment("binds-80", "nonroot:1", `
        args: [serve, --port=80]
        securityContext: {capabilities: {add: [NET_BIND_SERVICE]}}`)},
	{name: "node-agent", manifest: func(e matrixEnv) string {
		return `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-agent}
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata: {labels: {app: node-agent}}
    spec:
      hostNetwork: true` + pullSecrets(6, e.pullSecret) + `
      containers:
      - name: agent
        image: "` + e.prefix + `nonroot:1"
        args: [serve, --port=` + fmt.Sprint(e.agentPort) + `]
        volumeMounts: [{name: logs, mountPath: /host/log, readOnly: true}]
      volumes: [{name: logs, hostPath: {path: /var/log}}]
`
	}},
	{name: "batch", manifest: func(e matrixEnv) string {
		return `apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  template:
    metadata: {labels: {app: batch}}
    spec:
      restartPolicy: Never` + pullSecrets(6, e.pullSecret) + `
      containers: [{name: batch, image: "` + e.prefix + `writer:1", args: [writer, --file=/tmp/out]}]
`
	}},
	{name: "nightly", cronJob: true, manifest: func(e matrixEnv) string {
		return `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: nightly}}
        spec:
          restartPolicy: Never` + pullSecrets(10, e.pullSecret) + `
          containers: [{name: nightly, image: "` + e.prefix + `root:1"}]
`
	}},
}

// deployment is a one-replica Deployment of image (below the prefix), with extra lines for
// its container.
func deployment(name, image, extra string) func(e matrixEnv) string {
	return func(e matrixEnv) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:` + pullSecrets(6, e.pullSecret) + `
      containers:
      - name: ` + name + `
        image: "` + e.prefix + image + `"` + extra + `
`
	}
}

// pullSecrets is the imagePullSecrets line of a pod spec indented by indent, "" without a
// secret.
func pullSecrets(indent int, name string) string {
	if name == "" {
		return ""
	}
	return "\n" + strings.Repeat(" ", indent) + "imagePullSecrets: [{name: " + name + "}]"
}

// outcome is what happened to one workload.
type outcome struct {
	admitted bool
	mutated  []string // what Bulwark set or held back, from its warnings
	running  string   // "Running" or why not: the pod's waiting reason, FailedCreate, ...
	denial   string
}

func (o outcome) String() string {
	if !o.admitted {
		return "refused: " + o.denial
	}
	return fmt.Sprintf("admitted (%s), %s", strings.Join(o.mutated, "; "), o.running)
}

// runMatrix applies every matrix workload in namespace ns, as e says, and reports what became
// of each: admitted or refused, what Bulwark set, and whether its pods run. The namespace is
// deleted when t ends.
func runMatrix(t *testing.T, cs *kubernetes.Clientset, ns string, e matrixEnv) map[string]outcome {
	createNamespace(t, cs, ns, nil)
	// The node's CPU is for the steps after this one: the workloads go with their namespace.
	t.Cleanup(func() { deleteNamespace(cs, ns) })
	dir, err := os.MkdirTemp("", "bulwark-matrix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	out := map[string]outcome{}
	// Everything is applied first, so that the pods start together; then each is waited for.
	var started []string
	for _, w := range matrixWorkloads {
		file := filepath.Join(dir, w.name+".yaml")
		if err := os.WriteFile(file, []byte(w.manifest(e)), 0o644); err != nil {
			t.Fatal(err)
		}
		text, err := kubectl("apply", "-n", ns, "-f", file)
		var o outcome
		if err != nil {
			o.denial = errorLine(text)
			out[w.name] = o
			continue
		}
		o.admitted = true
		for _, line := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(line, "Warning: bulwark set defaults in "); ok {
				o.mutated = append(o.mutated, rest)
			}
			if rest, ok := strings.CutPrefix(line, "Warning: bulwark: "); ok {
				o.mutated = append(o.mutated, "note: "+rest)
			}
		}
		if w.cronJob {
			if text, err := kubectl("create", "job", "-n", ns, w.name+"-now", "--from=cronjob/"+w.name); err != nil {
				o.running = "the Job from the CronJob was refused: " + errorLine(text)
				out[w.name] = o
				continue
			}
		}
		out[w.name] = o
		started = append(started, w.name)
	}
	for _, name := range started {
		o := out[name]
		o.running = waitRunning(cs, ns, name)
		out[name] = o
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	var table strings.Builder
	for _, n := range names {
		fmt.Fprintf(&table, "\n  %-15s %s", n, out[n])
	}
	t.Logf("install matrix in %s (images %s):%s", ns, e.prefix, table.String())
	return out
}

// waitRunning waits up to a minute for the pods labelled app=name to run (a Job's pod may also
// have completed), and returns "Running" or the last state seen: a waiting reason, or the
// controller's FailedCreate event when no pod was created. A container waiting for a reason
// that does not pass by itself (the kubelet refused its configuration, it keeps crashing, its
// image cannot be pulled) ends the wait at once.
func waitRunning(cs kubernetes.Interface, ns, name string) string {
	return waitRunningSelector(cs, ns, labels.SelectorFromSet(map[string]string{"app": name}).String())
}

// waitRunningSelector is waitRunning for the pods that the label selector sel matches.
func waitRunningSelector(cs kubernetes.Interface, ns, sel string) string {
	deadline := time.Now().Add(time.Minute)
	last := "no pod"
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case len(pods.Items) == 0:
			last = "no pod: " + firstLine(failedCreate(cs, ns))
		default:
			p := pods.Items[0]
			if p.Status.Phase == corev1.PodSucceeded {
				return "Running"
			}
			if p.Status.Phase == corev1.PodRunning && allStarted(&p) {
				// Still so a few seconds on, past the kubelet's next look at a container that
				// started and exited.
				if stillRunning(cs, ns, p.Name) {
					return "Running"
				}
				continue
			}
			last = podState(&p)
			if stuck(&p) {
				return last
			}
		}
		time.Sleep(time.Second)
	}
	return last
}

// stillRunning reports the pod name in ns running, without a restart, 3 seconds from now.
func stillRunning(cs kubernetes.Interface, ns, name string) bool {
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	return err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodRunning && allStarted(p))
}

// stuck reports a container waiting for a reason that does not pass by itself.
func stuck(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			switch w.Reason {
			case "CreateContainerConfigError", "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName":
				return true
			}
		}
	}
	return false
}

// allStarted reports every container of p running and never restarted: a container that
// exits at once is seen running between its restarts.
func allStarted(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil || c.RestartCount > 0 {
			return false
		}
	}
	return len(p.Status.ContainerStatuses) > 0
}

// failedCreate is the message of the namespace's latest FailedCreate event, "" when none.
func failedCreate(cs kubernetes.Interface, ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
	if err != nil || len(events.Items) == 0 {
		return ""
	}
	return events.Items[len(events.Items)-1].Message
}

// deleteNamespace deletes a namespace and what is in it, without waiting.
func deleteNamespace(cs kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
}

// errorLine is kubectl's error in its output, which warnings precede.
func errorLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "Error from server") || strings.HasPrefix(line, "error:") {
			return firstLine(line)
		}
	}
	return firstLine(s)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// checkMatrix compares the outcomes with want: "Running", "refused", or the waiting reason a
// pod is stuck in ("admitted, then not running"). docs/security.md shows the same table.
func checkMatrix(t *testing.T, got map[string]outcome, want map[string]string) {
	t.Helper()
	for name, w := range want {
		o, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: not in the matrix", name)
		case w == "refused":
			if o.admitted || !strings.Contains(o.denial, "denied the request") {
				t.Errorf("%s: %s; want it refused by Bulwark", name, o)
			}
		case !o.admitted:
			t.Errorf("%s: %s; want it admitted", name, o)
		case w == "Running" && o.running != "Running":
			t.Errorf("%s: %s; want it Running", name, o)
		case w != "Running" && !strings.Contains(o.running, w):
			t.Errorf("%s: %s; want it admitted, then stuck in %s", name, o, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the matrix has %d rows, the expectations %d", len(got), len(want))
	}
}

// allRunning is the matrix's expectation where nothing is refused.
var allRunning = map[string]string{
	"root-web": "Running", "nonroot-web": "Running", "named-user": "Running", "writes-root-fs": "Running",
	"binds-80": "Running", "node-agent": "Running", "batch": "Running", "nightly": "Running",
}

// installMatrix runs the matrix with the chart's default values: the policy is in mode audit,
// the roll-out's first step, so every workload is admitted as written, unchanged, and runs.
func installMatrix(t *testing.T, cs *kubernetes.Clientset) {
	e := localImages
	e.agentPort++ // the agent of the namespace "before" holds the first port
	got := runMatrix(t, cs, "matrix-defaults", e)
	checkMatrix(t, got, allRunning)
	for name, o := range got {
		if len(o.mutated) > 0 {
			t.Errorf("%s: changed in mode audit: %s", name, o)
		}
	}
}
