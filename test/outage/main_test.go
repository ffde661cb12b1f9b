// Package outage runs `bulwark serve` through the faults of its dependencies: the
// kube-apiserver stopped and restarted under it, and its policy ConfigMap deleted or corrupted
// while it serves. Admission reviews go straight to the webhook over HTTPS, as the apiserver
// sends them, so that the webhook's answers can be observed while the apiserver is down.
package outage

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

const ownNamespace = framework.PolicyNamespace

var (
	env        *envtest.Environment
	admin      *kubernetes.Clientset
	binary     string
	kubeconfig string // Bulwark's ServiceAccount, with the chart's permissions
	certDir    string // a serving certificate for 127.0.0.1, for the replicas without built-in TLS
	certPool   *x509.CertPool
	scraper    string // a token allowed to read the authenticated metrics endpoint
)

func TestMain(m *testing.M) {
	framework.Main(m, "outage", setup)
}

func setup(s *framework.Suite) error {
	var err error
	if binary, err = s.BuildBulwark(); err != nil {
		return err
	}
	assets, err := framework.AssetsDir()
	if err != nil {
		return err
	}
	// The apiserver's certificates live in a directory of ours, not one envtest removes when
	// the apiserver stops: restarted, it serves the same certificate on the same port, so the
	// clients already configured (Bulwark's) reconnect as they would to a restarted apiserver.
	apiserverDir := filepath.Join(s.Dir, "apiserver")
	if err := os.Mkdir(apiserverDir, 0o700); err != nil {
		return err
	}
	env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		ControlPlane:          envtest.ControlPlane{APIServer: &envtest.APIServer{CertDir: apiserverDir}},
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	s.Defer(func() error { _ = env.Stop(); return nil })
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	if admin, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if err := framework.CreatePolicyConfigMap(cfg, framework.DefaultPolicy); err != nil {
		return err
	}
	cluster := &framework.Cluster{Env: env, Config: cfg, Assets: assets}
	names := framework.RBACNames{Namespace: ownNamespace, Name: "bulwark", WebhookConfig: "bulwark", TLSSecret: "bulwark-tls"}
	sa, err := cluster.ServiceAccountConfig(context.Background(), names)
	if err != nil {
		return err
	}
	kubeconfig = filepath.Join(s.Dir, "kubeconfig")
	if err := framework.WriteClientKubeconfig(kubeconfig, sa); err != nil {
		return err
	}
	if scraper, err = framework.ScraperToken(context.Background(), admin); err != nil {
		return fmt.Errorf("metrics scraper: %w", err)
	}
	certDir = filepath.Join(s.Dir, "certs")
	if certPool, err = writeServingCert(certDir); err != nil {
		return err
	}
	return nil
}

// writeServingCert writes a CA-signed serving certificate for 127.0.0.1 to dir and returns a
// pool holding the CA.
func writeServingCert(dir string) (*x509.CertPool, error) {
	ca, err := tlscerts.NewCA(time.Now(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	kp, err := tlscerts.NewServing(ca, tlscerts.ServiceNames("bulwark", ownNamespace, nil, []net.IP{net.ParseIP("127.0.0.1")}), time.Now(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := tlscerts.WriteFiles(dir, map[string][]byte{tlscerts.TLSCertKey: kp.CertPEM, tlscerts.TLSKeyKey: kp.KeyPEM}); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool, nil
}

// replica is one `bulwark serve` process.
type replica struct {
	name        string
	port        int
	metrics     string // the metrics URL
	readyz      string
	secure      bool // metrics over HTTPS with a bearer token
	client      *http.Client
	logs        *framework.LogBuffer
	cmd         *exec.Cmd
	done        chan struct{}
	exitErr     error
	exitedAt    time.Time
	stopOnce    sync.Once
	serviceName string // the TLS server name the client checks
}

// replicaOptions say how a replica runs.
type replicaOptions struct {
	// PolicyConfigMap is the ConfigMap's name in bulwark-system.
	PolicyConfigMap string
	// BuiltinTLS runs with --tls-secret (and its Secret, webhook configuration name and
	// Service name); otherwise the serving certificate for 127.0.0.1 in certDir is used.
	BuiltinTLS bool
	// SecureMetrics keeps the default authenticated HTTPS metrics endpoint; otherwise plain
	// HTTP on loopback.
	SecureMetrics bool
	Args          []string
}

// startReplica starts bulwark serve; waitReady waits for /readyz.
func startReplica(t *testing.T, name string, o replicaOptions) *replica {
	t.Helper()
	port, metricsPort, probePort := framework.FreePortT(t), framework.FreePortT(t), framework.FreePortT(t)
	r := &replica{
		name: name, port: port, logs: &framework.LogBuffer{}, done: make(chan struct{}), secure: o.SecureMetrics,
		readyz: fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort),
	}
	args := []string{"serve",
		"--kubeconfig", kubeconfig, "--namespace", ownNamespace,
		"--policy-configmap", ownNamespace + "/" + o.PolicyConfigMap,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(port),
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(metricsPort),
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(probePort),
	}
	pool, serverName := certPool, ""
	if o.BuiltinTLS {
		args = append(args, "--cert-dir", t.TempDir(), "--tls-secret", "bulwark-tls", "--service-name", "bulwark", "--webhook-config-name", "bulwark")
		serverName = "bulwark." + ownNamespace + ".svc"
		pool = nil // set by trustBuiltinTLS once the Secret exists
	} else {
		args = append(args, "--cert-dir", certDir)
	}
	scheme := "https"
	if !o.SecureMetrics {
		args = append(args, "--metrics-secure=false")
		scheme = "http"
	}
	r.metrics = fmt.Sprintf("%s://127.0.0.1:%d/metrics", scheme, metricsPort)
	r.serviceName = serverName
	r.setTrust(pool)
	r.cmd = exec.Command(binary, append(args, o.Args...)...)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.exitErr = r.cmd.Wait()
		r.exitedAt = time.Now()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", r.name, r.logs.String())
		}
	})
	return r
}

func (r *replica) setTrust(pool *x509.CertPool) {
	r.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: r.serviceName, MinVersion: tls.VersionTLS12},
	}}
}

// exited reports whether the process has ended.
func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop ends the process with SIGTERM (SIGKILL after 40s).
func (r *replica) stop() {
	r.stopOnce.Do(func() {
		if r.exited() {
			return
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(40 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
}

// waitReady waits until /readyz answers 200.
func (r *replica) waitReady(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for deadline := start.Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r.exited() {
			t.Fatalf("%s exited before it was ready: %v", r.name, r.exitErr)
		}
		code, body := r.probe(r.readyz + "?verbose")
		if code == http.StatusOK {
			return time.Since(start)
		}
		last = fmt.Sprintf("%d %s", code, body)
	}
	t.Fatalf("%s not ready after %s: %s", r.name, timeout, last)
	return 0
}

// probe GETs a health endpoint: its status (0 when unreachable) and body.
func (r *replica) probe(url string) (int, string) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape returns the metrics text, or an error saying what the endpoint answered.
func (r *replica) scrape() (string, error) {
	req, err := http.NewRequest(http.MethodGet, r.metrics, nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	if r.secure {
		req.Header.Set("Authorization", "Bearer "+scraper)
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a self-signed metrics certificate
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// metric returns the value of the sample whose text starts with series, e.g.
// `bulwark_policy_reloads_total{result="missing"}`; 0 when absent.
func (r *replica) metric(t *testing.T, series string) float64 {
	t.Helper()
	text, err := r.scrape()
	if err != nil {
		t.Fatalf("%s metrics: %v", r.name, err)
	}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", r.name, line, err)
			}
			return v
		}
	}
	return 0
}

// policyInForce returns the hash and generation of bulwark_policy_info.
func (r *replica) policyInForce(t *testing.T) (hash, generation string) {
	t.Helper()
	text, err := r.scrape()
	if err != nil {
		t.Fatalf("%s metrics: %v", r.name, err)
	}
	m := regexp.MustCompile(`bulwark_policy_info\{[^}]*generation="(\d+)",hash="([0-9a-f]+)"`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s exports no bulwark_policy_info:\n%s", r.name, framework.LinesWithPrefix(text, "bulwark_policy"))
	}
	return m[2], m[1]
}

// review sends one AdmissionReview for pod (CREATE in ns) to path, as the apiserver does.
func (r *replica) review(path, ns string, pod *corev1.Pod) (*admissionv1.AdmissionResponse, error) {
	pod = pod.DeepCopy()
	pod.APIVersion, pod.Kind, pod.Namespace = "v1", "Pod", ns
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	uid := types.UID(uuid.NewUUID())
	in := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:         uid,
			Kind:        metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:    metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			RequestKind: &metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Name:        pod.Name, Namespace: ns, Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}},
			Object:   runtime.RawExtension{Raw: raw},
			Options:  runtime.RawExtension{Raw: []byte(`{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}`)},
		},
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Post(fmt.Sprintf("https://127.0.0.1:%d%s?timeout=5s", r.port, path), "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding the AdmissionReview response: %v: %s", err, b)
	}
	if out.Response == nil || out.Response.UID != uid {
		return nil, fmt.Errorf("the response does not answer request %s: %s", uid, b)
	}
	return out.Response, nil
}

// Paths of the webhooks.
const (
	validate = "/validate"
	mutate   = "/mutate"
)

// expect is a review and what its answer must be.
type expect struct {
	what    string
	path    string
	ns      string
	pod     *corev1.Pod
	allowed bool
	message string // in the denial message, when denied
	warning string // in a warning, when given
	patch   string // in the JSON patch, when given
}

// check sends the review and says how the answer differs from what is expected; nil when it
// is as expected.
func (e expect) check(r *replica) error {
	resp, err := r.review(e.path, e.ns, e.pod)
	if err != nil {
		return fmt.Errorf("%s: %v", e.what, err)
	}
	msg := ""
	if resp.Result != nil {
		msg = resp.Result.Message
	}
	switch {
	case resp.Allowed != e.allowed:
		return fmt.Errorf("%s: allowed=%v (%s), want %v", e.what, resp.Allowed, msg, e.allowed)
	case !e.allowed && !strings.Contains(msg, e.message):
		return fmt.Errorf("%s: denial %q does not name %q", e.what, msg, e.message)
	case e.warning != "" && !strings.Contains(strings.Join(resp.Warnings, "\n"), e.warning):
		return fmt.Errorf("%s: warnings %q lack %q", e.what, resp.Warnings, e.warning)
	case e.patch != "" && !strings.Contains(string(resp.Patch), e.patch):
		return fmt.Errorf("%s: patch %s lacks %q", e.what, resp.Patch, e.patch)
	}
	return nil
}

// checkAll runs every review and joins what differs.
func checkAll(r *replica, es []expect) error {
	var errs []error
	for _, e := range es {
		if err := e.check(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// eventually retries check until it returns nil; it returns how long that took, or fails.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for deadline := start.Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = check(); last == nil {
			return time.Since(start)
		}
	}
	t.Fatalf("%s: not so after %s: %v", what, timeout, last)
	return 0
}

func hostNetworkPod(name string) *corev1.Pod {
	p := minimalPod(name)
	p.Spec.HostNetwork = true
	return p
}

func minimalPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}}},
	}
}

func latestPod(name string) *corev1.Pod {
	p := minimalPod(name)
	p.Spec.Containers[0].Image = "registry.example.com/app:latest"
	return p
}

// createNamespace creates a namespace with labels.
func createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	_, err := admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// createPolicy creates the ConfigMap name in bulwark-system holding doc.
func createPolicy(t *testing.T, name, doc string) {
	t.Helper()
	_, err := admin.CoreV1().ConfigMaps(ownNamespace).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{policy.ConfigMapKey: doc},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// hashOf is the hash Bulwark reports for doc.
func hashOf(t *testing.T, doc string) string {
	t.Helper()
	s, err := policy.Parse([]byte(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	return s.Hash
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
