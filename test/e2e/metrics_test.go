package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// serveArgs are the flags TestMain adds to bulwark serve: an audit every 2s, so that the
// audit's metrics exist soon after start.
var serveArgs = []string{"--audit-interval=2s"}

// renderMonitoring renders the chart's dashboard ConfigMap and PrometheusRule with the real helm.
func renderMonitoring(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(local.Assets, "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found in %s: run hack/tools.sh helm (or make tools)", local.Assets)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, "template", "bulwark", "charts/bulwark", "--namespace", framework.PolicyNamespace,
		"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboard.enabled=true")
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
	typed := map[string]bool{}   // families announced by # TYPE
	sampled := map[string]bool{} // families with a sample
	sc := bufio.NewScanner(resp.Body)
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
