package e2e

import (
	"bufio"
	"bytes"
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
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// serveArgs are the flags TestMain adds to bulwark serve: an audit every 2s, so that the
// audit's metrics exist soon after start.
var serveArgs = []string{"--audit-interval=2s"}

// renderMonitoring renders the chart's dashboard ConfigMap and PrometheusRule with the real helm.
func renderMonitoring(t *testing.T) string {
	t.Helper()
	return helmTemplate(t, "--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboard.enabled=true")
}

// helmTemplate renders the chart as release bulwark in bulwark-system with the real helm and
// extra flags.
func helmTemplate(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(local.Assets, "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found in %s: run hack/tools.sh helm (or make tools)", local.Assets)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, append([]string{"template", "bulwark", "charts/bulwark", "--namespace", framework.PolicyNamespace}, flags...)...)
	cmd.Dir = repoRoot
	// Its own empty configuration and no cluster: nothing of the user's helm setup leaks in.
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"), "HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"KUBECONFIG=" + filepath.Join(home, "no-kubeconfig")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// referencedFamilies returns every metric family the rendered dashboard and PrometheusRule
// query, with where each is referenced.
func referencedFamilies(t *testing.T, manifest string) map[string][]string {
	t.Helper()
	refs := map[string][]string{}
	add := func(expr, where string) {
		for _, name := range promqlMetricNames(expr) {
			f := family(name)
			if f == "up" { // Prometheus's own, per target
				continue
			}
			if !slices.Contains(refs[f], where) {
				refs[f] = append(refs[f], where)
			}
		}
	}
	var dashboards, rules int
	for _, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(manifest, -1) {
		var obj struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
			Spec struct {
				Groups []struct {
					Rules []struct {
						Alert string `json:"alert"`
						Expr  string `json:"expr"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered document does not parse: %v\n%s", err, doc)
		}
		switch {
		case obj.Kind == "PrometheusRule":
			for _, g := range obj.Spec.Groups {
				for _, r := range g.Rules {
					rules++
					add(r.Expr, "PrometheusRule alert "+r.Alert)
				}
			}
		case obj.Kind == "ConfigMap" && obj.Data["bulwark.json"] != "":
			dashboards++
			var d struct {
				Panels     []dashboardPanel `json:"panels"`
				Templating struct {
					List []struct {
						Name  string `json:"name"`
						Type  string `json:"type"`
						Query any    `json:"query"`
					} `json:"list"`
				} `json:"templating"`
			}
			if err := json.Unmarshal([]byte(obj.Data["bulwark.json"]), &d); err != nil {
				t.Fatalf("the dashboard does not parse: %v", err)
			}
			for _, p := range flattenPanels(d.Panels) {
				for _, tg := range p.Targets {
					add(tg.Expr, fmt.Sprintf("dashboard panel %q", p.Title))
				}
			}
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				q, _ := v.Query.(string)
				if m, ok := v.Query.(map[string]any); ok {
					q, _ = m["query"].(string)
				}
				add(labelValuesSelector(q), "dashboard variable $"+v.Name)
			}
		}
	}
	if dashboards != 1 || rules == 0 {
		t.Fatalf("rendered %d dashboards and %d alert rules, want one dashboard and the alerts", dashboards, rules)
	}
	return refs
}

type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

func flattenPanels(ps []dashboardPanel) []dashboardPanel {
	var out []dashboardPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flattenPanels(p.Panels)...)
	}
	return out
}

// labelValuesSelector returns the series selector of a Grafana label_values(SELECTOR, LABEL)
// variable query, or the query itself when it is PromQL (query_result(...)).
func labelValuesSelector(q string) string {
	if m := regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`).FindStringSubmatch(q); m != nil {
		return m[1]
	}
	if strings.HasPrefix(strings.TrimSpace(q), "label_values(") {
		return "" // label_values(LABEL): no metric
	}
	return q
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "atan2": true,
	}
)

// promqlMetricNames returns the metric names a PromQL expression selects: every identifier
// that is not a function or aggregation (followed by "("), a keyword, a label (in {...} or a
// grouping clause), a string, a duration or a Grafana variable.
func promqlMetricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var names []string
	for _, loc := range promqlIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "$.0123456789") {
			continue // a Grafana variable or part of a number (1e3)
		}
		if rest := strings.TrimLeft(e[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		if promqlKeywords[strings.ToLower(name)] || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
	}
	return names
}

// family is the metric family of a series name: a histogram's or summary's _bucket, _sum and
// _count series belong to the family without the suffix.
func family(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, s); ok {
			return f
		}
	}
	return name
}

func TestPromQLMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (webhook, decision) (rate(bulwark_admission_decisions_total{job=~"$job", namespace=~"$namespace"}[$__rate_interval]))`: {"bulwark_admission_decisions_total"},
		`histogram_quantile(0.99, sum by (le) (increase(bulwark_audit_duration_seconds_bucket{job="x"}[1h])))`:                         {"bulwark_audit_duration_seconds_bucket"},
		`sum(increase(a_sum[1h])) / sum(increase(a_count[1h]))`:                                                                        {"a_sum", "a_count"},
		`(time() - max(x_seconds{a="b"} > 0) > 1800) or (sum(increase(r_total{result="error"}[1800s])) > 0 unless sum(r_total) > 0)`:   {"x_seconds", "r_total"},
		`sum by (namespace) (label_replace(v{job=~"$job"}, "namespace", "$1", "exported_namespace", "(.+)"))`:                          {"v"},
		`absent(up{namespace="ns", service="svc"} == 1)`:                                                                               {"up"},
		`topk(10, sum without (pod) (m)) * on (check) group_left (action) n offset 5m`:                                                 {"m", "n"},
		`(c - time()) < 14 * 86400 and 1e3 > 0`:                                                                                        {"c"},
	} {
		if got := promqlMetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("promqlMetricNames(%s) = %v, want %v", expr, got, want)
		}
	}
	if got := labelValuesSelector(`label_values(bulwark_policy_info{job=~"$job"}, namespace)`); got != `bulwark_policy_info{job=~"$job"}` {
		t.Errorf("labelValuesSelector = %q", got)
	}
}

// scrape reads bulwark's /metrics and returns the families that have at least one sample.
func scrape(url string) (map[string]bool, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return families(resp.Body)
}

// families reads a Prometheus text exposition and returns the families that have at least
// one sample.
func families(r io.Reader) (map[string]bool, error) {
	typed := map[string]bool{}   // families announced by # TYPE
	sampled := map[string]bool{} // families with a sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			typed[strings.Fields(f)[0]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		sampled[name] = true
		sampled[family(name)] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for f := range typed {
		if sampled[f] {
			out[f] = true
		}
	}
	return out, nil
}

// policyHash is the hash label of bulwark_policy_info on the metrics endpoint.
func policyHash(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(local.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := regexp.MustCompile(`(?m)^bulwark_policy_info\{.*hash="([^"]+)"`).FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

// applyPolicy stores doc as the policy ConfigMap with kubectl apply.
func applyPolicy(t *testing.T, doc string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "policy.yaml")
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(doc), "\n", "\n    ")
	if err := os.WriteFile(file, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+framework.PolicyConfigMap+
		", namespace: "+framework.PolicyNamespace+"}\ndata:\n  policy.yaml: |\n"+indented+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl(t, "apply", "-f", file); err != nil {
		t.Fatalf("applying the policy: %v\n%s", err, out)
	}
}

// TestMetricsDrift: every metric family the chart's Grafana dashboard and PrometheusRule
// query is one the running bulwark exports, once traffic has made each appear: an admitted
// and mutated Deployment, a denied Pod that matched an expired exemption, a policy reload,
// completed audits. A renamed or dropped metric fails here, naming the panels and alerts that
// would go blank. Every family is documented in docs/metrics.md.
func TestMetricsDrift(t *testing.T) {
	refs := referencedFamilies(t, renderMonitoring(t))
	if len(refs) < 15 || refs["bulwark_admission_decisions_total"] == nil || refs["bulwark_certificate_expiry_timestamp_seconds"] == nil {
		t.Fatalf("the metric names extracted from the dashboard and alerts look wrong: %v", refs)
	}

	// A policy reload: the nsa profile and an exemption that expired long ago.
	if out, err := kubectl(t, "create", "namespace", "metrics-drift"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	doc := framework.DefaultPolicy + `exemptions:
  - name: drift-expired
    reason: "expired, so that bulwark_policy_expired_exemptions_total counts a request"
    expires: 2020-01-01
    namespace: metrics-drift
    checks: [host-network]
`
	snap, err := policy.Parse([]byte(doc), "metrics-drift")
	if err != nil {
		t.Fatal(err)
	}
	applyPolicy(t, doc)
	t.Cleanup(func() { applyPolicy(t, framework.DefaultPolicy) })
	deadline := time.Now().Add(30 * time.Second)
	for last := ""; last != snap.Hash; last = policyHash(t) {
		if time.Now().After(deadline) {
			t.Fatalf("the new policy (hash %s) is not in force after 30s (hash %s)", snap.Hash, last)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Denied, after matching the expired exemption; admitted and mutated.
	out, err := kubectl(t, "apply", "-n", "metrics-drift", "-f", "config/samples/workloads/denied-hostnetwork-pod.yaml")
	if err == nil || !strings.Contains(out, "denied the request") {
		t.Errorf("the hostNetwork pod was not denied: %v\n%s", err, out)
	}
	if !strings.Contains(out, `exemption "drift-expired" expired`) {
		t.Errorf("no warning about the expired exemption:\n%s", out)
	}
	out, err = kubectl(t, "apply", "-n", "metrics-drift", "-f", "config/samples/workloads/admitted-minimal-deployment.yaml")
	if err != nil || !strings.Contains(out, "Warning: bulwark set defaults") {
		t.Errorf("the minimal Deployment was not admitted with defaults: %v\n%s", err, out)
	}

	// Audits run every 2s (serveArgs) and after the policy change: wait for their series.
	var exported map[string]bool
	var missing []string
	deadline = time.Now().Add(90 * time.Second)
	for {
		if exported, err = scrape(local.MetricsURL); err != nil {
			t.Fatal(err)
		}
		missing = missing[:0]
		for f := range refs {
			if !exported[f] {
				missing = append(missing, f)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	sort.Strings(missing)
	for _, f := range missing {
		t.Errorf("%s is not exported by bulwark serve, but is referenced by %s", f, strings.Join(refs[f], ", "))
	}
	if len(missing) > 0 {
		var have []string
		for f := range exported {
			if strings.HasPrefix(f, "bulwark_") || strings.HasPrefix(f, "controller_runtime_webhook_") {
				have = append(have, f)
			}
		}
		sort.Strings(have)
		t.Logf("exported: %s", strings.Join(have, ", "))
	}

	// docs/metrics.md documents every family the dashboard and alerts use and every family
	// of Bulwark's own.
	metricsDoc, err := os.ReadFile(filepath.Join(repoRoot, "docs/metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for f := range exported {
		if strings.HasPrefix(f, "bulwark_") || refs[f] != nil {
			if !strings.Contains(string(metricsDoc), "`"+f+"`") {
				t.Errorf("docs/metrics.md does not document %s", f)
			}
		}
	}
}

// serveProcess is a second bulwark serve started by a test, beside the one TestMain runs.
type serveProcess struct {
	cmd    *exec.Cmd
	logs   framework.LogBuffer
	exited chan error
}

// startServe starts bulwark serve with args and stops it (SIGTERM, then its graceful
// shutdown) when the test ends.
func startServe(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting bulwark serve: %v", err)
	}
	done := make(chan struct{})
	go func() {
		p.exited <- p.cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("bulwark serve did not stop within 60s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("logs of bulwark serve %v:\n%s", args, p.logs.String())
		}
	})
	return p
}

// waitReady polls url (a /readyz) until it answers 200; it fails the test when the process
// exits first or after a generous guard.
func (p *serveProcess) waitReady(t *testing.T, url string) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			t.Fatalf("bulwark serve exited before it was ready: %v\n%s", err, p.logs.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("bulwark serve ready after %.1fs", time.Since(start).Seconds())
				return
			}
			last = resp.Status + ": " + string(body)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("bulwark serve not ready at %s after 90s (last: %s)", url, last)
}

// serviceAccountKubeconfig writes a kubeconfig for cfg (a client certificate) and returns its path.
func serviceAccountKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := framework.WriteClientKubeconfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// token returns a bound token of a ServiceAccount from the TokenRequest API (kubectl create token).
func token(t *testing.T, namespace, name string) string {
	t.Helper()
	out, err := kubectl(t, "create", "token", name, "-n", namespace, "--duration=10m")
	if err != nil {
		t.Fatalf("kubectl create token %s/%s: %v\n%s", namespace, name, err, out)
	}
	return strings.TrimSpace(out)
}

// get requests url with client, with a bearer token unless it is empty, and returns the
// status code and the body.
func get(t *testing.T, client *http.Client, url, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// TestMetricsSecure runs bulwark serve with its default, authenticated metrics endpoint, as
// the ServiceAccount bulwark holding exactly the install contract's RBAC, and scrapes it
// with tokens the real apiserver issues (TokenRequest): without a token, or with one it does
// not know, 401; with the token of a ServiceAccount not bound to the chart's metrics reader
// ClusterRole, 403; with one bound to it (by the chart's metrics.readerSubjects), 200 and
// Bulwark's metric families. The endpoint speaks only TLS 1.2 or later and HTTP/1.1, as the
// webhook does, and a plain HTTP request gets no metrics.
func TestMetricsSecure(t *testing.T) {
	const ns = "metrics-auth"
	for _, args := range [][]string{
		{"create", "namespace", ns},
		{"create", "serviceaccount", "scraper", "-n", ns},
		{"create", "serviceaccount", "stranger", "-n", ns},
		{"create", "serviceaccount", "deleted", "-n", ns},
	} {
		if out, err := kubectl(t, args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// The chart's metrics reader ClusterRole, bound to scraper through metrics.readerSubjects.
	manifest := helmTemplate(t, "--show-only", "templates/metrics-reader.yaml",
		"--set", "metrics.readerSubjects[0].kind=ServiceAccount", "--set", "metrics.readerSubjects[0].name=scraper",
		"--set", "metrics.readerSubjects[0].namespace="+ns)
	file := filepath.Join(t.TempDir(), "metrics-reader.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(t, "apply", "-f", file)
	if err != nil || !strings.Contains(out, "clusterrole.rbac.authorization.k8s.io/bulwark-metrics-reader created") ||
		!strings.Contains(out, "clusterrolebinding.rbac.authorization.k8s.io/bulwark-metrics-reader created") {
		t.Fatalf("applying the chart's metrics reader: %v\n%s", err, out)
	}

	// Bulwark as its ServiceAccount with the contract's rules (which test/helm and
	// test/kustomize hold the chart and config/ to), on all interfaces, flags at their
	// defaults but for the ports: --metrics-secure is the default.
	saConfig, err := local.ServiceAccountConfig(context.Background(), framework.RBACNames{
		Namespace: framework.PolicyNamespace, Name: "bulwark", WebhookConfig: server.ConfigName, TLSSecret: "bulwark-tls",
	})
	if err != nil {
		t.Fatal(err)
	}
	metricsPort, probePort := strconv.Itoa(framework.FreePortT(t)), strconv.Itoa(framework.FreePortT(t))
	p := startServe(t, "--kubeconfig", serviceAccountKubeconfig(t, saConfig),
		"--namespace", framework.PolicyNamespace, "--policy-configmap", framework.PolicyNamespace+"/"+framework.PolicyConfigMap,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(framework.FreePortT(t)), "--cert-dir", local.CertDir,
		"--metrics-bind-address", ":"+metricsPort, "--health-probe-bind-address", "127.0.0.1:"+probePort,
		"--audit-interval=0", "--log-format=console")
	p.waitReady(t, "http://127.0.0.1:"+probePort+"/readyz")

	url := "https://127.0.0.1:" + metricsPort + "/metrics"
	// The certificate is self-signed: the test, like the chart's ServiceMonitor, does not
	// verify it. What protects the endpoint is the token.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed by design
	}}
	scraper, stranger, revoked := token(t, ns, "scraper"), token(t, ns, "stranger"), token(t, ns, "deleted")
	if out, err := kubectl(t, "delete", "serviceaccount", "deleted", "-n", ns); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, c := range []struct {
		who, token string
		code       int
		body       string
	}{
		{"no token", "", http.StatusUnauthorized, "Unauthorized"},
		{"a token the apiserver did not issue", "not-a-token", http.StatusUnauthorized, "the Kubernetes apiserver does not accept the token"},
		{"the token of a deleted ServiceAccount", revoked, http.StatusUnauthorized, "the Kubernetes apiserver does not accept the token"},
		{"ServiceAccount stranger, not bound to bulwark-metrics-reader", stranger, http.StatusForbidden,
			"Authorization denied for user system:serviceaccount:" + ns + ":stranger"},
	} {
		code, body := get(t, client, url, c.token)
		if code != c.code || !strings.Contains(body, c.body) || strings.Contains(body, "bulwark_") {
			t.Errorf("%s: HTTP %d %q, want %d %q and no metrics", c.who, code, body, c.code, c.body)
		}
	}
	code, body := get(t, client, url, scraper)
	if code != http.StatusOK {
		t.Fatalf("ServiceAccount scraper, bound to bulwark-metrics-reader: HTTP %d %q, want 200", code, body)
	}
	got, err := families(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bulwark_policy_info", "bulwark_policy_reloads_total", "bulwark_certificate_expiry_timestamp_seconds"} {
		if !got[f] {
			t.Errorf("the authorized scrape lacks %s", f)
		}
	}
	t.Logf("the authorized scrape returned %d families, %d bytes", len(got), len(body))

	// Plain HTTP on the HTTPS port gets an error, not metrics (the server closes the
	// connection after the status line, so the body may end in a reset).
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+metricsPort+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+scraper)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("plain HTTP to the metrics port: %v", err)
	}
	plain, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(plain), "bulwark_") {
		t.Errorf("plain HTTP to the metrics port: HTTP %d %q, want 400 and no metrics", resp.StatusCode, plain)
	}

	// The webhook's TLS settings: TLS 1.2 at least, HTTP/1.1 only (no --enable-http2).
	conn, err := tls.Dial("tcp", "127.0.0.1:"+metricsPort, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // self-signed
	if err != nil {
		t.Fatal(err)
	}
	st := conn.ConnectionState()
	_ = conn.Close()
	if st.Version < tls.VersionTLS12 || st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("TLS %s, ALPN %q; want TLS 1.2 or later and http/1.1", tls.VersionName(st.Version), st.NegotiatedProtocol)
	}
	t.Logf("metrics endpoint: %s, ALPN %s, certificate subject %q issuer %q", tls.VersionName(st.Version), st.NegotiatedProtocol,
		st.PeerCertificates[0].Subject.CommonName, st.PeerCertificates[0].Issuer.CommonName)
	if conn, err := tls.Dial("tcp", "127.0.0.1:"+metricsPort, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil { //nolint:gosec // the point is an old version
		_ = conn.Close()
		t.Error("the metrics endpoint accepted a TLS 1.1 handshake")
	}

	// Bound to all interfaces (":PORT"), it answers on every address of the host, including
	// those TestMetricsPlainLoopbackOnly finds closed for the plain endpoint.
	for _, addr := range nonLoopbackAddrs(t) {
		code, _ := get(t, client, "https://"+net.JoinHostPort(addr, metricsPort)+"/metrics", "")
		if code != http.StatusUnauthorized {
			t.Errorf("https://%s:%s/metrics without a token: HTTP %d, want 401", addr, metricsPort, code)
		}
	}
}

// nonLoopbackAddrs are the host's IPv4 addresses outside 127.0.0.0/8, and 127.0.0.2: a
// socket bound to 127.0.0.1 does not accept connections to another loopback address either,
// so there is always one address to try.
func nonLoopbackAddrs(t *testing.T) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"127.0.0.2"}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			out = append(out, n.IP.String())
		}
	}
	return out
}

// TestMetricsPlainLoopbackOnly: bulwark serve with --metrics-secure=false on 127.0.0.1 (as
// TestMain runs it, and the chart with metrics.secure=false) serves plain HTTP without a
// token on loopback, and nothing on any other address of the host, where a listener bound to
// all interfaces is reachable.
func TestMetricsPlainLoopbackOnly(t *testing.T) {
	code, body := get(t, &http.Client{Timeout: 30 * time.Second}, local.MetricsURL, "")
	if code != http.StatusOK || !strings.Contains(body, "bulwark_policy_info") {
		t.Fatalf("GET %s: HTTP %d, want 200 with bulwark_policy_info", local.MetricsURL, code)
	}
	_, port, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(local.MetricsURL, "http://"), "/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	// The control: a listener on all interfaces is reachable at each address tried.
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	control := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	for _, addr := range nonLoopbackAddrs(t) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, control), 10*time.Second)
		if err != nil {
			t.Errorf("a listener on all interfaces is not reachable at %s: %v (the check below proves nothing there)", addr, err)
			continue
		}
		_ = c.Close()
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, port), 10*time.Second); err == nil {
			_ = c.Close()
			t.Errorf("the plain metrics endpoint accepts connections at %s:%s; it must listen on 127.0.0.1 only", addr, port)
		} else {
			t.Logf("%s:%s refused: %v", addr, port, err)
		}
	}
}

// TestMetricsNotOnHealthEndpoints: /healthz and /readyz, which the kubelet probes without
// credentials, answer "ok", or with ?verbose the names of their checks, and nothing else: no
// metrics, no versions, no reasons. The metrics are not on the probe port.
func TestMetricsNotOnHealthEndpoints(t *testing.T) {
	base := strings.TrimSuffix(local.ReadyzURL, "/readyz")
	client := &http.Client{Timeout: 30 * time.Second}
	line := regexp.MustCompile(`^\[\+\]([a-z-]+) ok$`)
	for _, c := range []struct {
		path   string
		checks []string // among the checks listed
	}{
		{"/healthz", []string{"ping"}},
		{"/readyz", []string{"informers", "webhook"}},
	} {
		if code, body := get(t, client, base+c.path, ""); code != http.StatusOK || body != "ok" {
			t.Errorf("GET %s: HTTP %d %q, want 200 \"ok\"", c.path, code, body)
		}
		code, body := get(t, client, base+c.path+"?verbose", "")
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		var names []string
		for _, l := range lines[:len(lines)-1] {
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("GET %s?verbose: line %q is not \"[+]CHECK ok\"", c.path, l)
				continue
			}
			names = append(names, m[1])
		}
		missing := slices.DeleteFunc(slices.Clone(c.checks), func(n string) bool { return slices.Contains(names, n) })
		if code != http.StatusOK || lines[len(lines)-1] != "healthz check passed" || len(missing) > 0 {
			t.Errorf("GET %s?verbose: HTTP %d %q, want 200, the checks (%v among them) and \"healthz check passed\"", c.path, code, body, c.checks)
		}
		t.Logf("GET %s?verbose lists the checks %v", c.path, names)
		for _, check := range names {
			if code, body := get(t, client, base+c.path+"/"+check, ""); code != http.StatusOK || body != "ok" {
				t.Errorf("GET %s/%s: HTTP %d %q, want 200 \"ok\"", c.path, check, code, body)
			}
		}
	}
	for _, path := range []string{"/metrics", "/", "/debug/pprof/"} {
		if code, body := get(t, client, base+path, ""); code != http.StatusNotFound || strings.Contains(body, "bulwark_") {
			t.Errorf("GET %s on the probe port: HTTP %d %q, want 404", path, code, body)
		}
	}
}
