// Command audit measures the audit of a cluster as it grows: it starts etcd and kube-apiserver
// (hack/tools.sh), creates objects straight through the apiserver until the cluster holds each
// of --counts, and at each count audits it three ways:
//
//   - audit.Run in this process, with the nsa profile, through a client whose requests are
//     counted (list pages, gets, watches) while the live heap is sampled every 2 ms;
//   - audit.Runner.RunOnce in this process, as `bulwark serve` runs it (metrics, and one
//     PolicyReport per violating object): twice, the first audit writing the reports of the
//     objects new since the last count, the next finding every report up to date;
//   - `bulwark scan --cluster -o json` as a process: its wall time and peak RSS (getrusage
//     ru_maxrss), and the apiserver's own count of the LIST and WATCH requests it served.
//
// The objects: per 50, one Deployment with its ReplicaSet and 20 pods the ReplicaSet
// controls, and 28 bare pods; every third Deployment and bare pod uses hostPID. One namespace
// holds 500 objects. No node runs: the pods stay Pending.
//
//	go run ./hack/bench/audit --binary bin/bulwark                     # as `make bench-audit` runs it
//	go run ./hack/bench/audit --binary bin/bulwark --counts 3000 --heap-profile .local/bench/audit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bulwark-k8s/bulwark/hack/bench/benchproc"
	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

const (
	block         = 50 // objects per Deployment: itself, its ReplicaSet, 20 owned pods, 28 bare pods
	ownedPods     = 20
	barePods      = block - 2 - ownedPods
	perNamespace  = 500
	violatingEach = 3
)

func main() {
	binary := flag.String("binary", "bin/bulwark", "the bulwark binary for `scan --cluster` (make build); empty skips it")
	counts := flag.String("counts", "5000,20000,50000", "object counts to audit at, ascending (multiples of 50)")
	workers := flag.Int("workers", 32, "parallel creates")
	tools := flag.String("tools", "", "directory of etcd, kube-apiserver and kubectl (default: the last line of hack/tools.sh)")
	heapProfile := flag.String("heap-profile", "", "directory to write a heap profile into at the end of each in-process audit's pod listing")
	flag.Parse()
	if *heapProfile != "" {
		runtime.MemProfileRate = 4096
	}
	ns, err := benchproc.Positives(*counts)
	for i, n := range ns {
		switch {
		case n%block != 0:
			err = fmt.Errorf("%d is not a multiple of %d", n, block)
		case i > 0 && n <= ns[i-1]:
			err = fmt.Errorf("%d is not above %d", n, ns[i-1])
		}
	}
	if err != nil || len(ns) == 0 {
		fmt.Fprintf(os.Stderr, "audit bench: --counts %q: want ascending multiples of %d (%v)\n", *counts, block, err)
		os.Exit(2)
	}
	if err := run(ns, *binary, *tools, *heapProfile, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "audit bench:", err)
		os.Exit(1)
	}
}

// row is what one count measured.
type row struct {
	objects, namespaces int
	create              time.Duration // creating this count's new objects
	createdPerSec       float64
	inProc              measure
	runner              measure // the first audit at this count: it writes the new violating objects' reports
	steady              measure // the next: every report up to date
	reports             int
	scan                procMeasure
}

type measure struct {
	wall           time.Duration
	read           int
	peak, base     uint64 // live heap, bytes
	lists, pages   int64  // list calls (first pages) and pages
	gets, watches  int64
	totalAllocated uint64
}

type procMeasure struct {
	wall           time.Duration
	maxRSS         int64 // bytes
	lists, watches float64
}

func run(counts []int, binary, tools, heapProfile string, workers int) error {
	if binary != "" {
		if _, err := os.Stat(binary); err != nil {
			return fmt.Errorf("%v (build it with `make build`)", err)
		}
	}
	tools, err := benchproc.Tools(tools, "etcd", "kube-apiserver", "kubectl")
	if err != nil {
		return err
	}
	os.Setenv("KUBEBUILDER_ASSETS", tools)
	work, err := os.MkdirTemp("", "bulwark-audit-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctrllog.SetLogger(logr.Discard())
	crd, err := filepath.Abs(framework.PolicyReportCRD)
	if err != nil {
		return err
	}
	say("starting etcd and kube-apiserver")
	cluster, err := framework.StartControlPlane(crd)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 10000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	snap, err := policy.FromProfile(policy.NSA)
	if err != nil {
		return err
	}

	var rows []row
	have := 0
	for _, n := range counts {
		say("creating objects %d to %d", have+1, n)
		start := time.Now()
		if err := populate(cs, have, n, workers); err != nil {
			return err
		}
		r := row{objects: n, namespaces: (n + perNamespace - 1) / perNamespace, create: time.Since(start)}
		r.createdPerSec = float64(n-have) / r.create.Seconds()
		say("created %d objects in %s (%.0f/s)", n-have, r.create.Round(time.Millisecond), r.createdPerSec)
		have = n

		profile := ""
		if heapProfile != "" {
			profile = filepath.Join(heapProfile, fmt.Sprintf("heap-%d.pprof", n))
		}
		if r.inProc, err = auditInProcess(cluster.Config, snap, profile); err != nil {
			return err
		}
		say("audit.Run: %d objects read in %s, live heap peak %.1f MiB (%.1f MiB above the %.1f before), %d list calls, %d pages, %d gets, %d watches",
			r.inProc.read, r.inProc.wall.Round(time.Millisecond), mib(r.inProc.peak), mib(r.inProc.peak-min(r.inProc.peak, r.inProc.base)), mib(r.inProc.base),
			r.inProc.lists, r.inProc.pages, r.inProc.gets, r.inProc.watches)
		if r.runner, r.steady, r.reports, err = auditRunner(cluster.Config, snap); err != nil {
			return err
		}
		for _, m := range []struct {
			what string
			m    measure
		}{{"writing the new reports", r.runner}, {"every report up to date", r.steady}} {
			say("Runner.RunOnce, %s: %d objects read in %s, live heap peak %.1f MiB (%.1f MiB above the %.1f before), %d list calls, %d pages, %d gets, %d watches",
				m.what, m.m.read, m.m.wall.Round(time.Millisecond), mib(m.m.peak), mib(m.m.peak-min(m.m.peak, m.m.base)), mib(m.m.base),
				m.m.lists, m.m.pages, m.m.gets, m.m.watches)
		}
		say("PolicyReports: %d", r.reports)
		if binary != "" {
			if r.scan, err = scanProcess(cs, binary, cluster, work); err != nil {
				return err
			}
			say("bulwark scan --cluster: %s, peak RSS %.1f MiB, apiserver LIST %.0f, WATCH %.0f",
				r.scan.wall.Round(time.Millisecond), mib(uint64(r.scan.maxRSS)), r.scan.lists, r.scan.watches)
		}
		rows = append(rows, r)
	}

	fmt.Println()
	fmt.Println("objects: the generated ones (Deployments, ReplicaSets, pods; namespaces besides); read: what the audit read, namespaces and the apiserver's RBAC objects included")
	fmt.Println("heap: the live heap's peak during the audit, above the heap before it (runtime/metrics /memory/classes/heap/objects:bytes every 2 ms)")
	fmt.Println("Runner: the first audit at the count (it creates the new violating objects' PolicyReports), then the next (every report up to date)")
	fmt.Printf("%-8s %-4s %-15s %-8s %-10s %-10s %-12s %-10s %-8s %-18s %-18s %-10s %-12s %-10s\n",
		"objects", "ns", "create", "read", "Run wall", "Run heap", "lists/pages", "get/watch", "reports", "Runner wall", "Runner heap", "scan wall", "scan maxRSS", "LIST/WATCH")
	for _, r := range rows {
		fmt.Printf("%-8d %-4d %-15s %-8d %-10s %-10s %-12s %-10s %-8d %-18s %-18s %-10s %-12s %-10s\n",
			r.objects, r.namespaces, fmt.Sprintf("%s (%.0f/s)", r.create.Round(100*time.Millisecond), r.createdPerSec), r.inProc.read,
			r.inProc.wall.Round(time.Millisecond), fmt.Sprintf("%.1f MiB", mib(r.inProc.peak-min(r.inProc.peak, r.inProc.base))),
			fmt.Sprintf("%d/%d", r.inProc.lists, r.inProc.pages), fmt.Sprintf("%d/%d", r.inProc.gets, r.inProc.watches), r.reports,
			fmt.Sprintf("%s, %s", r.runner.wall.Round(time.Millisecond), r.steady.wall.Round(time.Millisecond)),
			fmt.Sprintf("%.1f, %.1f MiB", mib(r.runner.peak-min(r.runner.peak, r.runner.base)), mib(r.steady.peak-min(r.steady.peak, r.steady.base))),
			r.scan.wall.Round(time.Millisecond), fmt.Sprintf("%.1f MiB", mib(uint64(r.scan.maxRSS))), fmt.Sprintf("%.0f/%.0f", r.scan.lists, r.scan.watches))
	}
	return nil
}

func say(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func namespaceOf(i int) string { return fmt.Sprintf("audit-%d", i/perNamespace) }

// populate creates the blocks of objects from to to (exclusive), and their namespaces, with
// workers clients in parallel: each block is one job (the Deployment, then its ReplicaSet, then
// its pods), the bare pods one job each.
func populate(cs kubernetes.Interface, from, to, workers int) error {
	ctx := context.Background()
	for i := from - from%perNamespace; i < to; i += perNamespace {
		name := namespaceOf(i)
		if _, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err == nil {
			continue
		}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	err := framework.Parallel(workers, func(submit func(func() error)) {
		for b := from / block; b < to/block; b++ {
			ns, violating := namespaceOf(b*block), b%violatingEach == 0
			submit(func() error {
				return framework.CreateWorkload(ctx, cs, ns, fmt.Sprintf("web-%d", b), ownedPods, violating)
			})
			for p := range barePods {
				submit(func() error {
					_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bare-%d-%d", b, p)}, Spec: framework.ScalePodSpec(p%violatingEach == 0),
					}, metav1.CreateOptions{})
					return err
				})
			}
		}
	})
	if err != nil {
		return fmt.Errorf("creating objects: %w", err)
	}
	return nil
}

// requestCounter counts the requests of a client by what they are.
type requestCounter struct {
	rt                          http.RoundTripper
	lists, pages, gets, watches atomic.Int64
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	switch {
	case req.Method != http.MethodGet:
	case q.Get("watch") == "true" || q.Get("watch") == "1":
		c.watches.Add(1)
	case q.Has("limit"):
		c.pages.Add(1)
		if !q.Has("continue") {
			c.lists.Add(1)
		}
	default:
		c.gets.Add(1)
	}
	return c.rt.RoundTrip(req)
}

func countingReader(cfg *rest.Config) (client.Client, *requestCounter, error) {
	cfg = rest.CopyConfig(cfg)
	counter := &requestCounter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.rt = rt; return counter })
	c, err := client.New(cfg, client.Options{})
	return c, counter, err
}

// measured runs f between a garbage collection and the end of heap sampling.
func measured(m *measure, f func() error) error {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	m.base = framework.HeapBytes()
	sampler := framework.StartHeapSampler()
	start := time.Now()
	err := f()
	m.wall = time.Since(start)
	m.peak = sampler.Stop()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	m.totalAllocated = after.TotalAlloc - before.TotalAlloc
	return err
}

func auditInProcess(cfg *rest.Config, snap *policy.Snapshot, heapProfile string) (measure, error) {
	var m measure
	reader, counter, err := countingReader(cfg)
	if err != nil {
		return m, err
	}
	profiled := false
	err = measured(&m, func() error {
		stats, err := audit.Run(context.Background(), audit.Options{
			Reader: reader, Policy: snap,
			Progress: func(p audit.Progress) {
				if heapProfile == "" || profiled || p.Kind != "Pod" || p.Done < p.Total {
					return
				}
				profiled = true
				if err := writeHeapProfile(heapProfile); err != nil {
					say("heap profile: %v", err)
				}
			},
		}, func(*audit.Object) error { return nil })
		m.read = stats.Total()
		return err
	})
	m.lists, m.pages, m.gets, m.watches = counter.lists.Load(), counter.pages.Load(), counter.gets.Load(), counter.watches.Load()
	return m, err
}

func writeHeapProfile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// auditRunner audits twice with a Runner as `bulwark serve` has it (PolicyReports per
// resource, the default): the first audit writes the reports of the objects created since the
// last count, the second finds every report up to date. The writes go at 1,000 requests/s.
func auditRunner(cfg *rest.Config, snap *policy.Snapshot) (first, next measure, reports int, err error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 1000
	reader, counter, err := countingReader(cfg)
	if err != nil {
		return first, next, 0, err
	}
	runner := audit.NewRunner(audit.RunnerOptions{
		Reader: reader, Client: reader, Policy: policy.NewHolder(snap), Interval: time.Hour, Log: logr.Discard(),
	})
	for _, m := range []*measure{&first, &next} {
		counter.lists.Store(0)
		counter.pages.Store(0)
		counter.gets.Store(0)
		counter.watches.Store(0)
		err = measured(m, func() error {
			sum, err := runner.RunOnce(context.Background(), snap)
			m.read, reports = sum.Stats.Total(), sum.Reports
			return err
		})
		m.lists, m.pages, m.gets, m.watches = counter.lists.Load(), counter.pages.Load(), counter.gets.Load(), counter.watches.Load()
		if err != nil {
			return first, next, reports, err
		}
	}
	return first, next, reports, nil
}

// apiserverRequests sums the apiserver's apiserver_request_total by verb.
func apiserverRequests(cs kubernetes.Interface) (map[string]float64, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		return nil, fmt.Errorf("reading the apiserver's metrics: %w", err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		_, after, ok := strings.Cut(line, `verb="`)
		if !ok {
			continue
		}
		verb, _, _ := strings.Cut(after, `"`)
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			continue
		}
		out[verb] += v
	}
	return out, nil
}

// scanProcess runs `bulwark scan --cluster` on the cluster, with a kubeconfig written in dir.
func scanProcess(cs kubernetes.Interface, binary string, cluster *framework.Cluster, dir string) (procMeasure, error) {
	var m procMeasure
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig); err != nil {
		return m, err
	}
	before, err := apiserverRequests(cs)
	if err != nil {
		return m, err
	}
	cmd := exec.Command(binary, "scan", "--cluster", "--kubeconfig", kubeconfig, "--profile", "nsa", "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	m.wall = time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return m, err
	}
	// Exit status 1 is a report with violations.
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 1 {
		return m, fmt.Errorf("bulwark scan --cluster exited %d: %s", code, stderr.String())
	}
	m.maxRSS = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	after, err := apiserverRequests(cs)
	if err != nil {
		return m, err
	}
	m.lists, m.watches = after["LIST"]-before["LIST"], after["WATCH"]-before["WATCH"]
	return m, nil
}
