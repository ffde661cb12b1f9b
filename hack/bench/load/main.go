// Command load measures Bulwark's webhook over HTTPS beside the upstream Pod Security webhook
// (k8s.io/pod-security-admission/cmd/webhook, PSA below), on the same AdmissionReview bodies,
// in the same run:
//
//   - a kube-apiserver and etcd (hack/tools.sh) hold the namespace team-a, labelled
//     pod-security.kubernetes.io/enforce=restricted, so that PSA evaluates the pods; both
//     servers read it through their informers;
//   - `bulwark serve` (policy: the restricted profile, with mutation on) and PSA run as
//     separate processes, each pinned to one core (taskset, GOMAXPROCS=1), serving HTTP/1.1
//     over TLS with the same ECDSA P-256 certificate;
//   - the load generators run pinned to the other core, over keep-alive connections: hey
//     (closed loop) finds the saturation throughput, vegeta (open loop, fixed rates) the
//     latency at each rate;
//   - per measurement, the server's CPU time (from /proc) gives CPU seconds per 1,000
//     requests, and its resident memory is sampled every 100 ms; the peak (VmHWM) is read
//     at the end.
//
// The bodies are test/bench's fixtures (test/testdata/bench) as the kube-apiserver sends
// them; each server's answer to each is checked once before measuring, so that no
// measurement times an error path. Results go to OUT/load.json (read by hack/bench/plot) and
// a table with the Bulwark/PSA ratios to standard output.
//
// With --unpinned, nothing is pinned: the servers run with their default GOMAXPROCS and share
// the machine's cores with the load generators, as a pod and its neighbours do. --sweep runs
// hey at each number of connections against /validate and PSA in turn, for the table of
// throughput and p99 by concurrency.
//
//	make bench-load                                    # as documented in docs/performance.md
//	go run ./hack/bench/load --binary bin/bulwark --duration 5s --rates 1000,2000
//	go run ./hack/bench/load --unpinned --sweep 1,4,16,64 --rates "" --fixtures restricted-pod
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bulwark-k8s/bulwark/hack/bench/benchproc"
	"github.com/bulwark-k8s/bulwark/test/bench"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

type config struct {
	binary, tools, out    string
	fixtures              []string
	rates                 []int
	rounds                int
	duration, satDuration time.Duration
	warmup                time.Duration
	concurrency           int
	serverCPU, loadCPU    int
	fixturesDir           string
	profiles              bool
	// contention saves the mutex and block profiles and a trace of bulwark's sweep runs.
	contention bool
	// unpinned runs every process on every core, the servers with their default GOMAXPROCS.
	unpinned bool
	// serveFlags are added to bulwark serve's flags.
	serveFlags []string
	// sweep lists the connection counts of the concurrency sweep (none: no sweep).
	sweep []int
}

func main() {
	var c config
	var fixtures, rates, sweep string
	flag.StringVar(&c.binary, "binary", "bin/bulwark", "the bulwark binary (make build)")
	flag.StringVar(&c.tools, "tools", "", "directory of vegeta, hey, pod-security-webhook, etcd and kube-apiserver (default: the last line of hack/tools.sh)")
	flag.StringVar(&c.out, "out", ".local/bench/load", "directory for the results (load.json, raw vegeta results)")
	flag.StringVar(&fixtures, "fixtures", "restricted-pod,violating-pod", "test/bench fixtures to send, comma-separated (restricted-pod, violating-pod, minimal-pod, deployment)")
	flag.StringVar(&rates, "rates", "500,1000,2000,3000,4000", "fixed request rates for the latency runs, req/s, comma-separated")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each fixed-rate run")
	flag.IntVar(&c.rounds, "rounds", 1, "rounds of the fixed-rate runs; the report gives the median of the rounds and the range of their p99")
	flag.DurationVar(&c.satDuration, "saturation-duration", 10*time.Second, "length of each saturation run")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "saturation load on each endpoint before measuring")
	flag.IntVar(&c.concurrency, "concurrency", 32, "connections of the saturation runs (hey -c)")
	flag.IntVar(&c.serverCPU, "server-cpu", 0, "the core the servers are pinned to")
	flag.IntVar(&c.loadCPU, "load-cpu", 1, "the core the load generators are pinned to")
	flag.StringVar(&c.fixturesDir, "fixtures-dir", "test/testdata/bench", "directory of the fixtures")
	flag.BoolVar(&c.unpinned, "unpinned", false, "pin nothing: the servers run with their default GOMAXPROCS on every core, beside the load generators")
	flag.Func("serve-flags", "flags added to bulwark serve's, space-separated (later flags win), e.g. \"--audit-interval=20s --log-level=info --metrics-bind-address=127.0.0.1:0\" to measure it as make run runs it", func(v string) error {
		c.serveFlags = append(c.serveFlags, strings.Fields(v)...)
		return nil
	})
	flag.StringVar(&sweep, "sweep", "", "connection counts (hey -c) of a concurrency sweep against /validate and PSA, comma-separated, e.g. 1,4,16,64; each runs for --saturation-duration, --rounds times")
	flag.BoolVar(&c.contention, "contention", false, "save, for each sweep run against /validate, bulwark's CPU, mutex and block profiles (OUT/{cpu,mutex,block}-sweep-CONNS.pprof) and a 2 s execution trace (OUT/trace-sweep-CONNS.out)")
	flag.BoolVar(&c.profiles, "cpuprofile", false, "save a CPU profile of bulwark during each of its saturation runs and the first round of its fixed-rate runs, as OUT/cpu-ENDPOINT-FIXTURE[-RATE].pprof (go tool pprof)")
	flag.Parse()
	c.fixtures = strings.Split(fixtures, ",")
	var err error
	if c.rates, err = benchproc.Positives(rates); err != nil {
		fmt.Fprintf(os.Stderr, "load: --rates: %v of requests per second\n", err)
		os.Exit(2)
	}
	if c.sweep, err = benchproc.Positives(sweep); err != nil {
		fmt.Fprintf(os.Stderr, "load: --sweep: %v of connections\n", err)
		os.Exit(2)
	}
	if c.rounds < 1 {
		fmt.Fprintf(os.Stderr, "load: --rounds: %d is not a positive number of rounds\n", c.rounds)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// Results is what load.json holds.
type Results struct {
	Started  time.Time `json:"started"`
	Machine  string    `json:"machine"`
	Duration string    `json:"duration"`
	Fixtures []string  `json:"fixtures"`
	Rates    []int     `json:"rates"`
	Rounds   int       `json:"rounds"`
	Unpinned bool      `json:"unpinned,omitempty"`
	// ServeFlags are the flags added to bulwark serve's (--serve-flags).
	ServeFlags []string      `json:"serveFlags,omitempty"`
	Sweep      []int         `json:"sweep,omitempty"`
	Endpoints  []string      `json:"endpoints"`
	Runs       []Measurement `json:"runs"`
	// PeakRSS is each server's VmHWM at the end of the run, in MiB.
	PeakRSS map[string]float64 `json:"peakRSSMiB"`
	// Pooled are the latencies of all the requests of all the rounds of each fixed-rate run
	// (vegeta report over every round's results), when there is more than one round.
	Pooled []Measurement `json:"pooled,omitempty"`
}

// Measurement is one run of a load generator against one endpoint with one fixture.
type Measurement struct {
	Endpoint string `json:"endpoint"` // bulwark-validate, bulwark-mutate, psa
	Fixture  string `json:"fixture"`
	// Rate is the fixed rate asked for (vegeta); 0 for the saturation run (hey).
	Rate int `json:"rate"`
	// Round numbers the rounds of a fixed-rate run or of a sweep from 1; 0 for the saturation run.
	Round int `json:"round,omitempty"`
	// Connections is hey's -c for a run of the sweep; 0 otherwise.
	Connections int     `json:"connections,omitempty"`
	Requests    int     `json:"requests"`
	Failed      int     `json:"failed"`
	Throughput  float64 `json:"throughput"` // successful responses per second
	P50ms       float64 `json:"p50ms"`
	P90ms       float64 `json:"p90ms"`
	P99ms       float64 `json:"p99ms"`
	MaxMs       float64 `json:"maxms"`
	// ServerCPU is the server's CPU time during the run; CPUPer1k is that per 1,000 requests.
	ServerCPU float64 `json:"serverCPUSeconds"`
	CPUPer1k  float64 `json:"cpuSecondsPer1kRequests"`
	// CoreBusy is ServerCPU over the run's wall time: near 1.0 means the server's core was the limit.
	CoreBusy float64 `json:"coreBusy"`
	// MaxRSS is the largest resident set sampled during the run, in MiB.
	MaxRSS float64 `json:"maxRSSMiB"`
	// Results is vegeta's file of the run's requests.
	Results string `json:"results,omitempty"`
}

type endpoint struct {
	name string
	url  string
	proc *process
	// check verifies the server's answer to a fixture.
	check func(fixture string, resp *admissionv1.AdmissionResponse) error
}

func run(c config) error {
	tools, err := benchproc.Tools(c.tools, "etcd", "kube-apiserver", "kubectl", "vegeta", "hey", "pod-security-webhook")
	if err != nil {
		return err
	}
	c.tools = tools
	for _, t := range []string{"vegeta", "hey", "pod-security-webhook"} {
		if _, err := os.Stat(filepath.Join(c.tools, t)); err != nil {
			return fmt.Errorf("%s not found in %s: run hack/tools.sh %s", t, c.tools, t)
		}
	}
	if _, err := exec.LookPath("taskset"); err != nil && !c.unpinned {
		return errors.New("taskset not found (util-linux): it pins the servers and the load generators to their cores")
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("%d CPU: the servers and the load generators need a core each", runtime.NumCPU())
	}
	binary, err := filepath.Abs(c.binary)
	if err != nil {
		return err
	}
	names, bodies, err := bench.Reviews(c.fixturesDir)
	if err != nil {
		return err
	}
	for _, f := range c.fixtures {
		if bodies[f] == nil {
			return fmt.Errorf("--fixtures: no fixture %q (have %s)", f, strings.Join(names, ", "))
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bulwark-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	os.Setenv("KUBEBUILDER_ASSETS", c.tools)
	say("starting etcd and kube-apiserver")
	cluster, err := framework.StartControlPlane()
	if err != nil {
		return err
	}
	defer cluster.Stop()
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		return err
	}
	ctx := context.Background()
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: bench.Namespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bulwark-system"}},
	} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}

	certDir := filepath.Join(work, "certs")
	caFile, _, err := benchproc.WriteCertificates(certDir)
	if err != nil {
		return err
	}
	policyFile := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: restricted\nmutation:\n  enabled: true\n"), 0o644); err != nil {
		return err
	}
	ports, err := benchproc.FreePorts(4)
	if err != nil {
		return err
	}
	pin := func(cpu int, argv ...string) []string { return c.pin(cpu, argv) }
	if c.unpinned {
		say("starting bulwark serve and the Pod Security webhook, unpinned, with their default GOMAXPROCS (%d)", runtime.NumCPU())
	} else {
		say("starting bulwark serve and the Pod Security webhook on core %d (GOMAXPROCS=1)", c.serverCPU)
	}
	serve := []string{binary, "serve",
		"--kubeconfig", kubeconfig, "--bind-address", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--cert-dir", certDir, "--policy-file", policyFile, "--namespace", "bulwark-system",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--audit-interval", "0", "--log-level", "error", "--pprof-bind-address", "127.0.0.1:" + strconv.Itoa(ports[3])}
	if c.contention {
		serve = append(serve, "--pprof-contention")
	}
	// Later flags win: --serve-flags can turn the audit, the metrics or the logs back on.
	serve = append(serve, c.serveFlags...)
	bulwarkProc, err := c.start(filepath.Join(c.out, "bulwark.log"), pin(c.serverCPU, serve...))
	if err != nil {
		return err
	}
	defer bulwarkProc.Stop()
	if c.profiles || c.contention {
		bulwarkProc.pprof = "http://127.0.0.1:" + strconv.Itoa(ports[3]) + "/debug/pprof/profile"
	}
	psaProc, err := c.start(filepath.Join(c.out, "psa.log"), pin(c.serverCPU, filepath.Join(c.tools, "pod-security-webhook"),
		"--kubeconfig", kubeconfig, "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[2]),
		"--tls-cert-file", filepath.Join(certDir, "tls.crt"), "--tls-private-key-file", filepath.Join(certDir, "tls.key")))
	if err != nil {
		return err
	}
	defer psaProc.Stop()

	client, err := httpsClient(caFile)
	if err != nil {
		return err
	}
	bulwarkURL := "https://127.0.0.1:" + strconv.Itoa(ports[0])
	endpoints := []*endpoint{
		{name: "bulwark-validate", url: bulwarkURL + "/validate?timeout=10s", proc: bulwarkProc, check: expectDecision},
		{name: "bulwark-mutate", url: bulwarkURL + "/mutate?timeout=10s", proc: bulwarkProc, check: expectMutation},
		{name: "psa", url: "https://127.0.0.1:" + strconv.Itoa(ports[2]) + "/?timeout=10s", proc: psaProc, check: expectDecision},
	}
	say("waiting for both servers to answer from their namespace caches")
	for _, e := range endpoints {
		if err := waitAnswers(client, e, c.fixtures, bodies); err != nil {
			return err
		}
	}

	res := Results{Started: time.Now().UTC(), Machine: benchproc.Machine(), Duration: c.duration.String(), Fixtures: c.fixtures, Rates: c.rates, Rounds: c.rounds,
		Unpinned: c.unpinned, ServeFlags: c.serveFlags, Sweep: c.sweep, PeakRSS: map[string]float64{}}
	for _, e := range endpoints {
		res.Endpoints = append(res.Endpoints, e.name)
	}
	bodyFiles := map[string]string{}
	for _, f := range c.fixtures {
		bodyFiles[f] = filepath.Join(work, f+".json")
		if err := os.WriteFile(bodyFiles[f], bodies[f], 0o644); err != nil {
			return err
		}
	}
	gen := generators{c: c, caFile: caFile, tools: c.tools, work: work}
	say("warming up each endpoint for %s", c.warmup)
	for _, e := range endpoints {
		if _, err := gen.saturate(e, c.fixtures[0], bodyFiles[c.fixtures[0]], c.warmup, c.concurrency); err != nil {
			return err
		}
	}
	// Interleaved: each measurement runs against every endpoint in turn, so that drift in the
	// machine's load spreads over all of them.
	for _, f := range c.fixtures {
		for _, e := range endpoints {
			say("saturation: %s, %s, hey -c %d for %s", e.name, f, c.concurrency, c.satDuration)
			m, err := gen.saturate(e, f, bodyFiles[f], c.satDuration, c.concurrency)
			if err != nil {
				return err
			}
			res.Runs = append(res.Runs, m)
			say("  %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.3f CPU s per 1k, core busy %.2f, %d failed", m.Throughput, m.P50ms, m.P99ms, m.CPUPer1k, m.CoreBusy, m.Failed)
		}
		// The sweep: /validate and PSA in turn at each number of connections, round by round.
		for round := 1; round <= c.rounds && len(c.sweep) > 0; round++ {
			for _, conns := range c.sweep {
				for _, e := range []*endpoint{endpoints[0], endpoints[2]} {
					say("sweep, round %d of %d: %s, %s, hey -c %d for %s", round, c.rounds, e.name, f, conns, c.satDuration)
					profiled := func() error { return nil }
					if c.contention && e == endpoints[0] && round == 1 {
						profiled = gen.contention(e, conns)
					}
					m, err := gen.saturate(e, f, bodyFiles[f], c.satDuration, conns)
					if perr := profiled(); perr != nil && err == nil {
						err = perr
					}
					if err != nil {
						return err
					}
					m.Round, m.Connections = round, conns
					res.Runs = append(res.Runs, m)
					say("  %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.3f CPU s per 1k, %d failed", m.Throughput, m.P50ms, m.P99ms, m.CPUPer1k, m.Failed)
				}
			}
		}
		for round := 1; round <= c.rounds; round++ {
			for _, rate := range c.rates {
				for _, e := range endpoints {
					say("fixed rate, round %d of %d: %s, %s, vegeta %d req/s for %s", round, c.rounds, e.name, f, rate, c.duration)
					m, err := gen.attack(e, f, bodyFiles[f], rate, round)
					if err != nil {
						return err
					}
					res.Runs = append(res.Runs, m)
					say("  p50 %.2f ms, p99 %.2f ms, max %.2f ms, %.3f CPU s per 1k, %d failed", m.P50ms, m.P99ms, m.MaxMs, m.CPUPer1k, m.Failed)
				}
			}
		}
	}
	if c.rounds > 1 {
		for _, f := range c.fixtures {
			for _, rate := range c.rates {
				for _, e := range endpoints {
					m, err := gen.pool(matching(res.Runs, e.name, f, rate))
					if err != nil {
						return err
					}
					res.Pooled = append(res.Pooled, m)
				}
			}
		}
	}
	for _, e := range []*endpoint{endpoints[0], endpoints[2]} {
		server := strings.SplitN(e.name, "-", 2)[0]
		if res.PeakRSS[server], err = e.proc.PeakRSS(); err != nil {
			return err
		}
	}
	// Neither server may have died or restarted under load.
	for _, p := range []*process{bulwarkProc, psaProc} {
		if err := p.Alive(); err != nil {
			return err
		}
	}
	if err := benchproc.WriteJSON(filepath.Join(c.out, "load.json"), res); err != nil {
		return err
	}
	report(os.Stdout, res)
	say("results: %s", filepath.Join(c.out, "load.json"))
	return nil
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[load] "+format+"\n", args...)
}

// Combined is the rounds of one run combined: the median of each figure over the rounds,
// except Failed and Requests (summed) and MaxMs and MaxRSS (the largest), with the range of
// the rounds' p99.
type Combined struct {
	Measurement
	Rounds              int
	P99Lowms, P99Highms float64
}

// combine combines the rounds of a run; nil when there are none.
func combine(runs []Measurement) *Combined {
	if len(runs) == 0 {
		return nil
	}
	c := &Combined{Measurement: runs[0], Rounds: len(runs), P99Lowms: runs[0].P99ms, P99Highms: runs[0].P99ms}
	c.Failed, c.Requests = 0, 0
	field := func(get func(*Measurement) float64) float64 {
		v := make([]float64, len(runs))
		for i := range runs {
			v[i] = get(&runs[i])
		}
		return median(v)
	}
	c.Throughput = field(func(m *Measurement) float64 { return m.Throughput })
	c.P50ms = field(func(m *Measurement) float64 { return m.P50ms })
	c.P90ms = field(func(m *Measurement) float64 { return m.P90ms })
	c.P99ms = field(func(m *Measurement) float64 { return m.P99ms })
	c.ServerCPU = field(func(m *Measurement) float64 { return m.ServerCPU })
	c.CPUPer1k = field(func(m *Measurement) float64 { return m.CPUPer1k })
	c.CoreBusy = field(func(m *Measurement) float64 { return m.CoreBusy })
	for _, m := range runs {
		c.Failed += m.Failed
		c.Requests += m.Requests
		c.MaxMs = max(c.MaxMs, m.MaxMs)
		c.MaxRSS = max(c.MaxRSS, m.MaxRSS)
		c.P99Lowms = min(c.P99Lowms, m.P99ms)
		c.P99Highms = max(c.P99Highms, m.P99ms)
	}
	return c
}

// matching returns the measurements of one endpoint, fixture and rate (the rounds of a run),
// the sweep's aside.
func matching(ms []Measurement, ep, fixture string, rate int) []Measurement {
	return sweepRuns(ms, ep, fixture, rate, 0)
}

// sweepRuns returns the rounds of one endpoint, fixture, rate and number of connections (0:
// not the sweep's).
func sweepRuns(ms []Measurement, ep, fixture string, rate, conns int) []Measurement {
	var out []Measurement
	for _, m := range ms {
		if m.Endpoint == ep && m.Fixture == fixture && m.Rate == rate && m.Connections == conns {
			out = append(out, m)
		}
	}
	return out
}

// median of v (the mean of the middle two for an even count); v is sorted in place.
func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// report prints the results and the Bulwark/PSA ratios.
func report(w io.Writer, r Results) {
	find := func(ep, fixture string, rate int) *Combined {
		return combine(matching(r.Runs, ep, fixture, rate))
	}
	pooled := func(ep, fixture string, rate int) string {
		if m := matching(r.Pooled, ep, fixture, rate); len(m) > 0 {
			return fmt.Sprintf("%.3f", m[0].P99ms)
		}
		return ""
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	where := "servers on one core (GOMAXPROCS=1)"
	if r.Unpinned {
		where = "unpinned: servers with their default GOMAXPROCS, beside the load generators"
	}
	fmt.Fprintf(w, "\nHTTPS load, %s, %s\n", where, r.Machine)
	if r.Rounds > 1 {
		fmt.Fprintf(w, "fixed rates: the median of %d rounds of %s each, with the range of their p99 and the p99 of all their requests together (p99 all); max ms and max RSS are the largest, failed the sum\n", r.Rounds, r.Duration)
	}
	for _, f := range r.Fixtures {
		fmt.Fprintf(w, "\nfixture %s\n", f)
		fmt.Fprintln(tw, "run\tendpoint\treq/s\tp50 ms\tp99 ms\tp99 range ms\tp99 all ms\tmax ms\tCPU s/1k req\tcore busy\tmax RSS MiB\tfailed\tp99 vs PSA\tCPU vs PSA\t")
		rates := append([]int{0}, r.Rates...)
		for _, rate := range rates {
			psa := find("psa", f, rate)
			for _, ep := range r.Endpoints {
				m := find(ep, f, rate)
				if m == nil {
					continue
				}
				label := "saturation"
				if rate > 0 {
					label = fmt.Sprintf("%d req/s", rate)
				}
				p99, cpu := "", ""
				if psa != nil && ep != "psa" {
					p99 = fmt.Sprintf("%.2fx", m.P99ms/psa.P99ms)
					cpu = fmt.Sprintf("%.2fx", m.CPUPer1k/psa.CPUPer1k)
				}
				spread := ""
				if m.Rounds > 1 {
					spread = fmt.Sprintf("%.2f-%.2f", m.P99Lowms, m.P99Highms)
				}
				fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%.3f\t%s\t%s\t%.2f\t%.3f\t%.2f\t%.1f\t%d\t%s\t%s\t\n",
					label, ep, m.Throughput, m.P50ms, m.P99ms, spread, pooled(ep, f, rate), m.MaxMs, m.CPUPer1k, m.CoreBusy, m.MaxRSS, m.Failed, p99, cpu)
			}
		}
		tw.Flush()
		if b, p := find("bulwark-validate", f, 0), find("psa", f, 0); b != nil && p != nil {
			fmt.Fprintf(w, "saturation throughput /validate / PSA: %.2fx (%.0f against %.0f req/s)\n", b.Throughput/p.Throughput, b.Throughput, p.Throughput)
		}
		if b, p := find("bulwark-mutate", f, 0), find("psa", f, 0); b != nil && p != nil {
			fmt.Fprintf(w, "saturation throughput /mutate / PSA: %.2fx\n", b.Throughput/p.Throughput)
		}
		if len(r.Sweep) > 0 {
			fmt.Fprintf(w, "\nconcurrency sweep, hey closed loop, the median of %d rounds (p99 range over the rounds)\n", r.Rounds)
			fmt.Fprintln(tw, "connections\t/validate req/s\tPSA req/s\tratio\t/validate p99 ms\tPSA p99 ms\tp99 ratio\t/validate CPU s/1k\tPSA CPU s/1k\t")
			for _, conns := range r.Sweep {
				b := combine(sweepRuns(r.Runs, "bulwark-validate", f, 0, conns))
				p := combine(sweepRuns(r.Runs, "psa", f, 0, conns))
				if b == nil || p == nil {
					continue
				}
				fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%.2f (%.2f-%.2f)\t%.2f (%.2f-%.2f)\t%.2f\t%.3f\t%.3f\t\n", conns, b.Throughput, p.Throughput, b.Throughput/p.Throughput,
					b.P99ms, b.P99Lowms, b.P99Highms, p.P99ms, p.P99Lowms, p.P99Highms, b.P99ms/p.P99ms, b.CPUPer1k, p.CPUPer1k)
			}
			tw.Flush()
		}
	}
	var servers []string
	for s := range r.PeakRSS {
		servers = append(servers, s)
	}
	sort.Strings(servers)
	for _, s := range servers {
		fmt.Fprintf(w, "peak RSS (VmHWM) of %s over the whole run: %.1f MiB\n", s, r.PeakRSS[s])
	}
}

// expectDecision accepts an AdmissionReview response with the request's UID and a decision.
func expectDecision(fixture string, resp *admissionv1.AdmissionResponse) error {
	if resp.Result != nil && resp.Result.Code >= 400 && resp.Result.Code != http.StatusForbidden {
		return fmt.Errorf("%s: error answer %d: %s", fixture, resp.Result.Code, resp.Result.Message)
	}
	want := fixture != "violating-pod"
	if resp.Allowed != want {
		msg := ""
		if resp.Result != nil {
			msg = resp.Result.Message
		}
		return fmt.Errorf("%s: allowed=%v, want %v: %s", fixture, resp.Allowed, want, msg)
	}
	return nil
}

// expectMutation accepts an allowed answer: the mutating webhook never denies.
func expectMutation(fixture string, resp *admissionv1.AdmissionResponse) error {
	if !resp.Allowed {
		return fmt.Errorf("%s: the mutating webhook did not allow: %v", fixture, resp.Result)
	}
	return nil
}

// waitAnswers sends every fixture to the endpoint until it answers as expected (the servers
// answer errors until their namespace informers have synced), for at most a minute.
func waitAnswers(client *http.Client, e *endpoint, fixtures []string, bodies map[string][]byte) error {
	deadline := time.Now().Add(time.Minute)
	for _, f := range fixtures {
		for {
			err := answer(client, e, f, bodies[f])
			if err == nil {
				break
			}
			if err := e.proc.Alive(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not answer as expected: %w", e.name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func answer(client *http.Client, e *endpoint, fixture string, body []byte) error {
	resp, err := client.Post(e.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", fixture, resp.StatusCode, data)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &review); err != nil {
		return fmt.Errorf("%s: %w", fixture, err)
	}
	if review.Response == nil || review.Response.UID == "" {
		return fmt.Errorf("%s: no response or no UID in %s", fixture, data)
	}
	return e.check(fixture, review.Response)
}

type generators struct {
	c           config
	caFile      string
	tools, work string
}

// saturate runs hey, closed loop, against the endpoint for d over conns connections.
func (g *generators) saturate(e *endpoint, fixture, bodyFile string, d time.Duration, conns int) (Measurement, error) {
	argv := g.c.pin(g.c.loadCPU, []string{filepath.Join(g.tools, "hey"),
		"-z", d.String(), "-c", strconv.Itoa(conns), "-m", "POST", "-T", "application/json",
		"-D", bodyFile, e.url})
	m := Measurement{Endpoint: e.name, Fixture: fixture}
	profiled := func() error { return nil }
	if d == g.c.satDuration && conns == g.c.concurrency {
		profiled = g.profile(e, fmt.Sprintf("cpu-%s-%s.pprof", e.name, fixture), d)
	}
	out, err := g.measure(e, &m, argv)
	if perr := profiled(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return m, err
	}
	return m, parseHey(out, &m)
}

// profile starts a CPU profile of the endpoint's server for the length of a run of d, less a
// second, when profiles are taken, and returns the function that waits for it to be saved.
func (g *generators) profile(e *endpoint, file string, d time.Duration) func() error {
	if e.proc.pprof == "" || d < 3*time.Second {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		done <- benchproc.SaveProfile(e.proc.pprof, int((d-time.Second)/time.Second), filepath.Join(g.c.out, file))
	}()
	return func() error { return <-done }
}

// contention saves the CPU, mutex and block profiles of the endpoint's server over a run of the
// sweep (less a second), and a 2 s trace from its middle; it returns the function that waits for
// them.
func (g *generators) contention(e *endpoint, conns int) func() error {
	seconds := int((g.c.satDuration - time.Second) / time.Second)
	if e.proc.pprof == "" || seconds < 2 {
		return func() error { return nil }
	}
	base := strings.TrimSuffix(e.proc.pprof, "profile")
	saves := []struct{ url, file string }{
		{base + "profile", fmt.Sprintf("cpu-sweep-%d.pprof", conns)},
		{base + "mutex", fmt.Sprintf("mutex-sweep-%d.pprof", conns)},
		{base + "block", fmt.Sprintf("block-sweep-%d.pprof", conns)},
	}
	done := make(chan error, len(saves)+1)
	for _, p := range saves {
		go func() { done <- benchproc.SaveProfile(p.url, seconds, filepath.Join(g.c.out, p.file)) }()
	}
	go func() {
		time.Sleep(time.Duration(seconds/2) * time.Second)
		done <- benchproc.SaveProfile(base+"trace", 2, filepath.Join(g.c.out, fmt.Sprintf("trace-sweep-%d.out", conns)))
	}()
	return func() error {
		var errs []error
		for range len(saves) + 1 {
			errs = append(errs, <-done)
		}
		return errors.Join(errs...)
	}
}

// attack runs vegeta at a fixed rate against the endpoint.
func (g *generators) attack(e *endpoint, fixture, bodyFile string, rate, round int) (Measurement, error) {
	targets := filepath.Join(g.work, "targets.txt")
	if err := os.WriteFile(targets, []byte(fmt.Sprintf("POST %s\nContent-Type: application/json\n@%s\n", e.url, bodyFile)), 0o644); err != nil {
		return Measurement{}, err
	}
	results := filepath.Join(g.c.out, fmt.Sprintf("vegeta-%s-%s-%d-r%d.bin", e.name, fixture, rate, round))
	argv := g.c.pin(g.c.loadCPU, []string{filepath.Join(g.tools, "vegeta"), "attack",
		"-targets", targets, "-rate", fmt.Sprintf("%d/1s", rate), "-duration", g.c.duration.String(),
		"-root-certs", g.caFile, "-keepalive=true", "-http2=false", "-timeout", "10s", "-max-body", "0",
		"-output", results})
	m := Measurement{Endpoint: e.name, Fixture: fixture, Rate: rate, Round: round, Results: results}
	profiled := func() error { return nil }
	if round == 1 {
		profiled = g.profile(e, fmt.Sprintf("cpu-%s-%s-%d.pprof", e.name, fixture, rate), g.c.duration)
	}
	_, err := g.measure(e, &m, argv)
	if perr := profiled(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return m, err
	}
	out, err := exec.Command(filepath.Join(g.tools, "vegeta"), "report", "-type", "json", results).Output()
	if err != nil {
		return m, fmt.Errorf("vegeta report %s: %w", results, err)
	}
	return m, parseVegeta(out, &m)
}

// pool reports the latencies of all the requests of the rounds together: the p99 of the
// whole, which single rounds of a few seconds only estimate.
func (g *generators) pool(rounds []Measurement) (Measurement, error) {
	m := Measurement{Endpoint: rounds[0].Endpoint, Fixture: rounds[0].Fixture, Rate: rounds[0].Rate}
	argv := []string{"report", "-type", "json"}
	for _, r := range rounds {
		argv = append(argv, r.Results)
		m.ServerCPU += r.ServerCPU
		m.MaxRSS = max(m.MaxRSS, r.MaxRSS)
	}
	out, err := exec.Command(filepath.Join(g.tools, "vegeta"), argv...).Output()
	if err != nil {
		return m, fmt.Errorf("vegeta %s: %w", strings.Join(argv, " "), err)
	}
	err = parseVegeta(out, &m)
	m.Throughput = 0 // vegeta's over the files' combined span, which includes the other runs between them
	return m, err
}

// measure runs the load generator and records the server's CPU time and resident memory
// while it runs.
func (g *generators) measure(e *endpoint, m *Measurement, argv []string) ([]byte, error) {
	cpu0, err := e.proc.CPUSeconds()
	if err != nil {
		return nil, err
	}
	peakRSS := e.proc.SampleRSS()
	start := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	wall := time.Since(start).Seconds()
	maxRSS := peakRSS()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	cpu1, err := e.proc.CPUSeconds()
	if err != nil {
		return nil, err
	}
	m.ServerCPU = cpu1 - cpu0
	m.CoreBusy = m.ServerCPU / wall
	m.MaxRSS = maxRSS
	return out, nil
}

var (
	heyRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	heyLatency = regexp.MustCompile(`(?m)^\s+(50|90|99)%+ in ([0-9.]+) secs`)
	heySlowest = regexp.MustCompile(`Slowest:\s+([0-9.]+) secs`)
	heyStatus  = regexp.MustCompile(`(?m)^\s+\[(\d+)\]\s+(\d+) responses`)
)

// parseHey reads hey's summary: requests per second, latency distribution, status codes and
// errors.
func parseHey(out []byte, m *Measurement) error {
	s := string(out)
	rps := heyRPS.FindStringSubmatch(s)
	if rps == nil {
		return fmt.Errorf("no Requests/sec in hey's output:\n%s", s)
	}
	total, _ := strconv.ParseFloat(rps[1], 64)
	for _, l := range heyLatency.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		switch l[1] {
		case "50":
			m.P50ms = v * 1000
		case "90":
			m.P90ms = v * 1000
		case "99":
			m.P99ms = v * 1000
		}
	}
	if sl := heySlowest.FindStringSubmatch(s); sl != nil {
		v, _ := strconv.ParseFloat(sl[1], 64)
		m.MaxMs = v * 1000
	}
	ok := 0
	for _, st := range heyStatus.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(st[2])
		m.Requests += n
		if st[1] == "200" {
			ok += n
		}
	}
	// Requests that got no answer at all are listed under "Error distribution".
	if i := strings.Index(s, "Error distribution:"); i >= 0 {
		sc := bufio.NewScanner(strings.NewReader(s[i:]))
		for sc.Scan() {
			var n int
			if _, err := fmt.Sscanf(strings.TrimSpace(sc.Text()), "[%d]", &n); err == nil {
				m.Requests += n
			}
		}
	}
	m.Failed = m.Requests - ok
	if m.Requests == 0 {
		return fmt.Errorf("hey reported no responses:\n%s", s)
	}
	// hey's Requests/sec counts every response; the throughput counts the successful ones.
	m.Throughput = total * float64(ok) / float64(m.Requests)
	m.CPUPer1k = m.ServerCPU / float64(m.Requests) * 1000
	return nil
}

// parseVegeta reads `vegeta report -type json`.
func parseVegeta(out []byte, m *Measurement) error {
	var r struct {
		Latencies struct {
			P50 float64 `json:"50th"`
			P90 float64 `json:"90th"`
			P99 float64 `json:"99th"`
			Max float64 `json:"max"`
		} `json:"latencies"`
		Requests    int            `json:"requests"`
		Throughput  float64        `json:"throughput"`
		Success     float64        `json:"success"`
		StatusCodes map[string]int `json:"status_codes"`
		Errors      []string       `json:"errors"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("vegeta report: %w", err)
	}
	ms := func(ns float64) float64 { return ns / 1e6 }
	m.P50ms, m.P90ms, m.P99ms, m.MaxMs = ms(r.Latencies.P50), ms(r.Latencies.P90), ms(r.Latencies.P99), ms(r.Latencies.Max)
	m.Requests = r.Requests
	m.Failed = r.Requests - r.StatusCodes["200"]
	m.Throughput = r.Throughput
	if m.Requests > 0 {
		m.CPUPer1k = m.ServerCPU / float64(m.Requests) * 1000
	}
	if m.Failed > 0 {
		say("  vegeta errors: %s", strings.Join(r.Errors, "; "))
	}
	return nil
}

// process is a server started by start: a benchproc.Process and, when profiles are taken, its
// CPU profile URL.
type process struct {
	*benchproc.Process
	pprof string
}

// pin runs argv on core cpu (taskset), unless nothing is pinned.
func (c *config) pin(cpu int, argv []string) []string {
	if c.unpinned {
		return argv
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
}

// start starts a server; pinned, with GOMAXPROCS=1.
func (c *config) start(logFile string, argv []string) (*process, error) {
	var env []string
	if !c.unpinned {
		env = append(env, "GOMAXPROCS=1")
	}
	p, err := benchproc.Start(logFile, env, argv)
	if err != nil {
		return nil, err
	}
	return &process{Process: p}, nil
}

func httpsClient(caFile string) (*http.Client, error) {
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}, nil
}
