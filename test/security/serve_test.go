package security

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

const (
	ownNamespace = framework.PolicyNamespace // bulwark-system, as the chart installs it
	workload     = "shop"
	serviceName  = "bulwark"
	tlsSecret    = "bulwark-tls"
)

// reloadedPolicy is the policy the session switches to: image tags enforced.
const reloadedPolicy = `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
checks:
  image-tag: {action: enforce}
`

// TestServeLogsHoldNoSecrets runs `bulwark serve` at --log-level=debug as the chart does
// (built-in TLS in a Secret, leader election, the audit, the policy in a ConfigMap), as its
// ServiceAccount with exactly the chart's RBAC and a ServiceAccount token in its kubeconfig,
// called by the apiserver through its Service name; it drives a session with secrets in env
// values, arguments, annotations and Secrets, and then finds none of them, no key, no token
// and no PEM block in anything Bulwark wrote: its whole output, its metrics and health
// endpoints, and the Events and PolicyReports it recorded.
func TestServeLogsHoldNoSecrets(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	port, metricsPort, probePort := framework.FreePortT(t), framework.FreePortT(t), framework.FreePortT(t)
	serviceHost := fmt.Sprintf("%s.%s.svc:%d", serviceName, ownNamespace, port)
	shared, tun := controlPlane(t)
	tun.route(t, serviceHost, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	// A copy, to wait for this test's webhook on the shared control plane.
	cluster := *shared
	admin := clientset(t, cluster.Config)

	leaks := newLeakSet()
	dir := t.TempDir()

	// Bulwark's namespace, its policy, its ServiceAccount with the chart's permissions and a
	// token for it, as the kubelet would mount one.
	if err := framework.CreatePolicyConfigMap(cluster.Config, framework.DefaultPolicy); err != nil {
		t.Fatal(err)
	}
	names := framework.RBACNames{Namespace: ownNamespace, Name: serviceName, WebhookConfig: server.ConfigName, TLSSecret: tlsSecret}
	if _, err := cluster.ServiceAccountConfig(ctx, names); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts(ownNamespace).CreateToken(ctx, serviceName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token
	leaks.add("the ServiceAccount token", token)
	if parts := strings.Split(token, "."); len(parts) == 3 {
		leaks.add("the ServiceAccount token's signature", parts[2])
	}
	// The kubeconfig holds the token (the context in use) and an admin's client certificate
	// and key (another context): whatever reads or prints the file must not leak either.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	err = framework.WriteKubeconfigFile(kubeconfig, cluster.Config,
		framework.KubeconfigUser{Name: "bulwark", Token: token}, framework.KubeconfigUser{Name: "admin", Config: cluster.Config})
	if err != nil {
		t.Fatal(err)
	}
	leaks.addPEM("the kubeconfig's client key", cluster.Config.KeyData)
	leaks.addPublic(cluster.Config.CertData)

	// The webhooks call Bulwark by its Service name, with no caBundle: Bulwark injects it.
	validating, mutating := server.WebhookConfigurations(server.WebhookOptions{
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			return admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://" + serviceHost + path)}
		},
		ExemptNamespaces: []string{"kube-system", ownNamespace},
	})
	if _, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Secrets in the cluster: one beside Bulwark's (which it may not read), and the shop's.
	for _, ns := range []string{workload} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	userKey, err := tlscerts.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaks.addPEM("the shop's TLS key", userKey.KeyPEM)
	leaks.addPublic(userKey.CertPEM)
	secretValues := map[string]string{}
	for _, s := range []struct{ ns, name, key string }{
		{ownNamespace, "registry-credentials", "password"},
		{workload, "db-credentials", "password"},
		{workload, "db-credentials", "api-key"},
	} {
		secretValues[s.ns+"/"+s.name+"/"+s.key] = randomSecret(s.key + "-")
	}
	for _, s := range []struct{ ns, name string }{{ownNamespace, "registry-credentials"}, {workload, "db-credentials"}} {
		data := map[string][]byte{}
		for k, v := range secretValues {
			if strings.HasPrefix(k, s.ns+"/"+s.name+"/") {
				data[strings.TrimPrefix(k, s.ns+"/"+s.name+"/")] = []byte(v)
				leaks.add("the data of Secret "+s.ns+"/"+s.name, v)
			}
		}
		if _, err := admin.CoreV1().Secrets(s.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.name}, Data: data}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = admin.CoreV1().Secrets(workload).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: userKey.CertPEM, corev1.TLSPrivateKeyKey: userKey.KeyPEM},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A scraper allowed to read the metrics (the chart's metrics-reader ClusterRole), and one
	// that is not.
	scraper, err := framework.ScraperToken(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	leaks.add("the scraper's token", scraper)
	stranger := randomSecret("not-a-token-")
	leaks.add("a token the apiserver does not know", stranger)

	// bulwark serve, as the chart runs it, at debug level, auditing every 2 seconds.
	logs := &framework.LogBuffer{}
	cmd := exec.Command(binary, "serve",
		"--kubeconfig", kubeconfig,
		"--namespace", ownNamespace,
		"--policy-configmap", ownNamespace+"/"+framework.PolicyConfigMap,
		"--service-name", serviceName, "--webhook-config-name", server.ConfigName, "--tls-secret", tlsSecret,
		"--leader-elect",
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(port), "--cert-dir", filepath.Join(dir, "certs"),
		"--metrics-bind-address", "127.0.0.1:"+strconv.Itoa(metricsPort),
		"--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(probePort),
		"--log-level=debug", "--audit-interval=2s",
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("bulwark output:\n%s", logs.String())
		}
	})
	cluster.WebhookHost, cluster.WebhookPort = "127.0.0.1", port
	if err := cluster.WaitForWebhook(exited, 90*time.Second); err != nil {
		t.Fatalf("bulwark never served the apiserver through its Service name: %v", err)
	}
	t.Logf("bring-up: the apiserver got Bulwark's first denial through the Service name %s after start",
		time.Since(start).Round(time.Millisecond))

	// The built-in TLS Secret: its keys are what must never be logged.
	tlsData := waitSecret(t, admin, func(st tlscerts.State) bool { return st.Signer != nil && st.Serving != nil })
	first := tlscerts.ParseSecret(tlsData)
	addTLSSecret(leaks, "the first", tlsData)

	// Admissions through the apiserver: allowed and mutated, denied, workloads created and
	// updated; every object carries secrets where people put them.
	env := func(what string) []corev1.EnvVar {
		pw, tok := randomSecret("pw-"), randomSecret("")
		leaks.add("the env value DB_PASSWORD of "+what, pw)
		leaks.add("the env value API_TOKEN of "+what, tok)
		return []corev1.EnvVar{
			{Name: "DB_PASSWORD", Value: pw},
			{Name: "API_TOKEN", Value: "Bearer " + tok},
			{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "db-credentials"}, Key: "api-key",
			}}},
		}
	}
	podSpec := func(what, image string) corev1.PodSpec {
		arg := randomSecret("")
		leaks.add("the --db-password argument of "+what, arg)
		return corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: image, Env: env(what),
			Args:    []string{"--db-password=" + arg},
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db-credentials"}}}},
		}}}
	}
	annotations := func(what string) map[string]string {
		v := randomSecret("")
		leaks.add("the annotation example.com/api-key of "+what, v)
		return map[string]string{"example.com/api-key": v}
	}
	pods := admin.CoreV1().Pods(workload)
	deployments := admin.AppsV1().Deployments(workload)

	api := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api", Annotations: annotations("Pod api")}, Spec: podSpec("Pod api", "registry.example.com/shop/api:1.4.2")}
	created, err := pods.Create(ctx, api, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Pod api: %v", err)
	}
	if sc := created.Spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("Pod api was not mutated: securityContext %+v", sc)
	}

	sniffer := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sniffer", Annotations: annotations("Pod sniffer")}, Spec: podSpec("Pod sniffer", "registry.example.com/tools/sniffer:2")}
	sniffer.Spec.HostNetwork = true
	sniffer.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	requireDenied(t, "Pod sniffer", func() error { _, err := pods.Create(ctx, sniffer, metav1.CreateOptions{}); return err }, "[host-network]", "[privileged]")

	labels := map[string]string{"app": "web"}
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: annotations("Deployment web")},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations("Deployment web's template")}, Spec: podSpec("Deployment web", "registry.example.com/shop/web:3.1")},
		},
	}
	if web, err = deployments.Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Deployment web: %v", err)
	}
	// An update that changes the template (a new secret in it): evaluated and mutated again,
	// with the old object in the AdmissionReview too.
	web.Spec.Template.Spec.Containers[0].Env = env("Deployment web, updated")
	if web, err = deployments.Update(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating Deployment web: %v", err)
	}
	if c := web.Spec.Template.Spec.Containers[0].SecurityContext; c == nil || c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("Deployment web's template was not mutated: %+v", c)
	}

	backup := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Annotations: annotations("Deployment backup")},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "backup"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "backup"}}, Spec: podSpec("Deployment backup", "registry.example.com/ops/backup:1")},
		},
	}
	backup.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/etcd"}}}}
	requireDenied(t, "Deployment backup", func() error { _, err := deployments.Create(ctx, backup, metav1.CreateOptions{}); return err }, "[host-path]")

	// A policy reload: image tags are enforced from now on.
	snap, err := policy.Parse([]byte(reloadedPolicy), "test")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := admin.CoreV1().ConfigMaps(ownNamespace).Get(ctx, framework.PolicyConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[policy.ConfigMapKey] = reloadedPolicy
	reloaded := time.Now()
	if _, err := admin.CoreV1().ConfigMaps(ownNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, 30*time.Second, "the reloaded policy", func(l logLine) bool { return l.Msg == "policy loaded" && l.str("hash") == snap.Hash })
	t.Logf("policy reload: logged as in force %s after the ConfigMap update was sent", time.Since(reloaded).Round(time.Millisecond))
	latest := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Annotations: annotations("Pod nightly")}, Spec: podSpec("Pod nightly", "registry.example.com/shop/api:latest")}
	requireDenied(t, "Pod nightly", func() error { _, err := pods.Create(ctx, latest, metav1.CreateOptions{}); return err }, "[image-tag]")

	// The audit of what runs, with the new policy.
	waitLog(t, logs, 60*time.Second, "an audit with the reloaded policy", func(l logLine) bool {
		return l.Msg == "audit completed" && l.str("policyHash") == snap.Hash && l.num("violating") > 0
	})

	// The TLS Secret gets a private key that does not match its certificate: the leader
	// replaces the serving certificate, and every replica reports the unusable content.
	sec, err := admin.CoreV1().Secrets(ownNamespace).Get(ctx, tlsSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stray, err := tlscerts.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaks.addPEM("the mismatched key written into the TLS Secret", stray.KeyPEM)
	sec.Data[tlscerts.TLSKeyKey] = stray.KeyPEM
	if _, err := admin.CoreV1().Secrets(ownNamespace).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	edited := time.Now()
	tlsData = waitSecret(t, admin, func(st tlscerts.State) bool { return st.Serving != nil && !st.Serving.Cert.Equal(first.Serving.Cert) })
	addTLSSecret(leaks, "the replacement", tlsData)
	t.Logf("certificate replacement: the leader wrote a new serving certificate %s after the mismatched key",
		time.Since(edited).Round(time.Millisecond))
	waitLog(t, logs, 30*time.Second, "the replacement served", func(l logLine) bool {
		return l.Msg == "serving certificate written" && l.str("serial") == tlscerts.ParseSecret(tlsData).Serving.Cert.SerialNumber.Text(16)
	})

	// Everything else Bulwark publishes: metrics, health endpoints, Events, PolicyReports.
	metricsURL := fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort)
	published := map[string]string{
		metricsURL:                            get(t, metricsURL, scraper, http.StatusOK),
		metricsURL + " with an unknown token": get(t, metricsURL, stranger, 0),
	}
	if !strings.Contains(published[metricsURL], "bulwark_admission_decisions_total") {
		t.Errorf("the scrape shows no Bulwark metrics:\n%.500s", published[metricsURL])
	}
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/readyz?verbose", probePort),
		fmt.Sprintf("http://127.0.0.1:%d/healthz?verbose", probePort),
	} {
		published[u] = get(t, u, "", http.StatusOK)
	}
	published["Events"] = bulwarkEvents(t, admin)
	published["PolicyReports"] = policyReports(t, cluster.Config)
	if !strings.Contains(published["Events"], "PolicyViolation") || !strings.Contains(published["PolicyReports"], `"policy":"bulwark"`) {
		t.Errorf("the audit recorded no PolicyViolation Event or no PolicyReport:\nEvents: %.500s\nPolicyReports: %.500s", published["Events"], published["PolicyReports"])
	}

	// SIGTERM: the graceful shutdown writes its last lines.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("bulwark serve exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("bulwark serve did not stop within 60s of SIGTERM")
	}

	output := logs.String()
	lines := parseLog(output)
	checkSession(t, lines)
	if opened, refused := tun.stats(); opened == 0 || refused != "" {
		t.Errorf("the apiserver opened %d connections to %s through the tunnel; refused: %q", opened, serviceHost, refused)
	}
	t.Logf("scanned %d bytes, %d lines of bulwark output (%d at debug level), and %d published documents for %d secrets",
		len(output), len(lines), countLevel(lines, "debug"), len(published), len(leaks.secrets))
	if found := leaks.find(output); len(found) > 0 {
		t.Errorf("bulwark's output holds secret material:\n%s", strings.Join(found, "\n"))
	}
	for where, text := range published {
		if found := leaks.find(text); len(found) > 0 {
			t.Errorf("%s holds secret material:\n%s", where, strings.Join(found, "\n"))
		}
	}
}

// checkSession asserts that the output tells the session, so that the scan is not vacuous.
func checkSession(t *testing.T, lines []logLine) {
	t.Helper()
	count := map[string]int{}
	var denied []string
	for _, l := range lines {
		count[l.Msg]++
		if l.Msg == "denied" {
			denied = append(denied, l.str("namespace")+"/"+l.str("name"))
		}
		// The start-up line says which garbage collector settings are in force and why.
		if l.Msg == "bulwark" && os.Getenv("GOGC") == "" && (l.str("gcPercent") != "400" || l.str("gcPercentFrom") != "default" || l.str("memoryLimitFrom") == "") {
			t.Errorf("the start-up line shows gcPercent %q from %q, memory limit %q from %q; want 400 from default, and where the limit came from",
				l.str("gcPercent"), l.str("gcPercentFrom"), l.str("memoryLimit"), l.str("memoryLimitFrom"))
		}
	}
	for _, msg := range []string{
		"bulwark", "starting", "CA created", "serving certificate issued", "CA bundle injected",
		"serving certificate written", "serving a certificate the webhook configurations trust",
		"policy loaded", "audit completed",
		"the TLS Secret holds no usable serving certificate: the files stay as they are",
		"replacing unusable content of the TLS Secret",
	} {
		if count[msg] == 0 {
			t.Errorf("no %q in bulwark's output", msg)
		}
	}
	joined := strings.Join(denied, ", ")
	for _, name := range []string{"sniffer", "backup", "nightly"} {
		if !strings.Contains(joined, name) {
			t.Errorf("no denial of %s logged; denials: %s", name, joined)
		}
	}
}

// logLine is one JSON line of bulwark's output.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	rest  map[string]any
}

func (l logLine) str(key string) string {
	switch v := l.rest[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (l logLine) num(key string) float64 {
	v, _ := l.rest[key].(float64)
	return v
}

func parseLog(text string) []logLine {
	var out []logLine
	for _, raw := range strings.Split(text, "\n") {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) != nil || json.Unmarshal([]byte(raw), &l.rest) != nil {
			continue
		}
		out = append(out, l)
	}
	return out
}

func countLevel(lines []logLine, level string) int {
	n := 0
	for _, l := range lines {
		if l.Level == level {
			n++
		}
	}
	return n
}

// waitLog waits until a line of the output satisfies ok.
func waitLog(t *testing.T, logs *framework.LogBuffer, timeout time.Duration, what string, ok func(logLine) bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range parseLog(logs.String()) {
			if ok(l) {
				return
			}
		}
	}
	t.Fatalf("bulwark's output shows no %s after %s", what, timeout)
}

// requireDenied runs create and requires Bulwark's denial naming every check.
func requireDenied(t *testing.T, what string, create func() error, checks ...string) {
	t.Helper()
	err := create()
	if err == nil {
		t.Fatalf("%s was admitted", what)
	}
	for _, c := range checks {
		if !strings.Contains(err.Error(), c) || !strings.Contains(err.Error(), `admission webhook "validate.bulwark.dev" denied the request`) {
			t.Fatalf("%s: want Bulwark's denial naming %s, got %v", what, c, err)
		}
	}
}

// waitSecret polls Bulwark's TLS Secret until ok accepts it.
func waitSecret(t *testing.T, cs *kubernetes.Clientset, ok func(tlscerts.State) bool) map[string][]byte {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s, err := cs.CoreV1().Secrets(ownNamespace).Get(context.Background(), tlsSecret, metav1.GetOptions{})
		if err == nil && ok(tlscerts.ParseSecret(s.Data)) {
			return s.Data
		}
	}
	t.Fatalf("the TLS Secret %s/%s did not reach the state waited for within 60s", ownNamespace, tlsSecret)
	return nil
}

// addTLSSecret adds the private keys of the TLS Secret, and marks its certificates public.
func addTLSSecret(leaks *leakSet, which string, data map[string][]byte) {
	leaks.addPublic(data[tlscerts.TLSCertKey])
	leaks.addPublic(data[tlscerts.CACertKey])
	leaks.addPEM(which+" serving key ("+tlscerts.TLSKeyKey+")", data[tlscerts.TLSKeyKey])
	leaks.addPEM(which+" CA key ("+tlscerts.CAKeyKey+")", data[tlscerts.CAKeyKey])
}

func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// get reads url, with token as a bearer credential when given, and requires status want (0:
// anything but 200). The metrics endpoint's certificate is self-signed: only what it serves is
// checked here.
func get(t *testing.T, url, token string, want int) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case want == 0 && resp.StatusCode == http.StatusOK:
		t.Errorf("GET %s: 200, want a refusal", url)
	case want != 0 && resp.StatusCode != want:
		t.Errorf("GET %s: %d %s, want %d", url, resp.StatusCode, b, want)
	}
	return string(b)
}

// bulwarkEvents returns the Events Bulwark recorded (reporting controller bulwark), as JSON.
func bulwarkEvents(t *testing.T, cs *kubernetes.Clientset) string {
	t.Helper()
	list, err := cs.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.ReportingController == "bulwark" || strings.HasPrefix(e.ReportingController, "bulwark") {
			b, _ := json.Marshal(e)
			out = append(out, string(b))
		}
	}
	if len(out) == 0 {
		t.Errorf("Bulwark recorded no Event; reporting controllers seen: %d events", len(list.Items))
	}
	return strings.Join(out, "\n")
}

// policyReports returns every PolicyReport, as JSON.
func policyReports(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		list, err := dc.Resource(gvr).Namespace("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			var out []string
			for _, r := range list.Items {
				b, _ := json.Marshal(r.Object)
				out = append(out, string(b))
			}
			return strings.Join(out, "\n")
		}
	}
	return ""
}
