package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// The chart's files the templates render.
const (
	dashboardFile = chartDir + "/files/dashboard.json"
	crdFile       = chartDir + "/files/wgpolicyk8s.io_policyreports.yaml"
	crdName       = "policyreports.wgpolicyk8s.io"
)

// grafanaPanel is what this test reads of a Grafana panel.
type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string             `json:"refId"`
		Expr       string             `json:"expr"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string             `json:"name"`
			Type       string             `json:"type"`
			Query      any                `json:"query"`
			Datasource *grafanaDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// allPanels flattens rows: the panels of collapsed rows are nested in them.
func allPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// dashboardFrom returns the rendered dashboard ConfigMap's JSON, parsed, and the ConfigMap.
func dashboardFrom(t *testing.T, objs []object, name string) (grafanaDashboard, corev1.ConfigMap) {
	t.Helper()
	var cm corev1.ConfigMap
	decode(t, find(t, objs, "ConfigMap", name), &cm)
	if len(cm.Data) != 1 || cm.Data["bulwark.json"] == "" {
		t.Fatalf("dashboard ConfigMap data keys %v, want only bulwark.json", keys(cm.Data))
	}
	file, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["bulwark.json"] != strings.TrimSpace(string(file)) {
		t.Error("the ConfigMap's bulwark.json is not files/dashboard.json as it is")
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(cm.Data["bulwark.json"]))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("bulwark.json does not parse: %v", err)
	}
	return d, cm
}

// TestDashboard: the dashboard ConfigMap renders only when enabled, carries the Grafana
// sidecar's label (configurable) and the extra labels and annotations, lands in the configured
// namespace, and holds a dashboard whose every panel queries the ${datasource} variable.
func TestDashboard(t *testing.T) {
	h := newHelm(t, "")
	for _, o := range parseManifest(t, h.template(t)) {
		if strings.HasSuffix(o.Name, "-dashboard") {
			t.Errorf("%s rendered with metrics.dashboard.enabled false", o)
		}
	}

	t.Run("defaults", func(t *testing.T) {
		objs := parseManifest(t, h.template(t, "--set", "metrics.dashboard.enabled=true"))
		_, cm := dashboardFrom(t, objs, "bulwark-dashboard")
		if cm.Namespace != releaseNamespace {
			t.Errorf("namespace %q, want the release namespace", cm.Namespace)
		}
		if got := cm.Labels["grafana_dashboard"]; got != "1" {
			t.Errorf("label grafana_dashboard = %q, want \"1\" (the Grafana sidecar's default)", got)
		}
		if len(cm.Annotations) != 0 {
			t.Errorf("annotations %v, want none", cm.Annotations)
		}
	})

	t.Run("extras", func(t *testing.T) {
		r := renders[2]
		objs := parseManifest(t, render(t, h, r.release, r.namespace, r.flags...))
		d, cm := dashboardFrom(t, objs, "prod-bulwark-dashboard")
		if cm.Namespace != "monitoring" {
			t.Errorf("namespace %q, want metrics.dashboard.namespace (monitoring)", cm.Namespace)
		}
		for k, v := range map[string]string{"grafana_dashboard": "bulwark", "team": "platform", "app.kubernetes.io/instance": "prod"} {
			if cm.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, cm.Labels[k], v)
			}
		}
		if cm.Annotations["grafana_folder"] != "Security" {
			t.Errorf("annotations %v, want grafana_folder: Security", cm.Annotations)
		}

		if d.UID != "bulwark" || d.Title == "" || d.SchemaVersion < 36 {
			t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
		}
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
			switch {
			case v.Name == "datasource":
				if v.Type != "datasource" || v.Query != "prometheus" {
					t.Errorf("variable datasource: type %q, query %v; want a prometheus datasource variable", v.Type, v.Query)
				}
			case v.Type == "query":
				if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
					t.Errorf("variable %s queries %+v, want ${datasource}", v.Name, v.Datasource)
				}
			}
		}
		for _, want := range []string{"datasource", "job", "namespace"} {
			if !vars[want] {
				t.Errorf("no %s variable", want)
			}
		}
		ids := map[int]string{}
		panels := 0
		for _, p := range allPanels(d.Panels) {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("panel %q has no gridPos", p.Title)
			}
			if p.Type == "row" {
				continue
			}
			panels++
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no target", p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q: target %s has no expression", p.Title, tg.RefID)
				}
				if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: target %s queries %+v", p.Title, tg.RefID, tg.Datasource)
				}
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("panel %q: missing or repeated refId %q", p.Title, tg.RefID)
				}
				refs[tg.RefID] = true
			}
		}
		if panels < 10 {
			t.Errorf("%d panels", panels)
		}
	})
}

// alertRule is one rule of the rendered PrometheusRule.
type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alertRules(t *testing.T, objs []object, name string) []alertRule {
	t.Helper()
	var pr struct {
		Spec struct {
			Groups []struct {
				Name  string      `json:"name"`
				Rules []alertRule `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(find(t, objs, "PrometheusRule", name).YAML, &pr); err != nil {
		t.Fatal(err)
	}
	var rules []alertRule
	for _, g := range pr.Spec.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// selector matches a metric selector with its label matchers: name{...}.
var selector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)

// TestPrometheusRule: the alerts, their thresholds from values (the audit's derived from
// audit.interval unless given), and every metric selector scoped to the release's Service.
func TestPrometheusRule(t *testing.T) {
	h := newHelm(t, "")
	on := []string{"--set", "metrics.prometheusRule.enabled=true"}
	for _, c := range []struct {
		name   string
		render int
		flags  []string            // instead of the render's
		want   map[string][]string // alert -> substrings of its expression(s)
	}{
		{"default", 0, on, map[string][]string{
			"BulwarkWebhookPanics":        {"sum(increase(controller_runtime_webhook_panics_total{"},
			"BulwarkAdmissionLatencyHigh": {"histogram_quantile(0.99, sum by (webhook, le) (rate(controller_runtime_webhook_latency_seconds_bucket{", "> 0.5"},
			"BulwarkCertificateExpiring":  {"< 14 * 86400", "< 2 * 86400"},
			"BulwarkAuditNotCompleting":   {"bulwark_audit_last_success_timestamp_seconds", "> 1800)", `result="error"}[1800s]`},
		}},
		{"extras", 2, nil, map[string][]string{
			"BulwarkAdmissionLatencyHigh": {"> 0.25"},
			"BulwarkCertificateExpiring":  {"< 30 * 86400", "< 3 * 86400"},
			"BulwarkAuditNotCompleting":   {"> 900)", `result="success"}[900s]`},
		}},
		{"audit every 1h30m", 0, append(slices.Clone(on), "--set", "audit.interval=1h30m"), map[string][]string{
			"BulwarkAuditNotCompleting": {"> 16200)", "[16200s]"},
		}},
		{"audit every 90.5s", 0, append(slices.Clone(on), "--set", "audit.interval=90.5s"), map[string][]string{
			"BulwarkAuditNotCompleting": {"> 272)", "[272s]"},
		}},
		{"no audit", 0, append(slices.Clone(on), "--set", "audit.enabled=false"), nil},
		// No scrape reaches the loopback-only metrics: BulwarkDown watches the Deployment's
		// available replicas (kube-state-metrics) instead of an up series that never exists.
		{"metrics not secure", 0, append(slices.Clone(on), "--set", "metrics.secure=false"), map[string][]string{
			"BulwarkDown": {`sum(kube_deployment_status_replicas_available{namespace="bulwark-system", deployment="bulwark"}) < 1`},
		}},
	} {
		r := renders[c.render]
		t.Run(c.name, func(t *testing.T) {
			flags := r.flags
			if c.flags != nil {
				flags = c.flags
			}
			objs := parseManifest(t, render(t, h, r.release, r.namespace, flags...))
			fullname := "bulwark"
			if r.release == "prod" {
				fullname = "prod-bulwark"
			}
			rules := alertRules(t, objs, fullname)
			var names []string
			exprs := map[string]string{}
			severities := map[string][]string{}
			for _, rule := range rules {
				names = append(names, rule.Alert)
				exprs[rule.Alert] += rule.Expr + "\n"
				severities[rule.Alert] = append(severities[rule.Alert], rule.Labels["severity"])
				if rule.Annotations["summary"] == "" || len(rule.Annotations["description"]) < 80 {
					t.Errorf("%s: want a summary and a description that says what to do: %v", rule.Alert, rule.Annotations)
				}
				if strings.Contains(rule.Annotations["description"], "{{ .") {
					t.Errorf("%s: a Helm expression reached the description: %s", rule.Alert, rule.Annotations["description"])
				}
				want := fmt.Sprintf("namespace=%q, service=%q", r.namespace, fullname)
				if strings.HasPrefix(rule.Expr, "sum(kube_deployment_status_replicas_available{") {
					want = fmt.Sprintf("namespace=%q, deployment=%q", r.namespace, fullname)
				}
				for _, m := range selector.FindAllStringSubmatch(rule.Expr, -1) {
					if !strings.Contains(m[2], want) {
						t.Errorf("%s: %s is not scoped to the release (%s): %s", rule.Alert, m[0], want, rule.Expr)
					}
				}
			}
			wantNames := []string{"BulwarkDown", "BulwarkAdmissionErrors", "BulwarkPolicyInvalid", "BulwarkPolicyMismatch",
				"BulwarkWebhookPanics", "BulwarkAdmissionLatencyHigh", "BulwarkCertificateExpiring", "BulwarkCertificateExpiring", "BulwarkAuditNotCompleting"}
			if c.name == "no audit" {
				wantNames = wantNames[:len(wantNames)-1] // no audit, no audit alert
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("alerts %v, want %v", names, wantNames)
			}
			if got := severities["BulwarkCertificateExpiring"]; !slices.Equal(got, []string{"warning", "critical"}) {
				t.Errorf("BulwarkCertificateExpiring severities %v, want warning then critical", got)
			}
			if insecure := slices.Contains(flags, "metrics.secure=false"); insecure == strings.Contains(exprs["BulwarkDown"], "up{") {
				t.Errorf("metrics.secure=%v: BulwarkDown %s", !insecure, exprs["BulwarkDown"])
			}
			for alert, subs := range c.want {
				for _, s := range subs {
					if !strings.Contains(exprs[alert], s) {
						t.Errorf("%s: expression lacks %q:\n%s", alert, s, exprs[alert])
					}
				}
			}
		})
	}
}

// crdSpec reads the spec of the CRD in files/.
func crdSpec(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	spec, _ := crd["spec"].(map[string]any)
	return spec
}

// TestPolicyReportCRDRendered: the CRD renders only with policyReports.installCRD, exactly as
// in files/, with helm.sh/resource-policy: keep.
func TestPolicyReportCRDRendered(t *testing.T) {
	h := newHelm(t, "")
	for _, r := range renders[:2] {
		for _, o := range parseManifest(t, render(t, h, r.release, r.namespace, r.flags...)) {
			if o.Kind == "CustomResourceDefinition" {
				t.Errorf("%s: %s rendered with policyReports.installCRD false", r.name, o)
			}
		}
	}
	objs := parseManifest(t, h.template(t, "--set", "policyReports.installCRD=true"))
	var crds []object
	for _, o := range objs {
		if o.Kind == "CustomResourceDefinition" {
			crds = append(crds, o)
		}
	}
	if len(crds) != 1 || crds[0].Name != crdName || crds[0].APIVersion != "apiextensions.k8s.io/v1" {
		t.Fatalf("CRDs rendered: %v, want %s", crds, crdName)
	}
	var got struct {
		Metadata struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(crds[0].YAML, &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("annotations %v, want helm.sh/resource-policy: keep", got.Metadata.Annotations)
	}
	if got.Metadata.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("labels %v", got.Metadata.Labels)
	}
	want := crdSpec(t)
	if !reflect.DeepEqual(got.Spec, want) {
		t.Errorf("the rendered CRD's spec differs from %s", crdFile)
	}
}

// samplePolicyReport is a report as Bulwark writes it (one result per object and violated
// check), its first result with the given outcome and severity.
func samplePolicyReport(name, result, severity string) *unstructured.Unstructured {
	r := map[string]any{
		"source": "bulwark", "policy": "bulwark", "rule": "host-network", "category": "Host isolation",
		"severity": severity, "result": result, "scored": true,
		"timestamp": map[string]any{"seconds": int64(1767225600)},
		"message":   `Pod "node-sniffer": the pod shares the node's network namespace`,
		"properties": map[string]any{
			"field": "spec.hostNetwork", "fix": "remove hostNetwork or set it to false", "action": "enforce",
		},
		"resources": []any{map[string]any{
			"apiVersion": "v1", "kind": "Pod", "name": "node-sniffer", "namespace": "default",
			"uid": "6c1b8d0e-3f0a-4c55-9c1e-0d6b1b0c7f11",
		}},
	}
	warn := map[string]any{
		"source": "bulwark", "policy": "bulwark", "rule": "image-tag", "category": "Supply chain and credentials",
		"severity": "medium", "result": "warn", "timestamp": map[string]any{"seconds": int64(1767225600)},
		"message":    `Deployment "web": container "app" uses a mutable tag`,
		"properties": map[string]any{"field": "spec.template.spec.containers[0].image", "fix": "pin a digest", "action": "warn"},
		"resources":  []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "default", "uid": "0d2f4a7e-1b1c-4a9d-8f00-2b1f6c3e9a10"}},
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "wgpolicyk8s.io/v1alpha2",
		"kind":       "PolicyReport",
		"metadata": map[string]any{
			"name": name, "namespace": "default",
			"labels": map[string]any{"app.kubernetes.io/managed-by": "bulwark"},
		},
		"summary": map[string]any{"pass": int64(3), "fail": int64(1), "warn": int64(1), "error": int64(0), "skip": int64(0)},
		"results": []any{r, warn},
	}}
	return u
}

// TestPolicyReportCRDInstall installs the chart with policyReports.installCRD into a real
// apiserver: the CRD of files/ is accepted and becomes Established, Bulwark's PolicyReport is
// stored as written (nothing pruned), the schema refuses a result that is not one of the five
// outcomes, a severity outside the enum and a result without a policy, kubectl prints the
// summary columns, and helm uninstall leaves the CRD and the reports.
func TestPolicyReportCRDInstall(t *testing.T) {
	cl := startCluster(t)
	h := newHelm(t, cl.kubeconfig)
	ctx := context.Background()
	h.mustRun(t, "install", releaseName, chartDir, "--namespace", releaseNamespace, "--create-namespace",
		"--set", "policyReports.installCRD=true")

	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	established := func() bool {
		if err := cl.c.Get(ctx, types.NamespacedName{Name: crdName}, crd); err != nil {
			t.Fatalf("reading the CRD: %v", err)
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			c, _ := c.(map[string]any)
			if c["type"] == "Established" && c["status"] == "True" {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for !established() {
		if time.Now().After(deadline) {
			t.Fatalf("the CRD is not Established after 30s: %v", crd.Object["status"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := crd.GetAnnotations()["helm.sh/resource-policy"]; got != "keep" {
		t.Errorf("stored CRD annotation helm.sh/resource-policy = %q", got)
	}
	// The stored schema is the one of files/ (the apiserver keeps it as sent).
	want := crdSpec(t)
	storedVersions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	fileVersions, _ := want["versions"].([]any)
	if len(storedVersions) != 1 || len(fileVersions) != 1 {
		t.Fatalf("versions stored %d, in the file %d", len(storedVersions), len(fileVersions))
	}
	storedSchema := storedVersions[0].(map[string]any)["schema"]
	fileSchema := jsonRoundTrip(t, fileVersions[0].(map[string]any)["schema"])
	if !reflect.DeepEqual(storedSchema, fileSchema) {
		t.Errorf("the stored schema differs from %s", crdFile)
	}

	// The resource is served once Established, but discovery can lag: retry the first create.
	good := samplePolicyReport("bulwark", "fail", "high")
	deadline = time.Now().Add(30 * time.Second)
	for {
		err := cl.c.Create(ctx, good.DeepCopy())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bulwark's PolicyReport was refused: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stored := &unstructured.Unstructured{}
	stored.SetAPIVersion("wgpolicyk8s.io/v1alpha2")
	stored.SetKind("PolicyReport")
	if err := cl.c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "bulwark"}, stored); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"summary", "results"} {
		if !reflect.DeepEqual(stored.Object[field], jsonRoundTrip(t, good.Object[field])) {
			t.Errorf("stored %s differs from what was written (pruned?):\n got  %v\n want %v", field, stored.Object[field], good.Object[field])
		}
	}

	for _, c := range []struct {
		name   string
		report *unstructured.Unstructured
		want   []string
	}{
		{"bogus result", samplePolicyReport("bogus-result", "bogus", "high"), []string{"results[0].result", `Unsupported value: "bogus"`}},
		{"bogus severity", samplePolicyReport("bogus-severity", "fail", "severe"), []string{"results[0].severity", `Unsupported value: "severe"`}},
		{"no policy", func() *unstructured.Unstructured {
			u := samplePolicyReport("no-policy", "fail", "high")
			delete(u.Object["results"].([]any)[1].(map[string]any), "policy")
			return u
		}(), []string{"results[1].policy", "Required value"}},
		{"summary not a number", func() *unstructured.Unstructured {
			u := samplePolicyReport("bad-summary", "fail", "high")
			u.Object["summary"].(map[string]any)["fail"] = "one"
			return u
		}(), []string{"summary.fail", "must be of type integer"}},
	} {
		err := cl.c.Create(ctx, c.report)
		if err == nil {
			t.Errorf("%s: the PolicyReport was accepted", c.name)
			continue
		}
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: refused, but not as invalid: %v", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error does not say %q: %v", c.name, w, err)
			}
		}
	}

	// kubectl by short name, with the summary columns.
	out := cl.kubectl(t, "get", "polr", "-n", "default")
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	if !slices.Equal(header, []string{"NAME", "PASS", "FAIL", "WARN", "ERROR", "SKIP", "AGE"}) {
		t.Errorf("kubectl get polr:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^bulwark\s+3\s+1\s+1\s+0\s+0\s+\S+$`).MatchString(out) {
		t.Errorf("kubectl get polr does not show the summary:\n%s", out)
	}

	// helm uninstall keeps the CRD (and so every report).
	h.mustRun(t, "uninstall", releaseName, "--namespace", releaseNamespace)
	if err := cl.c.Get(ctx, types.NamespacedName{Name: crdName}, crd); err != nil {
		t.Errorf("the CRD is gone after helm uninstall: %v", err)
	} else if crd.GetDeletionTimestamp() != nil {
		t.Errorf("the CRD is being deleted after helm uninstall")
	}
	if err := cl.c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "bulwark"}, stored); err != nil {
		t.Errorf("the PolicyReport is gone after helm uninstall: %v", err)
	}
}

// jsonRoundTrip returns v as the apiserver returns it: through JSON, numbers as int64 or
// float64 as unstructured decodes them.
func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(`{"apiVersion":"v1","kind":"X","v":` + string(data) + `}`)); err != nil {
		t.Fatal(err)
	}
	return u.Object["v"]
}
