// Package faults runs the real `bulwark serve` binary against a real kube-apiserver and etcd
// and puts it through the faults of a rolling update and of a certificate renewal while a
// load generator keeps sending it AdmissionReviews over keep-alive HTTPS: SIGTERM (readiness
// drops first, the webhook serves on for the shutdown delay, in-flight requests finish, the
// process exits 0) and replaced serving certificates (kubelet-style ..data swap and a plain
// overwrite), with no failed request. It also checks the limits the webhook server puts on
// its clients: header timeout, TLS versions and suites, HTTP/1.1 only, the body limit.
package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

var (
	cluster    *framework.Cluster
	kubeconfig string
	binary     string // the bulwark executable under test
)

func TestMain(m *testing.M) {
	framework.Main(m, "faults", func(s *framework.Suite) error {
		var err error
		if binary, err = s.BuildBulwark(); err != nil {
			return err
		}
		// No webhook configuration: the load goes to bulwark directly, so that every request
		// and its answer are seen by the test.
		if cluster, err = s.StartControlPlane(); err != nil {
			return err
		}
		if kubeconfig, err = s.Kubeconfig(cluster); err != nil {
			return err
		}
		if err := framework.CreatePolicyConfigMap(cluster.Config, framework.DefaultPolicy); err != nil {
			return fmt.Errorf("policy ConfigMap: %w", err)
		}
		return nil
	})
}

// pki is a CA and the serving certificates it issues for 127.0.0.1.
type pki struct {
	ca    *certs.KeyPair
	roots *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := certs.NewCA(time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{ca: ca, roots: x509.NewCertPool()}
	p.roots.AddCert(ca.Cert)
	return p
}

// leaf issues a new serving certificate (a new key and serial) for 127.0.0.1.
func (p *pki) leaf(t *testing.T) *certs.KeyPair {
	t.Helper()
	kp, err := certs.NewServing(p.ca, certs.Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}}, time.Now(), 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// process is one `bulwark serve` run by the test.
type process struct {
	t       *testing.T
	cmd     *exec.Cmd
	logs    framework.LogBuffer
	webhook string // 127.0.0.1:PORT
	probe   string // http://127.0.0.1:PORT
	done    chan struct{}
	exitErr error
}

// startBulwark runs bulwark serve with the certificate files in certDir, the policy from the
// ConfigMap, no audit and no metrics endpoint, and waits until /readyz answers 200.
func startBulwark(t *testing.T, certDir string, extra ...string) *process {
	t.Helper()
	webhookPort, probePort := framework.FreePortT(t), framework.FreePortT(t)
	p := &process{
		t: t, webhook: net.JoinHostPort("127.0.0.1", strconv.Itoa(webhookPort)),
		probe: "http://127.0.0.1:" + strconv.Itoa(probePort), done: make(chan struct{}),
	}
	args := append([]string{"serve",
		"--kubeconfig", kubeconfig,
		"--policy-configmap", framework.PolicyNamespace + "/" + framework.PolicyConfigMap,
		"--namespace", framework.PolicyNamespace,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(webhookPort),
		"--cert-dir", certDir,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(probePort),
		"--audit-interval", "0",
	}, extra...)
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", binary, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(60 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
				t.Errorf("bulwark did not exit within 60s of SIGTERM")
			}
		}
		if t.Failed() {
			t.Logf("bulwark logs:\n%s", p.logs.String())
		}
	})
	var last string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.done:
			t.Fatalf("bulwark exited before it was ready (%v):\n%s", p.exitErr, p.logs.String())
		default:
		}
		code, body, err := get(p.probe + "/readyz?verbose")
		if err == nil && code == http.StatusOK {
			return p
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		if time.Now().After(deadline) {
			t.Fatalf("bulwark not ready after 60s: %s", last)
		}
	}
}

// signal sends sig to the process.
func (p *process) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("sending %v to bulwark: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("bulwark has not exited after %s", timeout)
		return -1
	}
}

var probeClient = &http.Client{Timeout: 5 * time.Second}

// get fetches a probe URL: status code and body.
func get(url string) (int, string, error) {
	resp, err := probeClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// healthLine is all a probe endpoint may say: "ok", check names with their state, and
// controller-runtime's fixed texts; no version, policy, certificate or error detail.
var healthLine = regexp.MustCompile(`^(ok|\[[+-]\][a-z]+ (ok|failed: reason withheld)|healthz check (passed|failed)|internal server error: [a-z]+ not ready)$`)

// checkHealthBody fails the test when a probe answer says more than healthLine allows.
func checkHealthBody(t *testing.T, url, body string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if !healthLine.MatchString(line) {
			t.Errorf("%s says more than check names and states: %q", url, line)
		}
	}
}

// The objects of the load: a Pod the nsa profile admits unchanged, one it denies
// (host-network) and one the mutating webhook completes.
const (
	compliantPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ok","namespace":"default"},"spec":{` +
		`"automountServiceAccountToken":false,"securityContext":{"runAsNonRoot":true,"runAsUser":65532,"runAsGroup":65532,"seccompProfile":{"type":"RuntimeDefault"}},` +
		`"containers":[{"name":"app","image":"registry.example.com/app:1.0",` +
		`"securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}},` +
		`"resources":{"requests":{"cpu":"50m","memory":"64Mi"},"limits":{"cpu":"250m","memory":"128Mi"}}}]}}`
	hostNetworkPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hostnet","namespace":"default"},"spec":{"hostNetwork":true,` +
		`"containers":[{"name":"app","image":"registry.example.com/app:1.0"}]}}`
	minimalPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"minimal","namespace":"default"},"spec":{` +
		`"containers":[{"name":"app","image":"registry.example.com/app:1.0"}]}}`
)

// call is one kind of request of the load and what its answer must be.
type call struct {
	path string
	pod  string
	want func(*admissionv1.AdmissionResponse) error
}

var calls = []call{
	{"/validate", compliantPod, func(r *admissionv1.AdmissionResponse) error {
		if !r.Allowed {
			return fmt.Errorf("the compliant Pod was denied: %+v", r.Result)
		}
		return nil
	}},
	{"/validate", hostNetworkPod, wantDenied},
	{"/mutate", minimalPod, func(r *admissionv1.AdmissionResponse) error {
		if !r.Allowed || len(r.Patch) == 0 {
			return fmt.Errorf("the minimal Pod was not mutated: allowed %v, %d bytes of patch", r.Allowed, len(r.Patch))
		}
		return nil
	}},
}

func wantDenied(r *admissionv1.AdmissionResponse) error {
	if r.Allowed || r.Result == nil || r.Result.Code != http.StatusForbidden || !strings.Contains(r.Result.Message, "[host-network]") {
		return fmt.Errorf("the hostNetwork Pod was not denied for host-network: allowed %v, %+v", r.Allowed, r.Result)
	}
	return nil
}

// review is a v1 AdmissionReview of a CREATE of pod in the namespace default.
func review(uid, pod string) []byte {
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "default", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(pod)},
		},
	})
	if err != nil {
		panic(err)
	}
	return body
}

// send posts body to the webhook at addr and checks the answer: HTTP 200, an AdmissionReview
// with the request's UID, and what want accepts.
func send(c *http.Client, addr, path, uid string, body io.Reader, want func(*admissionv1.AdmissionResponse) error) error {
	_, err := sendClose(c, addr, path, uid, body, want)
	return err
}

// sendClose is send, and reports whether the answer closed the connection.
func sendClose(c *http.Client, addr, path, uid string, body io.Reader, want func(*admissionv1.AdmissionResponse) error) (closed bool, err error) {
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+path, body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	closed = resp.Close
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return closed, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return closed, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, data)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil || out.Response == nil {
		return closed, fmt.Errorf("not an AdmissionReview answer (%v): %.200s", err, data)
	}
	if string(out.Response.UID) != uid {
		return closed, fmt.Errorf("answer for UID %q, sent %q", out.Response.UID, uid)
	}
	return closed, want(out.Response)
}

// load sends AdmissionReviews to a webhook from workers over keep-alive connections (and
// fresh connections from the others) while open returns true.
type load struct {
	addr   string
	open   func() bool
	wg     sync.WaitGroup
	seq    atomic.Int64
	ok     atomic.Int64
	failed atomic.Int64
	// after counts the requests started after a moment set with markAfter; afterKept those
	// of them whose answer left the connection open.
	afterNanos atomic.Int64
	after      atomic.Int64
	afterKept  atomic.Int64
	start      time.Time
	endNanos   atomic.Int64 // when the last worker stopped
	mu         sync.Mutex
	errs       []string
}

// startLoad starts keepAlive workers sharing a keep-alive client and fresh workers that open a
// new TLS connection for every request; every client trusts roots only.
func startLoad(t *testing.T, addr string, roots *x509.CertPool, keepAlive, fresh int, open func() bool) *load {
	t.Helper()
	l := &load{addr: addr, open: open, start: time.Now()}
	shared := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: keepAlive, IdleConnTimeout: 90 * time.Second,
	}
	t.Cleanup(shared.CloseIdleConnections)
	worker := func(c *http.Client) {
		for l.open() {
			n := l.seq.Add(1)
			cl := calls[n%int64(len(calls))]
			mark := l.afterNanos.Load()
			after := mark != 0 && time.Now().UnixNano() > mark
			if after {
				l.after.Add(1)
			}
			uid := "load-" + strconv.FormatInt(n, 10)
			closed, err := sendClose(c, addr, cl.path, uid, bytes.NewReader(review(uid, cl.pod)), cl.want)
			if after && !closed {
				l.afterKept.Add(1)
			}
			if err != nil {
				l.failed.Add(1)
				l.mu.Lock()
				if len(l.errs) < 10 {
					l.errs = append(l.errs, fmt.Sprintf("%s %s %s: %v", time.Now().Format("15:04:05.000"), cl.path, uid, err))
				}
				l.mu.Unlock()
				continue
			}
			l.ok.Add(1)
		}
		for now := time.Now().UnixNano(); ; {
			if end := l.endNanos.Load(); end >= now || l.endNanos.CompareAndSwap(end, now) {
				break
			}
		}
	}
	for range keepAlive {
		l.wg.Go(func() { worker(&http.Client{Transport: shared, Timeout: 40 * time.Second}) })
	}
	for range fresh {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}
		l.wg.Go(func() { worker(&http.Client{Transport: tr, Timeout: 40 * time.Second}) })
	}
	return l
}

// markAfter starts counting the requests started from now on.
func (l *load) markAfter(at time.Time) { l.afterNanos.Store(at.UnixNano()) }

// wait waits for the workers to stop (open has returned false) and reports the counts and
// how long the load ran.
func (l *load) wait(t *testing.T, timeout time.Duration) (ok, failed int64, took time.Duration, errs []string) {
	t.Helper()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("the load generator has not stopped after %s", timeout)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), time.Unix(0, l.endNanos.Load()).Sub(l.start), append([]string(nil), l.errs...)
}

// servedSerial opens a new TLS connection to addr, verified against roots, and returns the
// serial number of the certificate served.
func servedSerial(addr string, roots *x509.CertPool) (string, error) {
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

// accepting reports whether addr accepts TCP connections.
func accepting(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
