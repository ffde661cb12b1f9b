package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestPrometheusRulePassesPromtool: the PrometheusRule's spec, rendered with several value
// sets, is a rules file Prometheus loads: `promtool check rules --lint=all` (syntax, the
// expressions, the templates of the annotations, duplicate rules) passes it.
func TestPrometheusRulePassesPromtool(t *testing.T) {
	bin := assetBinary(t, "promtool")
	h := newHelm(t, "")
	on := []string{"--set", "metrics.prometheusRule.enabled=true"}
	for _, c := range []struct {
		name              string
		release, ns       string
		flags             []string
		fullname, wantAny string
	}{
		{"defaults", releaseName, releaseNamespace, on, "bulwark", "up{"},
		{"metrics not secure", releaseName, releaseNamespace, append(slices.Clone(on), "--set", "metrics.secure=false"), "bulwark", "kube_deployment_status_replicas_available{"},
		{"audit disabled", releaseName, releaseNamespace, append(slices.Clone(on), "--set", "audit.enabled=false"), "bulwark", "up{"},
		{"custom labels and thresholds", "prod", "security", append(slices.Clone(on),
			"--set", "metrics.prometheusRule.labels.release=kube-prometheus-stack", "--set", "metrics.prometheusRule.labels.team=platform",
			"--set-json", "metrics.prometheusRule.latencyBudgetSeconds=0.25", "--set", "metrics.prometheusRule.auditStaleSeconds=900",
			"--set", "certManager.enabled=true", "--set", "failurePolicy=Ignore", "--set", "audit.interval=1h30m"), "prod-bulwark", "up{"},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := parseManifest(t, render(t, h, c.release, c.ns, c.flags...))
			var pr struct {
				Spec map[string]any `json:"spec"`
			}
			if err := yaml.Unmarshal(find(t, objs, "PrometheusRule", c.fullname).YAML, &pr); err != nil {
				t.Fatal(err)
			}
			// promtool reads a rules file: the spec, {groups: [...]}.
			rules, err := yaml.Marshal(pr.Spec)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(rules), c.wantAny) {
				t.Fatalf("rules lack %q:\n%s", c.wantAny, rules)
			}
			file := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(file, rules, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "check", "rules", "--lint=all", "--lint-fatal", file).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "SUCCESS") {
				t.Fatalf("promtool check rules --lint=all: %v\n%s\nrules:\n%s", err, out, rules)
			}
		})
	}
}

// TestMetricsDocScrapeSetsAlertLabels: the plain scrape configuration in docs/metrics.md
// ("With Prometheus alone") gives its targets every label the chart's up-based alert selects
// on, so that BulwarkDown does not fire forever behind it.
func TestMetricsDocScrapeSetsAlertLabels(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### With Prometheus alone")
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(section)
	if !ok || block == nil {
		t.Fatal(`docs/metrics.md has no yaml block under "### With Prometheus alone"`)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			RelabelConfigs []struct {
				TargetLabel string `json:"target_label"`
				Action      string `json:"action"`
			} `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(block[1]), &cfg); err != nil || len(cfg.ScrapeConfigs) != 1 {
		t.Fatalf("the scrape configuration: %v, %d scrape configs, want 1", err, len(cfg.ScrapeConfigs))
	}
	set := map[string]bool{}
	for _, r := range cfg.ScrapeConfigs[0].RelabelConfigs {
		if r.TargetLabel != "" && (r.Action == "" || r.Action == "replace") {
			set[r.TargetLabel] = true
		}
	}

	h := newHelm(t, "")
	objs := parseManifest(t, render(t, h, releaseName, releaseNamespace, "--set", "metrics.prometheusRule.enabled=true"))
	var up string
	for _, rule := range alertRules(t, objs, "bulwark") {
		if m := regexp.MustCompile(`\bup\{([^}]*)\}`).FindStringSubmatch(rule.Expr); m != nil {
			up = m[1]
		}
	}
	labels := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*=~?`).FindAllStringSubmatch(up, -1)
	if len(labels) == 0 {
		t.Fatalf("no up selector with labels in the rendered alerts (%q)", up)
	}
	for _, l := range labels {
		if !set[l[1]] {
			t.Errorf("the alerts select up on %q, which the scrape configuration of docs/metrics.md does not set (it sets %v)", l[1], set)
		}
	}
}
