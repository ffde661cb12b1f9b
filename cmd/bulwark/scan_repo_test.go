package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// repoTree writes what a repository holds besides manifests, and two manifests (one denied),
// and returns its directory.
func repoTree(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, dir, "chart/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
	writeFile(t, dir, "chart/values.yaml", "replicaCount: 1\nimage:\n  repository: nginx\n")
	writeFile(t, dir, "chart/templates/deployment.yaml",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n")
	writeFile(t, dir, "base/kustomization.yaml", "resources:\n  - ../deploy\n")
	writeFile(t, dir, "docker-compose.yml", "services:\n  web:\n    image: nginx\n")
	writeFile(t, dir, "broken.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n\tkey: value\n")
	writeFile(t, dir, "deploy/good.yaml", compliantPod)
	writeFile(t, dir, "deploy/sniffer.yaml", hostNetworkPod)
	return dir
}

func TestScanRepository(t *testing.T) {
	dir := repoTree(t)
	p := func(name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }

	code, out, errOut := runCLI(t, "", "scan", dir)
	if code != exitDenied || errOut != "" {
		t.Fatalf("exit %d, want 1 and nothing on stderr\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		p("deploy/good.yaml") + `:1: Pod "good": ok`,
		p("deploy/sniffer.yaml") + `:1: Pod "sniffer": denied`,
		p("base/kustomization.yaml") + ":1: document 1 not read: not a Kubernetes object: apiVersion and kind are missing (a kustomization: to scan what it builds, run kubectl kustomize " + p("base") + " | bulwark scan -)",
		p("broken.yaml") + ":4: document 1 not read: yaml: found character that cannot start any token; the rest of the file is not read",
		p("chart/Chart.yaml") + ":1: document 1 not read: not a Kubernetes object: kind is missing (a Helm chart's Chart.yaml)",
		p("chart/templates/deployment.yaml") + `: not read: a Helm template ("{{" on line 4), not a manifest: render it first: helm template RELEASE ` + p("chart") + " | bulwark scan -",
		p("chart/values.yaml") + ":1: document 1 not read: not a Kubernetes object: apiVersion and kind are missing (a file of the Helm chart in " + p("chart") + ", such as its values)",
		p("docker-compose.yml") + ":1: document 1 not read: not a Kubernetes object: apiVersion and kind are missing (a Compose file)",
		"2 objects scanned: 1 denied, 0 with warnings, 0 skipped (no pod template), 6 not read\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// JSON: the same, with what was not read in notRead, known files told apart.
	code, out, _ = runCLI(t, "", "scan", "-o", "json", dir)
	var rep struct {
		Results []struct{ Name string }
		Summary struct{ Objects, NotRead int }
		NotRead []struct {
			Source, Reason string
			Known          bool
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitDenied {
		t.Fatalf("-o json: exit %d, %v\n%s", code, err, out)
	}
	if len(rep.Results) != 2 || rep.Summary.NotRead != 6 || len(rep.NotRead) != 6 {
		t.Errorf("-o json: %d results, %d and %d not read; want 2, 6, 6:\n%s", len(rep.Results), rep.Summary.NotRead, len(rep.NotRead), out)
	}
	invalid := map[string]bool{}
	for _, u := range rep.NotRead {
		if !u.Known {
			invalid[u.Source] = true
		}
	}
	if len(invalid) != 2 || !invalid[p("broken.yaml")] || !invalid[p("chart/templates/deployment.yaml")] {
		t.Errorf("-o json: not known: %v, want broken.yaml and the template", invalid)
	}

	// SARIF: notifications of the invocation.
	code, out, _ = runCLI(t, "", "scan", "-o", "sarif", dir)
	if code != exitDenied || strings.Count(out, `"toolExecutionNotifications"`) != 1 || !strings.Contains(out, "a Helm template") {
		t.Errorf("-o sarif: exit %d, want 1 with the notes as notifications:\n%s", code, out)
	}

	// --strict: the template and the syntax error fail the scan; nothing on stdout.
	code, out, errOut = runCLI(t, "", "scan", "--strict", dir)
	if code != exitUsage || out != "" {
		t.Errorf("--strict: exit %d, stdout %q; want 2 and nothing", code, out)
	}
	for _, want := range []string{
		"bulwark scan: " + p("broken.yaml") + ": document 1 (line 4): yaml: found character",
		"bulwark scan: " + p("chart/templates/deployment.yaml") + ": a Helm template",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("--strict: stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "\n"); n != 2 {
		t.Errorf("--strict: %d lines on stderr, want 2 (known files do not count):\n%s", n, errOut)
	}
	// --strict over known files only passes.
	if code, out, errOut := runCLI(t, "", "scan", "--strict", p("deploy"), p("docker-compose.yml"), p("chart/Chart.yaml")); code != exitDenied {
		t.Errorf("--strict with known files only: exit %d, want 1\n%s%s", code, out, errOut)
	}

	// Nothing readable: exit 2, the notes on stderr.
	for _, args := range [][]string{
		{p("chart")},
		{p("broken.yaml")},
		{p("docker-compose.yml")}, // named alone: not a manifest, nothing to scan
	} {
		code, out, errOut := runCLI(t, "", append([]string{"scan"}, args...)...)
		if code != exitUsage || out != "" || !strings.HasSuffix(errOut, "bulwark scan: no Kubernetes object read\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, the notes", args, code, out, errOut)
		}
	}
}

// TestScanHelmTemplateOutsideChart: a template found outside a chart is known by its braces
// when it is not YAML; one that is YAML (a ConfigMap holding alert templates) is an object.
func TestScanHelmTemplateOutsideChart(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	// The whole file is a template: its first document is not read either.
	tmpl := writeFile(t, dir, "cm.yaml", service+"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n")
	code, out, errOut := runCLI(t, "", "scan", good, tmpl)
	if code != exitOK || strings.Contains(out, "Service") ||
		!strings.Contains(out, tmpl+`: not read: a Helm template ("{{" on line 12), not a manifest: render it first: helm template RELEASE CHART | bulwark scan -`) {
		t.Errorf("exit %d, want 0 and a note on the template\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: alerts\ndata:\n  summary: \"{{ $labels.instance }} is down\"\n", "scan", "-")
	if code != exitOK || !strings.Contains(out, `ConfigMap "alerts": skipped (no pod template)`) || strings.Contains(out, "not read") {
		t.Errorf("ConfigMap with braces: exit %d\n%s", code, out)
	}
}

func TestScanListItemNotRead(t *testing.T) {
	list := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {name: x}\n- 42\n- " +
		strings.ReplaceAll(strings.TrimSuffix(hostNetworkPod, "\n"), "\n", "\n  ") + "\n"
	code, out, errOut := runCLI(t, list, "scan", "-")
	for _, want := range []string{
		"<stdin>:4: document 1, item 1 not read: not a Kubernetes object: kind is missing",
		"<stdin>:6: document 1, item 2 not read: expected a Kubernetes object (a mapping), found a number",
		`<stdin>:7: Pod "sniffer": denied`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if code != exitDenied {
		t.Errorf("exit %d, want 1", code)
	}
}

func TestScanUnservedKind(t *testing.T) {
	for _, tc := range []struct{ manifest, want string }{
		{
			"apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n",
			"<stdin>:1: document 1 not read: apiVersion v1 has no kind Deployment; did you mean apps/v1?",
		},
		{
			"kind: Deployment\napiVersion: extensions/v1beta1\nmetadata: {name: x}\n",
			"<stdin>:2: document 1 not read: apiVersion extensions/v1beta1 has no kind Deployment; did you mean apps/v1?",
		},
		{
			"apiVersion: apps/v1\nkind: deployment\nmetadata: {name: x}\n",
			"<stdin>:1: document 1 not read: apiVersion apps/v1 has no kind deployment; did you mean Deployment?",
		},
	} {
		code, out, errOut := runCLI(t, tc.manifest+"---\n"+compliantPod, "scan", "-")
		if code != exitOK || !strings.Contains(out, tc.want) {
			t.Errorf("exit %d, want 0 and %q:\n%s%s", code, tc.want, out, errOut)
		}
	}
	// A custom resource of the same kind name is another kind: skipped, as any other.
	code, out, _ := runCLI(t, "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: x}\n", "scan", "-")
	if code != exitOK || !strings.Contains(out, `Deployment "x": skipped (no pod template)`) {
		t.Errorf("custom Deployment: exit %d\n%s", code, out)
	}
}

func TestScanUnknownFields(t *testing.T) {
	pod := strings.Replace(compliantPod, "runAsNonRoot: true", "runAsNonroot: true", 1)
	pod = strings.Replace(pod, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n        privilegd: true", 1)
	code, out, errOut := runCLI(t, pod, "scan", "-")
	for _, want := range []string{
		`<stdin>:8: note: unknown field "spec.securityContext.runAsNonroot": kubectl apply rejects it, and without validation the apiserver drops it`,
		`<stdin>:18: note: unknown field "spec.containers[0].securityContext.privilegd"`,
		// runAsNonRoot is not set as far as the apiserver knows.
		"warn [run-as-non-root]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
	code, out, _ = runCLI(t, pod, "scan", "-o", "json", "-")
	if code != exitOK || !strings.Contains(out, `"unknown field \"spec.securityContext.runAsNonroot\": kubectl apply rejects it`) {
		t.Errorf("-o json: exit %d, no note on the unknown field:\n%s", code, out)
	}
	if _, out, _ := runCLI(t, compliantPod, "scan", "-"); strings.Contains(out, "unknown field") {
		t.Errorf("compliant pod: unknown field noted:\n%s", out)
	}
}

func TestScanSkipCheck(t *testing.T) {
	code, out, errOut := runCLI(t, hostNetworkPod, "scan", "--skip-check", "host-network", "-")
	if code != exitOK || strings.Contains(out, "host-network") || !strings.Contains(out, `Pod "sniffer": ok`) {
		t.Errorf("--skip-check host-network: exit %d, want 0 without host-network\n%s%s", code, out, errOut)
	}
	// Repeatable; the others still count.
	code, out, _ = runCLI(t, minimalDeployment, "scan", "--profile", "restricted", "--skip-check", "run-as-non-root", "--skip-check=seccomp-required", "-")
	if code != exitDenied || strings.Contains(out, "run-as-non-root") || strings.Contains(out, "seccomp-required") || !strings.Contains(out, "[privilege-escalation]") {
		t.Errorf("two --skip-check: exit %d, want 1 with the other checks\n%s", code, out)
	}
	code, out, errOut = runCLI(t, hostNetworkPod, "scan", "--skip-check", "host-network", "--skip-check", "hostnetwork", "-")
	if code != exitUsage || out != "" || !strings.Contains(errOut, `bulwark scan: --skip-check: no check has the ID "hostnetwork"`) {
		t.Errorf("unknown ID: exit %d, stdout %q, stderr %q; want 2 naming the ID", code, out, errOut)
	}
}

func TestScanFailuresOnly(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	bad := writeFile(t, dir, "bad.yaml", hostNetworkPod)
	warned := writeFile(t, dir, "warned.yaml", minimalDeployment)
	svc := writeFile(t, dir, "svc.yaml", service)
	code, out, errOut := runCLI(t, "", "scan", "--failures-only", good, bad, warned, svc)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{bad + `:1: Pod "sniffer": denied`, warned + `:1: Deployment "web": admitted with warnings`,
		"4 objects scanned: 1 denied, 1 with warnings, 1 skipped (no pod template)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, absent := range []string{good, svc} {
		if strings.Contains(out, absent) {
			t.Errorf("report lists %s, neither denied nor warned:\n%s", absent, out)
		}
	}
	code, out, _ = runCLI(t, "", "scan", "--failures-only", "-o", "json", good, bad)
	var rep jsonReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitDenied || len(rep.Results) != 1 || rep.Results[0].Name != "sniffer" {
		t.Errorf("-o json: exit %d, %v, want only the denied pod:\n%s", code, err, out)
	}
	if code, out, _ := runCLI(t, "", "scan", "--failures-only", good); code != exitOK || out != "1 object scanned: 0 denied, 0 with warnings, 0 skipped (no pod template)\n" {
		t.Errorf("nothing to list: exit %d, want the summary alone:\n%s", code, out)
	}
}
