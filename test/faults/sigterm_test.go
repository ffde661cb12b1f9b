package faults

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/certs"
)

// endpointLag is how long after readiness drops the load generator still sends new requests:
// the time an endpoints update takes to reach the apiserver, which the shutdown delay covers.
const endpointLag = time.Second

// shutdownDelay is bulwark serve's default --shutdown-delay, which these tests run with.
const shutdownDelay = 5 * time.Second

// servingDir writes a serving certificate from p into a new directory laid out as the
// kubelet lays out a mounted Secret.
func servingDir(t *testing.T, p *pki) string {
	t.Helper()
	dir := t.TempDir()
	kp := p.leaf(t)
	if err := certs.WriteFiles(dir, map[string][]byte{"tls.crt": kp.CertPEM, "tls.key": kp.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// largeHostNetworkPod is a hostNetwork Pod carrying size bytes in an annotation.
func largeHostNetworkPod(size int) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"large","namespace":"default","annotations":{"payload":"` +
		strings.Repeat("x", size) + `"}},"spec":{"hostNetwork":true,"containers":[{"name":"app","image":"registry.example.com/app:1.0"}]}}`
}

// slowRequest sends a large AdmissionReview whose body trickles in over d, on a connection of
// its own: a request in flight for all of d. The body (8 MiB) is large enough that trickling
// it over d stays above the pace Bulwark requires of a body (1 MiB/s after 5 s), so that the
// request is slow but served.
type slowRequest struct {
	uid     string
	over    time.Duration // the time the body takes
	started chan struct{} // closed once the headers and the first part of the body are sent
	done    chan struct{}
	at      time.Time // when the answer was complete
	err     error
}

func startSlowRequest(p *pki, addr, uid string, d time.Duration) *slowRequest {
	s := &slowRequest{uid: uid, over: d, started: make(chan struct{}), done: make(chan struct{})}
	body := review(uid, largeHostNetworkPod(8<<20))
	const parts = 20
	r := &tricklingReader{data: body, part: len(body)/parts + 1, pause: d / parts, started: s.started}
	go func() {
		defer close(s.done)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}, Timeout: 60 * time.Second}
		s.err = send(c, addr, "/validate", uid, r, wantDenied)
		s.at = time.Now()
	}()
	return s
}

// tricklingReader hands out data in parts, pausing before every part but the first.
type tricklingReader struct {
	data    []byte
	part    int
	pause   time.Duration
	left    int // bytes left of the current part
	parts   int
	started chan struct{}
}

func (r *tricklingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.left == 0 {
		if r.parts == 1 {
			close(r.started)
		}
		if r.parts > 0 {
			time.Sleep(r.pause)
		}
		r.parts++
		r.left = min(r.part, len(r.data))
	}
	n := copy(p[:min(len(p), r.left)], r.data)
	r.data, r.left = r.data[n:], r.left-n
	return n, nil
}

// TestSIGTERMUnderLoad: the real bulwark serve gets SIGTERM while 8 keep-alive workers (and 2
// on fresh connections) send it AdmissionReviews; in the second case two slow requests (a
// large object whose body trickles in) are in flight too. The load generator acts as an
// endpoints controller: it polls /readyz every 50ms and stops sending new requests
// endpointLag after readiness fails. Readiness must fail before the webhook stops accepting
// connections, every request must be answered correctly (those sent after readiness dropped
// too), the slow requests must be answered after the webhook stopped accepting (drained),
// and the process must exit 0. Once readiness has dropped, every answer closes its
// connection, so that clients holding keep-alive connections reconnect to a ready replica.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Run("load", func(t *testing.T) { sigtermUnderLoad(t, false) })
	t.Run("load and slow requests", func(t *testing.T) { sigtermUnderLoad(t, true) })
}

func sigtermUnderLoad(t *testing.T, withSlow bool) {
	p := newPKI(t)
	b := startBulwark(t, servingDir(t, p))

	// While ready, the probe endpoints name checks and nothing more.
	for _, path := range []string{"/healthz", "/healthz?verbose", "/healthz/ping", "/readyz", "/readyz?verbose",
		"/readyz/shutdown", "/readyz/webhook", "/readyz/informers"} {
		code, body, err := get(b.probe + path)
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %q %v", path, code, body, err)
		}
		checkHealthBody(t, path, body)
	}

	var sending atomic.Bool
	sending.Store(true)
	l := startLoad(t, b.webhook, p.roots, 8, 2, sending.Load)
	var dropAt time.Time
	dropped := make(chan struct{})
	go func() {
		for {
			select {
			case <-b.done:
			default:
				if code, _, err := get(b.probe + "/readyz"); err == nil && code == http.StatusOK {
					time.Sleep(50 * time.Millisecond)
					continue
				}
			}
			dropAt = time.Now()
			l.markAfter(dropAt)
			close(dropped)
			time.Sleep(endpointLag)
			sending.Store(false)
			return
		}
	}()

	time.Sleep(2 * time.Second) // the load in full swing
	var slow []*slowRequest
	if withSlow {
		slow = append(slow,
			startSlowRequest(p, b.webhook, "slow-1", shutdownDelay+2*time.Second),
			startSlowRequest(p, b.webhook, "slow-2", shutdownDelay+3*time.Second))
	}
	for _, s := range slow {
		select {
		case <-s.started:
		case <-s.done:
			t.Fatalf("%s ended before it was under way: %v", s.uid, s.err)
		case <-time.After(20 * time.Second):
			t.Fatalf("%s not under way after 20s", s.uid)
		}
	}
	beforeSignal := l.ok.Load() + l.failed.Load()
	sigAt := time.Now()
	b.signal(syscall.SIGTERM)

	// When the webhook stops accepting connections.
	stopped := make(chan time.Time, 1)
	go func() {
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if !accepting(b.webhook) {
				stopped <- time.Now()
				return
			}
		}
		close(stopped)
	}()

	select {
	case <-dropped:
	case <-time.After(30 * time.Second):
		t.Fatal("readiness has not dropped 30s after SIGTERM")
	}
	// While shutting down, the probe endpoints name the failing check and nothing more.
	for _, path := range []string{"/readyz", "/readyz?verbose", "/readyz/shutdown"} {
		code, body, err := get(b.probe + path)
		if err != nil || code != http.StatusInternalServerError {
			t.Errorf("%s during the shutdown delay: %d %q %v", path, code, body, err)
			continue
		}
		checkHealthBody(t, path, body)
		if path == "/readyz?verbose" && !strings.Contains(body, "[-]shutdown failed: reason withheld") {
			t.Errorf("%s during the shutdown delay does not name the shutdown check: %q", path, body)
		}
	}
	code := b.wait(90 * time.Second)
	exitAt := time.Now()
	stopAt, ok := <-stopped
	if !ok {
		t.Fatal("the webhook still accepted connections 90s after SIGTERM")
	}
	okCount, failed, took, errs := l.wait(t, 60*time.Second)
	for _, s := range slow {
		<-s.done
	}

	total := okCount + failed
	t.Logf("requests: %d answered correctly, %d failed, %d in all (%d before SIGTERM; %.0f/s over %s)",
		okCount, failed, total, beforeSignal, float64(total)/took.Seconds(), ms(took))
	t.Logf("requests sent after readiness dropped: %d (all answered correctly: %v; answers that kept the connection open: %d)",
		l.after.Load(), failed == 0, l.afterKept.Load())
	t.Logf("SIGTERM -> readiness seen failing: %s; readiness seen failing -> webhook refuses connections: %s; SIGTERM -> exit: %s; readiness -> exit: %s",
		ms(dropAt.Sub(sigAt)), ms(stopAt.Sub(dropAt)), ms(exitAt.Sub(sigAt)), ms(exitAt.Sub(dropAt)))
	for _, s := range slow {
		t.Logf("%s (8 MiB body over %s): answered %s after SIGTERM, %s after the webhook stopped accepting; %v",
			s.uid, ms(s.over), ms(s.at.Sub(sigAt)), ms(s.at.Sub(stopAt)), s.err)
	}

	if failed != 0 {
		t.Errorf("%d of %d requests failed:\n%s", failed, total, strings.Join(errs, "\n"))
	}
	if code != 0 {
		t.Errorf("bulwark exited with %d after SIGTERM, want 0 (%v)", code, b.exitErr)
	}
	if !dropAt.Before(stopAt) {
		t.Errorf("the webhook stopped accepting connections (%s) before readiness was seen failing (%s)",
			stopAt.Format("15:04:05.000"), dropAt.Format("15:04:05.000"))
	}
	if l.after.Load() == 0 {
		t.Error("no request was sent after readiness dropped: the test shows nothing about the shutdown delay")
	}
	if n := l.afterKept.Load(); n != 0 {
		t.Errorf("%d answers to requests sent after readiness dropped kept their keep-alive connection open; want Connection: close on each", n)
	}
	for _, s := range slow {
		if s.err != nil {
			t.Errorf("%s, in flight at SIGTERM: %v", s.uid, s.err)
		} else if !s.at.After(stopAt) {
			t.Errorf("%s was answered before the webhook stopped accepting connections: it was not in flight during the drain", s.uid)
		}
	}
	for _, want := range []string{"shutting down gracefully", "not ready from now on", "webhook server shutting down", "webhook server stopped"} {
		if !strings.Contains(b.logs.String(), want) {
			t.Errorf("bulwark's log has no %q", want)
		}
	}
}

// TestSecondSignalExitsAtOnce: with a shutdown delay of an hour, the first SIGTERM makes
// readiness fail while the webhook keeps answering; a second SIGTERM ends the process.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	p := newPKI(t)
	b := startBulwark(t, servingDir(t, p), "--shutdown-delay", "1h")
	b.signal(syscall.SIGTERM)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, _, err := get(b.probe + "/readyz"); err == nil && code == http.StatusInternalServerError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readiness has not dropped 30s after SIGTERM")
		}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}, Timeout: 30 * time.Second}
	for i, cl := range calls {
		uid := "delay-" + strconv.Itoa(i)
		if err := send(c, b.webhook, cl.path, uid, bytes.NewReader(review(uid, cl.pod)), cl.want); err != nil {
			t.Fatalf("during the shutdown delay: %v", err)
		}
	}
	sigAt := time.Now()
	b.signal(syscall.SIGTERM)
	code := b.wait(30 * time.Second)
	t.Logf("exited %s after the second SIGTERM, code %d", ms(time.Since(sigAt)), code)
	if code != 1 {
		t.Errorf("exit code %d after a second signal, want 1", code)
	}
	if !strings.Contains(b.logs.String(), "second signal: exiting now") {
		t.Error("bulwark's log does not say it exits on the second signal")
	}
}

// TestServeShutdownFlags: the flags of the shutdown and of the header timeout are listed with
// their defaults, and values that cannot work are refused before anything starts.
func TestServeShutdownFlags(t *testing.T) {
	run := func(args ...string) (int, string) {
		cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("running bulwark serve %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}
	_, help := run("-h")
	for _, want := range []string{"-shutdown-delay duration", "(default 5s)", "-read-header-timeout duration", "(default 10s)", "-graceful-shutdown-timeout duration", "(default 25s)"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve -h lacks %q", want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shutdown-delay", "-1s"}, "bulwark serve: --shutdown-delay -1s and --graceful-shutdown-timeout 25s must not be negative"},
		{[]string{"--graceful-shutdown-timeout", "-5s"}, "bulwark serve: --shutdown-delay 5s and --graceful-shutdown-timeout -5s must not be negative"},
		{[]string{"--read-header-timeout", "0s"}, "bulwark serve: --read-header-timeout 0s must be positive and at most 30s (the apiserver's longest webhook timeout)"},
		{[]string{"--read-header-timeout", "31s"}, "bulwark serve: --read-header-timeout 31s must be positive and at most 30s"},
	} {
		code, stderr := run(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
