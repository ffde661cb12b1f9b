// Package certs runs Bulwark's built-in TLS (package pkg/certs through server.Run) against a
// real kube-apiserver and etcd, as a ServiceAccount holding exactly the permissions the chart
// grants: the Secret is created, the CA bundle injected, the apiserver calls the webhook, and
// renewals and CA rotations happen under load without a failed request.
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

var (
	cluster   *framework.Cluster
	admin     *kubernetes.Clientset
	runtimeLg framework.LogBuffer // controller-runtime's own log (certwatcher, leader election)
)

func TestMain(m *testing.M) {
	framework.Main(m, "certs", func(s *framework.Suite) error {
		var err error
		if cluster, err = s.StartControlPlane(); err != nil {
			return err
		}
		cfg := rest.CopyConfig(cluster.Config)
		cfg.WarningHandler = rest.NoWarnings{}
		cfg.QPS = -1 // no client-side rate limit: the load goes as fast as the apiserver answers
		if admin, err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
		ctrl.SetLogger(newLogger(&runtimeLg))
		return nil
	})
}

// newLogger is a JSON logger writing to w, at debug level.
func newLogger(w zapcore.WriteSyncer) logr.Logger {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), w, zapcore.DebugLevel)
	return zapr.NewLogger(zap.New(core))
}

// env is one test's corner of the cluster: Bulwark's namespace with its ServiceAccount and
// RBAC, a workload namespace, and webhook configurations that only select the workload
// namespace (so tests do not call each other's servers).
type env struct {
	t        *testing.T
	names    framework.RBACNames
	work     string
	saConfig *rest.Config
	policy   types.NamespacedName
}

func newEnv(t *testing.T, ns string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{
		t: t, work: ns + "-work",
		names:  framework.RBACNames{Namespace: ns, Name: "bulwark", WebhookConfig: "bulwark-" + ns, TLSSecret: "bulwark-tls"},
		policy: types.NamespacedName{Namespace: ns, Name: "bulwark-policy"},
	}
	var err error
	if e.saConfig, err = cluster.ServiceAccountConfig(ctx, e.names); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.work}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: e.policyMeta(), Data: map[string]string{policy.ConfigMapKey: framework.DefaultPolicy},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) policyMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: e.policy.Name, Namespace: e.policy.Namespace}
}

// createWebhooks registers the validating webhook at 127.0.0.1:validatingPort and the mutating
// one at 127.0.0.1:mutatingPort, with no caBundle: Bulwark must inject it.
func (e *env) createWebhooks(validatingPort, mutatingPort int) {
	e.t.Helper()
	v, m := server.WebhookConfigurations(server.WebhookOptions{ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
		port := validatingPort
		if path == server.MutatePath {
			port = mutatingPort
		}
		url := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + path
		return admissionregistrationv1.WebhookClientConfig{URL: &url}
	}})
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{e.work},
	}}}
	v.Name, m.Name = e.names.WebhookConfig, e.names.WebhookConfig
	v.Webhooks[0].NamespaceSelector, m.Webhooks[0].NamespaceSelector = selector, selector
	ctx := context.Background()
	if _, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, v.Name, metav1.DeleteOptions{})
		_ = admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, m.Name, metav1.DeleteOptions{})
	})
}

// tlsOptions are the built-in TLS options of `bulwark serve --tls-secret bulwark-tls
// --service-name bulwark --webhook-config-name ...`, plus 127.0.0.1 (the webhooks' URL) and a
// short TrustDelay.
func (e *env) tlsOptions() tlscerts.Options {
	return tlscerts.Options{
		SecretName: e.names.TLSSecret, ServiceName: "bulwark", WebhookConfigName: e.names.WebhookConfig,
		ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")}, TrustDelay: time.Second,
	}
}

// replica is one `bulwark serve` (server.Run) running as the ServiceAccount.
type replica struct {
	name   string
	port   int
	addr   string // 127.0.0.1:port
	readyz string
	logs   *framework.LogBuffer
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	stopErr  error
}

// stop ends server.Run (as SIGTERM does) and returns its error.
func (r *replica) stop() error {
	r.stopOnce.Do(func() {
		r.cancel()
		select {
		case r.stopErr = <-r.done:
		case <-time.After(30 * time.Second):
			r.stopErr = fmt.Errorf("%s did not stop", r.name)
		}
	})
	return r.stopErr
}

// start runs server.Run in built-in TLS mode on port, as the ServiceAccount, with the policy
// from the ConfigMap (read as the ServiceAccount too).
func (e *env) start(name string, port int, leaderElect bool, o tlscerts.Options) *replica {
	e.t.Helper()
	probe := framework.FreePortT(e.t)
	r := &replica{
		name: name, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		readyz: "http://127.0.0.1:" + strconv.Itoa(probe) + "/readyz", logs: &framework.LogBuffer{}, done: make(chan error, 1),
	}
	c, err := client.New(e.saConfig, client.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	snap, err := server.LoadConfigMap(context.Background(), c, e.policy)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	// ShutdownTimeout: net/http's Shutdown closes a connection that never carried a request
	// only after 5s, and the load's bursts leave some (dialed by the apiserver, then not used).
	opts := server.Options{
		RestConfig: e.saConfig, Host: "127.0.0.1", Port: port, CertDir: e.t.TempDir(),
		Policy: snap, PolicyConfigMap: &e.policy, OwnNamespace: e.names.Namespace,
		MetricsAddr: "0", ProbeAddr: "127.0.0.1:" + strconv.Itoa(probe), ShutdownTimeout: 15 * time.Second,
		LeaderElect: leaderElect, TLS: &o, Log: newLogger(r.logs).WithName(name),
	}
	go func() { r.done <- server.Run(ctx, opts) }()
	e.t.Cleanup(func() {
		if err := r.stop(); err != nil {
			e.t.Errorf("%s: %v", name, err)
		}
		if e.t.Failed() {
			var keep []string
			for _, line := range strings.Split(r.logs.String(), "\n") {
				if !strings.Contains(line, `"msg":"denied"`) {
					keep = append(keep, line)
				}
			}
			e.t.Logf("%s logs (denials left out):\n%s", name, strings.Join(keep, "\n"))
		}
	})
	return r
}

// hostNetworkPod is denied by the host-network check, after the mutating webhook ran.
func hostNetworkPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "host-net"},
		Spec: corev1.PodSpec{
			HostNetwork: true,
			Containers:  []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}},
		},
	}
}

// dryRun sends a hostNetwork Pod through the apiserver (server-side dry run): nil when both
// webhooks were called and Bulwark denied it, as it must.
func (e *env) dryRun(ctx context.Context) error {
	_, err := admin.CoreV1().Pods(e.work).Create(ctx, hostNetworkPod(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case err == nil:
		return errors.New("a hostNetwork Pod was admitted")
	case strings.Contains(err.Error(), `admission webhook "validate.bulwark.dev" denied the request`) && strings.Contains(err.Error(), "[host-network]"):
		return nil
	}
	return err
}

// waitDenied waits until the apiserver calls both webhooks and Bulwark denies.
func (e *env) waitDenied(timeout time.Duration) time.Time {
	e.t.Helper()
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		last = e.dryRun(ctx)
		cancel()
		if last == nil {
			return time.Now()
		}
	}
	e.t.Fatalf("the apiserver does not get Bulwark's denial after %s: %v", timeout, last)
	return time.Time{}
}

// secret returns the TLS Secret's data; nil if there is none.
func (e *env) secret() map[string][]byte {
	s, err := admin.CoreV1().Secrets(e.names.Namespace).Get(context.Background(), e.names.TLSSecret, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return s.Data
}

// waitSecret polls the Secret until ok accepts its data.
func (e *env) waitSecret(timeout time.Duration, what string, ok func(tlscerts.State, map[string][]byte) bool) (map[string][]byte, time.Time) {
	e.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if data := e.secret(); data != nil && ok(tlscerts.ParseSecret(data), data) {
			return data, time.Now()
		}
	}
	e.t.Fatalf("the TLS Secret does not show %s after %s", what, timeout)
	return nil, time.Time{}
}

// bundles returns the caBundle of every webhook of both configurations.
func (e *env) bundles() map[string][]byte {
	e.t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	v, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, e.names.WebhookConfig, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range v.Webhooks {
		out["ValidatingWebhookConfiguration/"+h.Name] = h.ClientConfig.CABundle
	}
	m, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, e.names.WebhookConfig, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range m.Webhooks {
		out["MutatingWebhookConfiguration/"+h.Name] = h.ClientConfig.CABundle
	}
	return out
}

// webhookCount is the number of webhooks of Bulwark's two configurations (pods and RBAC
// validating, pods mutating), each with a caBundle to inject.
func webhookCount() int {
	v, m := server.WebhookConfigurations(server.WebhookOptions{ClientConfig: func(string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{}
	}})
	return len(v.Webhooks) + len(m.Webhooks)
}

// waitBundles waits until every webhook's caBundle equals want.
func (e *env) waitBundles(timeout time.Duration, want []byte) time.Time {
	e.t.Helper()
	var got map[string][]byte
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got = e.bundles()
		same := len(got) == webhookCount()
		for _, b := range got {
			same = same && bytes.Equal(b, want)
		}
		if same {
			return time.Now()
		}
	}
	e.t.Fatalf("caBundles after %s: %d webhooks, not the Secret's ca.crt", timeout, len(got))
	return time.Time{}
}

// trusts reports whether every webhook's caBundle validates c as the certificate of the
// Service (SERVICE.NAMESPACE.svc), as the apiserver would.
func (e *env) trusts(bundles map[string][]byte, c *x509.Certificate) error {
	if want := webhookCount(); len(bundles) != want {
		return fmt.Errorf("%d webhooks, want %d", len(bundles), want)
	}
	for name, b := range bundles {
		pool := x509.NewCertPool()
		if len(b) == 0 || !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("%s: no caBundle", name)
		}
		for _, host := range []string{"bulwark." + e.names.Namespace + ".svc", "127.0.0.1"} {
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
				return fmt.Errorf("%s, %s: %v", name, host, err)
			}
		}
	}
	return nil
}

// served is the certificate a webhook server presents.
func served(addr string) (*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // reads the certificate only
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// waitServed waits until the server at addr presents want.
func waitServed(t *testing.T, addr string, want *x509.Certificate, timeout time.Duration) time.Time {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if c, err := served(addr); err == nil && c.Equal(want) {
			return time.Now()
		}
	}
	t.Fatalf("%s does not serve certificate %s after %s", addr, want.SerialNumber.Text(16), timeout)
	return time.Time{}
}

// readiness polls a replica's /readyz until it answers 200; at that moment check runs (what
// must already hold when a replica reports ready).
type readiness struct {
	done     chan struct{}
	at       time.Time
	notReady int
	last     string // the last not-ready answer
	err      error  // from check
}

func watchReady(url string, check func() error) *readiness {
	r := &readiness{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(url + "?verbose")
			if err != nil {
				r.notReady++
				r.last = err.Error()
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.at = time.Now()
				r.err = check()
				return
			}
			r.notReady++
			r.last = string(body)
		}
		r.err = fmt.Errorf("not ready after 90s: %s", r.last)
	}()
	return r
}

func (r *readiness) wait(t *testing.T, name string) time.Time {
	t.Helper()
	<-r.done
	if r.err != nil {
		t.Fatalf("%s readiness: %v", name, r.err)
	}
	return r.at
}

// proxy forwards TCP connections to a replica and notes when each was opened: the apiserver
// keeps connections to a webhook alive, so only the connections opened after a certificate
// switch show that the apiserver accepted the new certificate.
type proxy struct {
	ln     net.Listener
	port   int
	mu     sync.Mutex
	opened []time.Time
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.opened = append(p.opened, time.Now())
			p.mu.Unlock()
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return p
}

// openedSince counts the connections opened at or after t.
func (p *proxy) openedSince(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, o := range p.opened {
		if !o.Before(t) {
			n++
		}
	}
	return n
}

// load sends hostNetwork Pod dry runs through the apiserver as fast as it answers: a few
// steady clients, and bursts of many at once so that the apiserver keeps opening new
// connections to the webhooks (beyond the idle connections it keeps).
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	start      time.Time
	stop       chan struct{}
	wg         sync.WaitGroup
}

func (e *env) startLoad() *load {
	l := &load{stop: make(chan struct{}), start: time.Now()}
	one := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := e.dryRun(ctx); err != nil {
			l.failed.Add(1)
			l.mu.Lock()
			if len(l.errs) < 5 {
				l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
			}
			l.mu.Unlock()
			return
		}
		l.ok.Add(1)
	}
	stopped := func() bool {
		select {
		case <-l.stop:
			return true
		default:
			return false
		}
	}
	for range 4 {
		l.wg.Go(func() {
			for !stopped() {
				one()
			}
		})
	}
	l.wg.Go(func() {
		for !stopped() {
			var burst sync.WaitGroup
			for range 48 {
				burst.Go(one)
			}
			burst.Wait()
			time.Sleep(50 * time.Millisecond)
		}
	})
	return l
}

// finish stops the load and returns the counts.
func (l *load) finish() (ok, failed int64, took time.Duration, errs []string) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load(), time.Since(l.start), l.errs
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
