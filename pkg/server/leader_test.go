package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// leaderWork is leader-only work that records its runs: how many began, how many run now, and
// the most that ever ran at once.
type leaderWork struct {
	runs, running, most atomic.Int32
	started, stopped    chan int32 // the number of the run
}

func newLeaderWork() *leaderWork {
	return &leaderWork{started: make(chan int32, 10), stopped: make(chan int32, 10)}
}

func (w *leaderWork) Start(ctx context.Context) error {
	n := w.runs.Add(1)
	now := w.running.Add(1)
	for m := w.most.Load(); now > m && !w.most.CompareAndSwap(m, now); m = w.most.Load() {
	}
	w.started <- n
	<-ctx.Done()
	// Stopping takes a moment, as an audit's last page or a reconcile does.
	time.Sleep(200 * time.Millisecond)
	w.running.Add(-1)
	w.stopped <- n
	return nil
}

func (w *leaderWork) NeedLeaderElection() bool { return true }

// TestTermEndWaitsForItsWork: end returns only once the work the term's manager started has
// returned, and work the manager starts afterwards does not run.
func TestTermEndWaitsForItsWork(t *testing.T) {
	tm := &term{}
	w := newLeaderWork()
	r := &tracked{Runnable: w, term: tm}
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error, 1)
	go func() { returned <- r.Start(ctx) }()
	<-w.started
	cancel()
	tm.end()
	if n := w.running.Load(); n != 0 {
		t.Fatalf("end returned while %d runs of the work were still running", n)
	}
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := w.runs.Load(); n != 1 {
		t.Errorf("work started after end: %d runs, want 1", n)
	}

	if !(&tracked{Runnable: manager.RunnableFunc(func(context.Context) error { return nil })}).NeedLeaderElection() {
		t.Error("a runnable that does not say whether it needs leader election is run without it")
	}
	if (&tracked{Runnable: notLeader{}}).NeedLeaderElection() {
		t.Error("a runnable that needs no leader election is run with it")
	}
}

type notLeader struct{}

func (notLeader) Start(context.Context) error { return nil }
func (notLeader) NeedLeaderElection() bool    { return false }

// TestLeaderElectionCampaignsAgain runs the leader-only work against a real kube-apiserver
// reached through a proxy that can cut the connection (refused, as an apiserver that crashed).
// Cut for longer than the renew deadline, the term's work stops and the loop, instead of
// returning, campaigns again, saying why and naming the Lease; once the apiserver is reachable
// again a new term wins the Lease and the work runs again, never two runs at once. When the
// context ends, the loop returns, the work stops and the Lease is released.
func TestLeaderElectionCampaignsAgain(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("needs kube-apiserver and etcd: run make test, or set KUBEBUILDER_ASSETS to hack/tools.sh's directory")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lease := types.NamespacedName{Namespace: "bulwark-system", Name: "bulwark-leader-test"}
	if _, err := admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: lease.Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, u.Host)
	viaProxy := rest.CopyConfig(cfg)
	viaProxy.Host = "https://" + p.addr

	// As for built-in TLS: a cache scoped to one Secret, and the RESTMapper of the serving
	// manager, which has looked Secrets up already.
	httpClient, err := rest.HTTPClientFor(viaProxy)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(viaProxy, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mapper.RESTMapping(schema.GroupKind{Kind: "Secret"}, "v1"); err != nil {
		t.Fatal(err)
	}
	scoped := cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Namespaces: map[string]cache.Config{
		lease.Namespace: {FieldSelector: fields.OneTermEqualSelector("metadata.name", "bulwark-tls")},
	}}}}

	var logs syncBuffer
	w := newLeaderWork()
	const leaseDuration, renewDeadline, retryPeriod = 4 * time.Second, 3 * time.Second, 500 * time.Millisecond
	l, err := newLeaderElection(leaderOptions{
		RestConfig: viaProxy, Lease: lease, Cache: scoped, Mapper: mapper, Setup: func(m manager.Manager) error { return m.Add(w) },
		ShutdownTimeout: 5 * time.Second, Backoff: 200 * time.Millisecond,
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		Log: funcr.NewJSON(func(obj string) { logs.add(obj) }, funcr.Options{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Start(ctx) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})

	began := time.Now()
	wait(t, w.started, 30*time.Second, "the first term's work to start")
	t.Logf("first term leading %s after the start", ms(time.Since(began)))
	first := holder(t, admin, lease)

	p.cut()
	cut := time.Now()
	wait(t, w.stopped, 30*time.Second, "the first term's work to stop with the apiserver cut off")
	t.Logf("the work stopped %s after the cut (renew deadline %s)", ms(time.Since(cut)), renewDeadline)
	select {
	case err := <-done:
		t.Fatalf("the loop returned when the Lease was lost: %v", err)
	case <-time.After(2 * time.Second):
	}
	// One line for the lost Lease; the next term was created and campaigns, with the
	// apiserver still unreachable.
	var stops []string
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"leader-only work stopped`) {
			stops = append(stops, l)
		}
	}
	if len(stops) == 0 || !strings.Contains(stops[0], `"lease":"`+lease.String()+`"`) || !strings.Contains(stops[0], `"error":"leader election lost"`) {
		t.Errorf("no log line says that the leader-only work stopped because the Lease %s was lost: %q", lease, stops)
	} else if len(stops) > 1 {
		t.Errorf("the leader-only work stopped %d times while the apiserver was unreachable, want once:\n%s", len(stops), strings.Join(stops, "\n"))
	}

	p.restore()
	restored := time.Now()
	wait(t, w.started, 60*time.Second, "a new term's work to start once the apiserver is reachable")
	t.Logf("a new term leading %s after the apiserver was reachable again (lease duration %s)", ms(time.Since(restored)), leaseDuration)
	if second := holder(t, admin, lease); second == first {
		t.Errorf("the Lease is still held by %q: no new term", first)
	}
	if m := w.most.Load(); m != 1 {
		t.Errorf("%d runs of the leader-only work at once", m)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the loop returned %v at shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the loop still runs 30s after its context ended")
	}
	if n := w.running.Load(); n != 0 {
		t.Errorf("%d runs of the work still running after the loop returned", n)
	}
	if h := holder(t, admin, lease); h != "" {
		t.Errorf("the Lease is still held by %q after a clean shutdown", h)
	}
}

func holder(t *testing.T, c kubernetes.Interface, lease types.NamespacedName) string {
	t.Helper()
	l, err := c.CoordinationV1().Leases(lease.Namespace).Get(context.Background(), lease.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the Lease %s: %v", lease, err)
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

func wait(t *testing.T, c <-chan int32, timeout time.Duration, what string) int32 {
	t.Helper()
	select {
	case n := <-c:
		return n
	case <-time.After(timeout):
		t.Fatalf("waited %s for %s", timeout, what)
		return 0
	}
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *syncBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// cutProxy forwards TCP connections to target until cut: then it drops every connection and
// refuses new ones, as a crashed apiserver does, until restore listens again on the same
// address.
type cutProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *cutProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
	}()
	_, _ = io.Copy(c, up)
	c.Close()
}

// cut closes the listener and every connection.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens again on the proxy's address.
func (p *cutProxy) restore() {
	p.t.Helper()
	var ln net.Listener
	var err error
	// The port is free, but give the kernel a moment should it still hold it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		p.t.Fatal(fmt.Errorf("listening again on %s: %w", p.addr, err))
	}
	p.serve(ln)
}
