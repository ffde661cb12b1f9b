// Command peers measures Bulwark beside the admission webhooks users choose between for the
// Pod Security Standards: Kyverno (a ClusterPolicy with its podSecurity validation at the
// baseline level, kyverno-baseline.yaml) and Gatekeeper (one Rego ConstraintTemplate per
// baseline check, gatekeeper-baseline.yaml), each enforcing the baseline level that Bulwark's
// baseline profile enforces.
//
//   - one etcd and kube-apiserver (hack/tools.sh) serve all of them, with Kyverno's and
//     Gatekeeper's CustomResourceDefinitions installed;
//   - each engine runs in turn as a process on this machine, out of cluster, with an admin
//     kubeconfig, and is the only admission webhook registered while it is measured:
//     `bulwark serve` (profile baseline, mutation off) with its validating configuration;
//     Kyverno's admission controller, which writes its own webhook configurations and
//     certificates (--serverIP); Gatekeeper (--operation=webhook and generate, which turns
//     templates into constraint CRDs, as its audit pod does in a cluster) with this
//     harness's certificate and a validating configuration for pods;
//   - before measuring, a compliant pod must be admitted and a pod breaking each of the checks
//     in violations must be denied, all as server-side dry-run creates, so that every engine
//     is measured enforcing the same checks;
//   - then server-side dry-run pod creates are sent at fixed rates (open loop: each request
//     at its scheduled time, its latency from that time) through client-go, for --duration
//     each; per rate the client's p50 and p99, the apiserver's
//     apiserver_admission_webhook_admission_duration_seconds over the run (its mean, and
//     p50/p99 interpolated in its buckets), and the engine process's CPU seconds and peak
//     resident memory, per 1,000 admissions.
//
// Nothing is pinned: the apiserver, etcd, the engine and the load share the machine's cores,
// as they do on a small control-plane node. Results go to OUT/peers.json and a table to
// standard output.
//
// Two flags run the peers with published policies instead of the harness's own, each read from
// a checkout the user points at (this repository copies none of them): --kyverno-policies, a
// kyverno/policies directory such as pod-security/baseline, whose ClusterPolicies are loaded
// with every failure action set to Enforce and nothing else changed; --gatekeeper-library,
// gatekeeper-library's library/pod-security-policy, whose baseline-bundle templates are loaded
// with this harness's Constraints (gatekeeper-library-constraints.yaml). A violation that the
// published Kyverno policies do not deny whatever their failure action is recorded as a gap
// in the pre-check, and checked in the form they read (kyvernoPublishedGaps).
//
// Two flags look into Bulwark's CPU: --idle measures each engine's CPU with no requests, for
// that long, before the warm-up (peers.json: idleCPUSecondsPerSecond); --profile serves
// Bulwark's profiler (--pprof-bind-address on 127.0.0.1) and saves a CPU profile of each of
// its fixed-rate runs, OUT/bulwark-RATE.pprof, for `go tool pprof -top`.
//
//	make bench-peers                                                   # as in docs/performance.md
//	go run ./hack/bench/peers --engines kyverno --rates 50 --duration 10s
//	go run ./hack/bench/peers --engines bulwark --idle 60s --profile   # where Bulwark's CPU goes
//	go run ./hack/bench/peers --kyverno-policies ../policies/pod-security/baseline \
//		--gatekeeper-library ../gatekeeper-library/library/pod-security-policy
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/hack/bench/benchproc"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

//go:embed kyverno-baseline.yaml
var kyvernoPolicy []byte

//go:embed gatekeeper-baseline.yaml
var gatekeeperPolicy []byte

const namespace = "bench"

type config struct {
	binary, tools, out string
	engines            []string
	rates              []int
	duration, warmup   time.Duration
	idle               time.Duration
	inflight           int
	profile            bool
	// kyvernoPolicies and gatekeeperLibrary are the published policies' directories, if any.
	kyvernoPolicies, gatekeeperLibrary string
}

func main() {
	var c config
	var engines, rates string
	flag.StringVar(&c.binary, "binary", "bin/bulwark", "the bulwark binary (make build)")
	flag.StringVar(&c.tools, "tools", "", "directory of etcd, kube-apiserver, kyverno and gatekeeper, with kyverno.crds/ and gatekeeper.crds/ (default: the last line of hack/tools.sh)")
	flag.StringVar(&c.out, "out", ".local/bench/peers", "directory for the results (peers.json, the engines' logs)")
	flag.StringVar(&engines, "engines", "none,bulwark,kyverno,gatekeeper", "engines to measure, in order, comma-separated; none is the apiserver with no webhook")
	flag.StringVar(&rates, "rates", "50,100,200", "fixed rates of dry-run pod creates, per second, comma-separated")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "length of each fixed-rate run")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "load at the first rate before measuring each engine")
	flag.DurationVar(&c.idle, "idle", 0, "before the warm-up, measure each engine's CPU with no requests for this long (0: not measured)")
	flag.BoolVar(&c.profile, "profile", false, "serve Bulwark's profiler on 127.0.0.1 and save a CPU profile of each of its fixed-rate runs as OUT/bulwark-RATE.pprof")
	flag.StringVar(&c.kyvernoPolicies, "kyverno-policies", "", "a kyverno/policies directory (pod-security/baseline): run Kyverno with its ClusterPolicies, failure actions set to Enforce, instead of kyverno-baseline.yaml")
	flag.StringVar(&c.gatekeeperLibrary, "gatekeeper-library", "", "gatekeeper-library's library/pod-security-policy directory: run Gatekeeper with its baseline templates and gatekeeper-library-constraints.yaml instead of gatekeeper-baseline.yaml")
	flag.IntVar(&c.inflight, "inflight", 1000, "most requests in flight; a request that would exceed it waits, and its wait counts in its latency")
	flag.Parse()
	c.engines = strings.Split(engines, ",")
	var err error
	if c.rates, err = benchproc.Positives(rates); err != nil || len(c.rates) == 0 {
		fmt.Fprintf(os.Stderr, "peers: --rates %q: want positive rates, comma-separated (%v)\n", rates, err)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[peers] "+format+"\n", args...)
}

// Results is what peers.json holds.
type Results struct {
	Started  time.Time `json:"started"`
	Machine  string    `json:"machine"`
	Duration string    `json:"duration"`
	Rates    []int     `json:"rates"`
	Engines  []Engine  `json:"engines"`
}

// Engine is one engine's checks and runs.
type Engine struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Policy says what the engine enforced.
	Policy string `json:"policy,omitempty"`
	// Startup is the time from starting the process to the first correct decisions.
	Startup string `json:"startup"`
	// Checks are the pods sent before measuring and what the engine decided.
	Checks []Check `json:"checks"`
	Runs   []Run   `json:"runs"`
	// PeakRSS is the process's VmHWM at the end, in MiB.
	PeakRSS float64 `json:"peakRSSMiB"`
	// IdleCPU is the process's CPU seconds per second with no requests (--idle).
	IdleCPU float64 `json:"idleCPUSecondsPerSecond,omitempty"`
	// Error says why the engine was not measured, when it was not.
	Error string `json:"error,omitempty"`
}

// Check is one pod sent before measuring.
type Check struct {
	Pod     string `json:"pod"`
	Want    string `json:"want"` // allowed or denied
	Got     string `json:"got"`
	Message string `json:"message,omitempty"`
	// Gap says why the engine's policy is known not to deny this violation, if it is.
	Gap string `json:"gap,omitempty"`
}

// Run is one fixed-rate run against one engine.
type Run struct {
	Rate     int     `json:"rate"`
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
	Achieved float64 `json:"achievedPerSecond"`
	// Client latencies of the dry-run creates, from each request's scheduled time.
	P50ms float64 `json:"p50ms"`
	P99ms float64 `json:"p99ms"`
	MaxMs float64 `json:"maxms"`
	// Webhook is what the apiserver observed of the engine's webhooks over the run.
	Webhook WebhookLatency `json:"webhook"`
	// CPUPer1k is the engine process's CPU seconds per 1,000 admissions; MaxRSS its largest
	// resident set sampled during the run, in MiB.
	CPUPer1k float64 `json:"cpuSecondsPer1kAdmissions"`
	MaxRSS   float64 `json:"maxRSSMiB"`
}

// WebhookLatency is apiserver_admission_webhook_admission_duration_seconds over a run, for
// CREATE, all of the engine's webhooks together.
type WebhookLatency struct {
	// Calls are the webhook calls, by webhook name.
	Calls map[string]float64 `json:"calls"`
	// MeanMs is the histogram's sum over its count; P50ms and P99ms are interpolated in its
	// buckets, as histogram_quantile does, so they are only as fine as the buckets.
	MeanMs float64 `json:"meanms"`
	P50ms  float64 `json:"p50ms"`
	P99ms  float64 `json:"p99ms"`
	// PerAdmissionMs is the histogram's sum over the pods admitted: the time all of the
	// engine's webhooks took per pod.
	PerAdmissionMs float64 `json:"perAdmissionMs"`
}

// engine starts one engine and registers its webhooks; stop undoes both.
type engine struct {
	name, version, policy string
	start                 func(h *harness) (*process, error)
	// gaps are violations the engine's policy is known not to deny, by name, with the reason;
	// extra are violations checked for this engine only.
	gaps  map[string]string
	extra []violation
}

type harness struct {
	c          config
	work       string
	kubeconfig string
	cs         *kubernetes.Clientset
	dyn        dynamic.Interface
	rest       *rest.Config
	certDir    string
	caPEM      []byte
	// kyverno and gatekeeper are the policies applied to each.
	kyverno, gatekeeper []*unstructured.Unstructured
}

func run(c config) error {
	tools, err := benchproc.Tools(c.tools, "etcd", "kube-apiserver", "kubectl", "kyverno", "gatekeeper")
	if err != nil {
		return err
	}
	c.tools = tools
	binary, err := filepath.Abs(c.binary)
	if err != nil {
		return err
	}
	kyvernoObjs, kyvernoDesc, err := policies(c.kyvernoPolicies, kyvernoPolicy, "kyverno-baseline.yaml", kyvernoPublished)
	if err != nil {
		return err
	}
	gatekeeperObjs, gatekeeperDesc, err := policies(c.gatekeeperLibrary, gatekeeperPolicy, "gatekeeper-baseline.yaml", gatekeeperPublished)
	if err != nil {
		return err
	}
	engines := map[string]engine{
		"bulwark":    {name: "bulwark", version: strings.TrimPrefix(version(binary, "version"), "bulwark "), policy: "profile baseline", start: func(h *harness) (*process, error) { return h.startBulwark(binary) }},
		"kyverno":    {name: "kyverno", version: stampedVersion(c.tools, "kyverno"), policy: kyvernoDesc, start: (*harness).startKyverno},
		"gatekeeper": {name: "gatekeeper", version: stampedVersion(c.tools, "gatekeeper"), policy: gatekeeperDesc, start: (*harness).startGatekeeper},
		// The apiserver alone: what a dry-run create costs with no webhook, the floor under
		// every engine's figures.
		"none": {name: "none", version: "-", start: func(*harness) (*process, error) { return &process{}, nil }},
	}
	if c.kyvernoPolicies != "" {
		k := engines["kyverno"]
		k.gaps, k.extra = kyvernoPublishedGaps, kyvernoPublishedExtra
		engines["kyverno"] = k
	}
	for _, e := range c.engines {
		if _, ok := engines[e]; !ok {
			return fmt.Errorf("--engines: no engine %q (have none, bulwark, kyverno, gatekeeper)", e)
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bulwark-peers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	os.Setenv("KUBEBUILDER_ASSETS", c.tools)
	var crds []string
	for _, d := range []string{"kyverno.crds/kyverno", "kyverno.crds/policies.kyverno.io", "kyverno.crds/reports", "kyverno.crds/policyreport", "gatekeeper.crds"} {
		crds = append(crds, filepath.Join(c.tools, d))
	}
	say("starting etcd and kube-apiserver, with Kyverno's and Gatekeeper's CRDs")
	cluster, err := framework.StartControlPlane(crds...)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	h := &harness{c: c, work: work, kubeconfig: filepath.Join(work, "kubeconfig"), certDir: filepath.Join(work, "certs"),
		kyverno: kyvernoObjs, gatekeeper: gatekeeperObjs}
	if err := cluster.WriteKubeconfig(h.kubeconfig); err != nil {
		return err
	}
	h.rest = rest.CopyConfig(cluster.Config)
	h.rest.QPS, h.rest.Burst = -1, 0 // no client-side rate limit: the load sets the rate
	if h.cs, err = kubernetes.NewForConfig(h.rest); err != nil {
		return err
	}
	if h.dyn, err = dynamic.NewForConfig(h.rest); err != nil {
		return err
	}
	ctx := context.Background()
	for _, ns := range []string{namespace, "bulwark-system", "kyverno", "gatekeeper-system"} {
		if _, err := h.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	if _, h.caPEM, err = benchproc.WriteCertificates(h.certDir); err != nil {
		return err
	}

	res := Results{Started: time.Now().UTC(), Machine: benchproc.Machine(), Duration: c.duration.String(), Rates: c.rates}
	for _, name := range c.engines {
		e := engines[name]
		r := Engine{Name: e.name, Version: e.version, Policy: e.policy}
		if err := h.measure(ctx, e, &r); err != nil {
			r.Error = err.Error()
			say("%s: not measured: %v", e.name, err)
		}
		res.Engines = append(res.Engines, r)
		if err := h.removeWebhooks(ctx); err != nil {
			return err
		}
	}
	if err := benchproc.WriteJSON(filepath.Join(c.out, "peers.json"), res); err != nil {
		return err
	}
	report(os.Stdout, res)
	for _, e := range res.Engines {
		if e.Error != "" {
			return fmt.Errorf("%s was not measured", e.Name)
		}
	}
	return nil
}

// measure starts the engine, checks its decisions, runs the fixed rates and stops it.
func (h *harness) measure(ctx context.Context, e engine, r *Engine) error {
	if err := h.noWebhooks(ctx); err != nil {
		return err
	}
	if e.policy != "" {
		say("%s %s: starting (%s)", e.name, e.version, e.policy)
	} else {
		say("%s %s: starting", e.name, e.version)
	}
	started := time.Now()
	p, err := e.start(h)
	if err != nil {
		return err
	}
	defer p.Stop()
	if e.name != "none" {
		say("%s: waiting for it to admit the compliant pod and deny each violation", e.name)
		if r.Checks, err = h.check(ctx, p, e, 3*time.Minute); err != nil {
			return err
		}
	}
	r.Startup = time.Since(started).Round(100 * time.Millisecond).String()
	say("%s: deciding as expected after %s", e.name, r.Startup)
	if h.c.idle > 0 && e.name != "none" {
		cpu0, err := p.CPUSeconds()
		if err != nil {
			return err
		}
		time.Sleep(h.c.idle)
		cpu1, err := p.CPUSeconds()
		if err != nil {
			return err
		}
		r.IdleCPU = (cpu1 - cpu0) / h.c.idle.Seconds()
		say("%s: idle for %s: %.4f CPU s per s", e.name, h.c.idle, r.IdleCPU)
	}
	if h.c.warmup > 0 {
		say("%s: warming up at %d/s for %s", e.name, h.c.rates[0], h.c.warmup)
		if _, err := h.load(ctx, p, h.c.rates[0], h.c.warmup); err != nil {
			return err
		}
	}
	for _, rate := range h.c.rates {
		say("%s: %d dry-run pod creates per second for %s", e.name, rate, h.c.duration)
		var profiled chan error
		if p.pprof != "" {
			profiled = make(chan error, 1)
			go func() {
				profiled <- benchproc.SaveProfile("http://"+p.pprof+"/debug/pprof/profile", max(1, int(h.c.duration.Seconds())),
					filepath.Join(h.c.out, fmt.Sprintf("%s-%d.pprof", e.name, rate)))
			}()
		}
		run, err := h.load(ctx, p, rate, h.c.duration)
		if err != nil {
			return err
		}
		if profiled != nil {
			if err := <-profiled; err != nil {
				return err
			}
		}
		r.Runs = append(r.Runs, run)
		say("  client p50 %.2f ms, p99 %.2f ms; webhook mean %.2f ms (p99 about %.1f ms); %.3f CPU s per 1k; %d failed",
			run.P50ms, run.P99ms, run.Webhook.MeanMs, run.Webhook.P99ms, run.CPUPer1k, run.Failed)
	}
	if err := p.Alive(); err != nil {
		return err
	}
	r.PeakRSS, _ = p.PeakRSS()
	return nil
}

// The pods: one compliant with the baseline level (and not with the restricted one), and one
// breaking each of the baseline's checks that the apiserver lets through validation.
func compliantPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.example/web:1.4.2",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}}},
				VolumeMounts:    []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}},
			}, {
				Name: "proxy", Image: "registry.example/proxy:2.0",
				Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}},
			}},
			Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// violation is a pod breaking one check: the compliant pod changed.
type violation struct {
	name   string
	change func(*corev1.Pod)
}

// violations are the pods that must be denied, by the baseline check each breaks.
var violations = []violation{
	{"privileged", func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext.Privileged = ptr(true)
	}},
	{"host-network", func(p *corev1.Pod) { p.Spec.HostNetwork = true }},
	{"host-pid", func(p *corev1.Pod) { p.Spec.HostPID = true }},
	{"host-path", func(p *corev1.Pod) {
		p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib"}}
	}},
	{"host-port", func(p *corev1.Pod) { p.Spec.Containers[1].Ports[0].HostPort = 9090 }},
	{"capabilities", func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext.Capabilities.Add = append(p.Spec.Containers[0].SecurityContext.Capabilities.Add, "SYS_ADMIN")
	}},
	{"seccomp-unconfined", func(p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
	}},
	{"apparmor-unconfined", func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	}},
	{"selinux-type", func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
	}},
	{"unsafe-sysctl", func(p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}}
	}},
}

func ptr[T any](v T) *T { return &v }

// check sends the compliant pod and every violation until the engine decides each as
// expected, or until the deadline; it returns what it decided last.
//
// A violation in the engine's gaps may be admitted or denied (its Check records the gap and
// what the engine decided); the engine's extra violations must be denied too.
func (h *harness) check(ctx context.Context, p *process, e engine, timeout time.Duration) ([]Check, error) {
	deadline := time.Now().Add(timeout)
	for {
		checks := []Check{h.decide(ctx, "compliant", compliantPod(), "allowed")}
		for _, v := range append(violations[:len(violations):len(violations)], e.extra...) {
			pod := compliantPod()
			v.change(pod)
			c := h.decide(ctx, v.name, pod, "denied")
			if gap, ok := e.gaps[v.name]; ok {
				c.Gap = gap
				if c.Got == "allowed" {
					c.Want = "allowed"
				}
			}
			checks = append(checks, c)
		}
		var wrong []string
		for _, c := range checks {
			if c.Got != c.Want {
				wrong = append(wrong, fmt.Sprintf("%s: want %s, got %s %s", c.Pod, c.Want, c.Got, c.Message))
			}
		}
		if len(wrong) == 0 {
			return checks, nil
		}
		if err := p.Alive(); err != nil {
			return checks, err
		}
		if time.Now().After(deadline) {
			return checks, fmt.Errorf("after %s: %s", timeout, strings.Join(wrong, "; "))
		}
		time.Sleep(time.Second)
	}
}

// decide sends one dry-run create. A denial by the apiserver's own validation or by no webhook
// is not the engine's: only a denial whose message names an admission webhook counts.
func (h *harness) decide(ctx context.Context, name string, pod *corev1.Pod, want string) Check {
	c := Check{Pod: name, Want: want}
	_, err := h.cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case err == nil:
		c.Got = "allowed"
		// With no webhook registered yet, the apiserver admits anything.
		if n, werr := h.webhookCount(ctx); werr != nil || n == 0 {
			c.Got, c.Message = "allowed-without-webhook", "(no webhook configuration registered yet)"
		}
	case strings.Contains(err.Error(), "admission webhook") && strings.Contains(err.Error(), "denied the request"):
		c.Got, c.Message = "denied", firstLine(err.Error())
	default:
		c.Got, c.Message = "error", firstLine(err.Error())
	}
	return c
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (h *harness) webhookCount(ctx context.Context) (int, error) {
	v, err := h.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	m, err := h.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	return len(v.Items) + len(m.Items), nil
}

func (h *harness) noWebhooks(ctx context.Context) error {
	n, err := h.webhookCount(ctx)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%d webhook configurations are still registered", n)
	}
	return nil
}

// removeWebhooks deletes every webhook configuration, so that the next engine is the only one.
func (h *harness) removeWebhooks(ctx context.Context) error {
	all := metav1.ListOptions{}
	if err := h.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, all); err != nil {
		return err
	}
	return h.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, all)
}

// load sends dry-run creates of the compliant pod at rate per second for d, each at its
// scheduled time, and measures the run.
func (h *harness) load(ctx context.Context, p *process, rate int, d time.Duration) (Run, error) {
	run := Run{Rate: rate}
	before, err := h.webhookMetrics(ctx)
	if err != nil {
		return run, err
	}
	cpu0, err := p.CPUSeconds()
	if err != nil {
		return run, err
	}
	stopRSS := p.SampleRSS()
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	latencies := make([]time.Duration, n)
	failed := make([]bool, n)
	var errMu sync.Mutex
	var firstErr error
	slots := make(chan struct{}, h.c.inflight)
	var wg sync.WaitGroup
	pod := compliantPod()
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			_, err := h.cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			latencies[i] = time.Since(at)
			if err != nil {
				failed[i] = true
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	run.MaxRSS = stopRSS()
	cpu1, err := p.CPUSeconds()
	if err != nil {
		return run, err
	}
	after, err := h.webhookMetrics(ctx)
	if err != nil {
		return run, err
	}
	run.Requests = n
	for _, f := range failed {
		if f {
			run.Failed++
		}
	}
	if firstErr != nil {
		say("  %d of %d failed, the first: %v", run.Failed, n, firstLine(firstErr.Error()))
	}
	run.Achieved = float64(n) / wall.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	run.P50ms, run.P99ms, run.MaxMs = ms(framework.Percentile(latencies, 50)), ms(framework.Percentile(latencies, 99)), ms(framework.Percentile(latencies, 100))
	run.Webhook = after.minus(before).latency(n - run.Failed)
	run.CPUPer1k = (cpu1 - cpu0) / float64(n) * 1000
	return run, nil
}

// version runs the binary with args and returns the first line it prints.
func version(binary string, args ...string) string {
	out, err := exec.Command(binary, args...).Output()
	if err != nil {
		return "unknown"
	}
	return firstLine(strings.TrimSpace(string(out)))
}

// stampedVersion is the version hack/tools.sh built the tool at.
func stampedVersion(tools, name string) string {
	data, err := os.ReadFile(filepath.Join(tools, "."+name+".version"))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// report prints the table: per engine and rate, the client's and the apiserver's view.
func report(w io.Writer, res Results) {
	fmt.Fprintf(w, "== peers: server-side dry-run pod creates at fixed rates, %s each, %s\n", res.Duration, res.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\trate/s\tsent\tfailed\tclient p50 ms\tclient p99 ms\twebhook mean ms\twebhook p50 ms\twebhook p99 ms\twebhook ms/pod\tCPU s/1k\tmax RSS MiB\t")
	for _, e := range res.Engines {
		if e.Error != "" {
			fmt.Fprintf(tw, "%s %s\tnot measured: %s\t\t\t\t\t\t\t\t\t\t\t\n", e.Name, e.Version, e.Error)
			continue
		}
		for _, r := range e.Runs {
			fmt.Fprintf(tw, "%s %s\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.2f\t%.3f\t%.0f\t\n", e.Name, e.Version, r.Rate, r.Requests, r.Failed,
				r.P50ms, r.P99ms, r.Webhook.MeanMs, r.Webhook.P50ms, r.Webhook.P99ms, r.Webhook.PerAdmissionMs, r.CPUPer1k, r.MaxRSS)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "== startup (process start to correct decisions), peak RSS, and the webhooks the apiserver called per pod")
	for _, e := range res.Engines {
		if e.Error != "" || len(e.Runs) == 0 {
			continue
		}
		last := e.Runs[len(e.Runs)-1]
		var names []string
		for name, calls := range last.Webhook.Calls {
			names = append(names, fmt.Sprintf("%s x%.2f", name, calls/float64(max(1, last.Requests-last.Failed))))
		}
		sort.Strings(names)
		fmt.Fprintf(w, "%s: startup %s, peak RSS %.0f MiB, webhooks per pod: %s; policy: %s\n", e.Name, e.Startup, e.PeakRSS, strings.Join(names, ", "), e.Policy)
		for _, c := range e.Checks {
			if c.Gap != "" {
				fmt.Fprintf(w, "  %s: %s by %s (a known gap: %s)\n", c.Pod, c.Got, e.Name, c.Gap)
			}
		}
	}
	// The goal: Bulwark's client p99 at most a tenth of the best peer's at the same rate.
	for _, rate := range res.Rates {
		best, bulwark := math.Inf(1), math.NaN()
		for _, e := range res.Engines {
			for _, r := range e.Runs {
				switch {
				case r.Rate != rate:
				case e.Name == "bulwark":
					bulwark = r.P99ms
				case e.Name != "none":
					best = min(best, r.P99ms)
				}
			}
		}
		if !math.IsNaN(bulwark) && !math.IsInf(best, 1) {
			fmt.Fprintf(w, "== client p99 at %d/s: Bulwark %.2f ms, the best peer %.2f ms: %.3fx (the goal: at most 0.1x)\n", rate, bulwark, best, bulwark/best)
		}
	}
}

// process is an engine started by start; none for the run without a webhook, whose methods
// then measure nothing.
type process struct {
	*benchproc.Process
	pprof string // the profiler's address, with --profile
}

func (h *harness) start(name string, env []string, argv ...string) (*process, error) {
	p, err := benchproc.Start(filepath.Join(h.c.out, name+".log"), env, argv)
	if err != nil {
		return nil, err
	}
	return &process{Process: p}, nil
}

// startBulwark runs bulwark serve with the baseline profile and mutation off, and registers
// its validating webhook configuration (the chart's, pointed at 127.0.0.1).
func (h *harness) startBulwark(binary string) (*process, error) {
	policy := filepath.Join(h.work, "bulwark-policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: baseline\nmutation:\n  enabled: false\n"), 0o644); err != nil {
		return nil, err
	}
	ports, err := benchproc.FreePorts(2)
	if err != nil {
		return nil, err
	}
	port, probe := ports[0], ports[1]
	pprof := "0"
	if h.c.profile {
		pp, err := framework.FreePort()
		if err != nil {
			return nil, err
		}
		pprof = "127.0.0.1:" + strconv.Itoa(pp)
	}
	p, err := h.start("bulwark", nil, binary, "serve",
		"--kubeconfig", h.kubeconfig, "--bind-address", "127.0.0.1", "--port", strconv.Itoa(port),
		"--cert-dir", h.certDir, "--policy-file", policy, "--namespace", "bulwark-system",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(probe),
		"--pprof-bind-address", pprof, "--audit-interval", "0", "--log-level", "error")
	if err != nil {
		return nil, err
	}
	if pprof != "0" {
		p.pprof = pprof
	}
	validating, _ := server.WebhookConfigurations(server.WebhookOptions{
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			url := "https://127.0.0.1:" + strconv.Itoa(port) + path
			return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: h.caPEM}
		},
	})
	if _, err := h.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), validating, metav1.CreateOptions{}); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// startKyverno runs Kyverno's admission controller out of cluster: --serverIP makes it write
// webhook configurations with URLs (https://127.0.0.1:PORT/...) instead of a Service, and its
// certificate for that address; then the baseline ClusterPolicy is applied.
func (h *harness) startKyverno() (*process, error) {
	ports, err := benchproc.FreePorts(2)
	if err != nil {
		return nil, err
	}
	port, metrics := ports[0], ports[1]
	// Its configuration and metrics configuration, empty: Kyverno's defaults.
	for _, name := range []string{"kyverno", "kyverno-metrics"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kyverno"}}
		if _, err := h.cs.CoreV1().ConfigMaps("kyverno").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	env := []string{"KYVERNO_NAMESPACE=kyverno", "KYVERNO_SERVICEACCOUNT_NAME=kyverno", "KYVERNO_DEPLOYMENT=kyverno",
		"KYVERNO_POD_NAME=kyverno-bench", "KYVERNO_SVC=kyverno-svc", "INIT_CONFIG=kyverno", "METRICS_CONFIG=kyverno-metrics"}
	p, err := h.start("kyverno", env, filepath.Join(h.c.tools, "kyverno"),
		"--kubeconfig", h.kubeconfig, "--serverIP", "127.0.0.1:"+strconv.Itoa(port),
		"--webhookServerHost", "127.0.0.1", "--webhookServerPort", strconv.Itoa(port),
		"--caSecretName", "kyverno-svc.kyverno.svc.kyverno-tls-ca", "--tlsSecretName", "kyverno-svc.kyverno.svc.kyverno-tls-pair",
		"--metricsHost", "127.0.0.1", "--metricsPort", strconv.Itoa(metrics), "--controllerRuntimeMetricsAddress", "0")
	if err != nil {
		return nil, err
	}
	if err := h.apply(h.kyverno, 2*time.Minute, p); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// startGatekeeper runs Gatekeeper's webhook with this harness's certificate, applies the
// baseline templates and constraints, and registers a validating configuration for pods.
func (h *harness) startGatekeeper() (*process, error) {
	ports, err := benchproc.FreePorts(2)
	if err != nil {
		return nil, err
	}
	port, health := ports[0], ports[1]
	// Gatekeeper owns the status objects it writes by its own Pod (POD_NAME): the object has to
	// exist, though no kubelet runs it.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-bench", Namespace: "gatekeeper-system"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "openpolicyagent/gatekeeper:" + stampedVersion(h.c.tools, "gatekeeper")}}},
	}
	if _, err := h.cs.CoreV1().Pods("gatekeeper-system").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	env := []string{"POD_NAMESPACE=gatekeeper-system", "POD_NAME=gatekeeper-bench", "NAMESPACE=gatekeeper-system", "KUBECONFIG=" + h.kubeconfig}
	p, err := h.start("gatekeeper", env, filepath.Join(h.c.tools, "gatekeeper"),
		"--operation=webhook", "--operation=generate", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--cert-dir", h.certDir, "--disable-cert-rotation", "--health-addr", "127.0.0.1:"+strconv.Itoa(health),
		"--metrics-addr", "0", "--log-level", "ERROR",
		// No ValidatingAdmissionPolicy from templates with CEL (gatekeeper-library's): the
		// apiserver would then enforce them itself, and Gatekeeper's webhook would no longer be
		// the only engine.
		"--default-create-vap-for-templates=false", "--default-create-vap-binding-for-constraints=false")
	if err != nil {
		return nil, err
	}
	if err := h.apply(h.gatekeeper, 2*time.Minute, p); err != nil {
		p.Stop()
		return nil, err
	}
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/v1/admit"
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-validating-webhook-configuration"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "validation.gatekeeper.sh",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: h.caPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := h.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), vwc, metav1.CreateOptions{}); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// policies returns the objects an engine enforces and a description of them: those the load
// function reads from dir, or with no dir the embedded manifest.
func policies(dir string, embedded []byte, name string, load func(string) ([]*unstructured.Unstructured, error)) ([]*unstructured.Unstructured, string, error) {
	if dir == "" {
		objs, err := decodeManifest(embedded)
		return objs, name, err
	}
	objs, err := load(dir)
	if err != nil {
		return nil, "", err
	}
	return objs, fmt.Sprintf("%s: %s", dir, names(objs)), nil
}

// apply creates objects in order, retrying one whose kind the apiserver does not serve yet (a
// constraint whose template Gatekeeper has not turned into a CRD yet), until timeout.
func (h *harness) apply(objs []*unstructured.Unstructured, timeout time.Duration, p *process) error {
	deadline := time.Now().Add(timeout)
	for _, u := range objs {
		gvr, err := resourceOf(u)
		if err != nil {
			return err
		}
		for {
			_, err := h.dyn.Resource(gvr).Create(context.Background(), u, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			if perr := p.Alive(); perr != nil {
				return perr
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return nil
}

// resourceOf maps the kinds the manifests hold to their resources.
func resourceOf(u *unstructured.Unstructured) (schema.GroupVersionResource, error) {
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	switch {
	case u.GetKind() == "ClusterPolicy":
		return gv.WithResource("clusterpolicies"), nil
	case u.GetKind() == "ConstraintTemplate":
		return gv.WithResource("constrainttemplates"), nil
	case gv.Group == "constraints.gatekeeper.sh":
		return gv.WithResource(strings.ToLower(u.GetKind())), nil
	}
	return schema.GroupVersionResource{}, fmt.Errorf("no resource known for %s %s", u.GetAPIVersion(), u.GetKind())
}
