package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// runCLI runs the command line with args and stdin and returns the exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeFile writes content to dir/name, creating the directories on the way.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// compliantPod passes every check of every profile.
const compliantPod = `apiVersion: v1
kind: Pod
metadata:
  name: good
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: app
      image: registry.example.com/app:1.2.3@sha256:0d3f2b8c1a5e7f9d4b6c8a0e2f4d6b8a1c3e5f7d9b0a2c4e6f8d1b3a5c7e9f0b
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
      resources:
        requests: {cpu: 100m, memory: 64Mi}
        limits: {cpu: 200m, memory: 128Mi}
`

// hostNetworkPod is compliantPod with hostNetwork: its only violation is host-network, on line 6.
var hostNetworkPod = strings.Replace(strings.Replace(compliantPod, "name: good", "name: sniffer", 1),
	"spec:\n", "spec:\n  hostNetwork: true\n", 1)

// minimalDeployment sets no securityContext and no resources: admitted with warnings.
const minimalDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
    - port: 80
`

func TestScanExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	bad := writeFile(t, dir, "bad.yaml", hostNetworkPod)
	warned := writeFile(t, dir, "warned.yaml", minimalDeployment)

	code, out, errOut := runCLI(t, "", "scan", good)
	if code != exitOK {
		t.Errorf("compliant pod: exit %d, want 0\n%s%s", code, out, errOut)
	}
	if want := good + `:1: Pod "good": ok`; !strings.Contains(out, want) {
		t.Errorf("compliant pod: output lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "1 object scanned: 0 denied, 0 with warnings, 0 skipped") {
		t.Errorf("compliant pod: no summary:\n%s", out)
	}

	code, out, _ = runCLI(t, "", "scan", warned)
	if code != exitOK || !strings.Contains(out, `Deployment "web": admitted with warnings`) {
		t.Errorf("minimal deployment: exit %d, want 0 with warnings:\n%s", code, out)
	}

	code, out, _ = runCLI(t, "", "scan", bad)
	if code != exitDenied {
		t.Errorf("hostNetwork pod: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		bad + `:1: Pod "sniffer": denied`,
		bad + `:6: enforce [host-network] spec.hostNetwork: `,
		"fix: remove hostNetwork or set it to false",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hostNetwork pod: output lacks %q:\n%s", want, out)
		}
	}

	// One denied object makes the whole scan fail.
	if code, _, _ := runCLI(t, "", "scan", good, bad); code != exitDenied {
		t.Errorf("good and bad: exit %d, want 1", code)
	}
	// The restricted profile denies what nsa only warns about.
	if code, _, _ := runCLI(t, "", "scan", "--profile", "restricted", warned); code != exitDenied {
		t.Errorf("minimal deployment with --profile restricted: exit %d, want 1", code)
	}
	if code, _, _ := runCLI(t, "", "scan", "--profile", "restricted", good); code != exitOK {
		t.Errorf("compliant pod with --profile restricted: exit %d, want 0", code)
	}
}

func TestScanUsageErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	pol := writeFile(t, dir, "policy.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\n")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no PATH", []string{"scan"}, []string{"no PATH given"}},
		{"no PATH after flags", []string{"scan", "--profile", "baseline"}, []string{"no PATH given"}},
		{"unknown output", []string{"scan", "-o", "xml", good}, []string{"-o", "text, json or sarif", `"xml"`}},
		{"profile and policy", []string{"scan", "--profile", "nsa", "--policy", pol, good}, []string{"mutually exclusive"}},
		{"unknown profile", []string{"scan", "--profile", "strict", good}, []string{`unknown profile "strict"`, "nsa, baseline, restricted"}},
		{"unknown flag", []string{"scan", "--verbose", good}, []string{"flag provided but not defined: -verbose", "Usage: bulwark scan"}},
		{"missing policy file", []string{"scan", "--policy", filepath.Join(dir, "nope.yaml"), good}, []string{"nope.yaml"}},
		{"strict with cluster", []string{"scan", "--cluster", "--strict"}, []string{"--strict is for files"}},
		{"stdin name without -", []string{"scan", "--stdin-name", "a.yaml", good}, []string{"--stdin-name names what is read from -: give - as a PATH"}},
		{"stdin name with cluster", []string{"scan", "--cluster", "--stdin-name", "a.yaml"}, []string{"--stdin-name names what is read from -"}},
		{"empty stdin name", []string{"scan", "--stdin-name", "", "-"}, []string{"--stdin-name: empty name"}},
		{"unknown check to skip", []string{"scan", "--skip-check", "privileged", "--skip-check", "priviliged", good}, []string{`--skip-check: no check has the ID "priviliged"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout not empty:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestScanBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	for _, tc := range []struct {
		name    string
		file    string // written to dir/bad.yaml unless empty
		missing bool   // scan a file that does not exist
		want    []string
		note    string // in the report without --strict
		hard    bool   // a usage error with or without --strict
	}{
		{name: "missing file", missing: true, want: []string{"bulwark scan: ", "missing.yaml: no such file or directory"}, hard: true},
		{
			name: "invalid YAML",
			file: service + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n\tcontainers: []\n",
			want: []string{"bad.yaml: document 2 (line 14): yaml: found character that cannot start any token"},
			note: "bad.yaml:14: document 2 not read: yaml: found character that cannot start any token; the rest of the file is not read",
		},
		{
			name: "no kind",
			file: service + "---\napiVersion: v1\nmetadata:\n  name: p\n",
			want: []string{"bad.yaml: document 2 (line 9): not a Kubernetes object: kind is missing"},
			note: "bad.yaml:9: document 2 not read: not a Kubernetes object: kind is missing",
		},
		{
			name: "wrong type",
			file: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  hostNetwork: \"yes\"\n  containers: []\n",
			want: []string{"bad.yaml: document 1 (line 6): ", "decoding Pod: spec.hostNetwork: got a string, want true or false"},
			note: "bad.yaml:6: document 1 not read: decoding Pod: spec.hostNetwork: got a string, want true or false",
		},
		{
			name: "duplicate key",
			file: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  name: q\nspec: {}\n",
			want: []string{"bad.yaml: document 1 (line 5): ", `"name" already defined at line 4`},
			note: "bad.yaml:5: document 1 not read: mapping key \"name\" already defined at line 4",
		},
		{
			name: "not an object",
			file: "- a\n- b\n",
			want: []string{"bad.yaml: document 1 (line 1): expected a Kubernetes object"},
			note: "bad.yaml:1: document 1 not read: expected a Kubernetes object (a mapping), found a list",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "missing.yaml")
			if !tc.missing {
				p = writeFile(t, dir, "bad.yaml", tc.file)
			}
			for _, output := range []string{"text", "json", "sarif"} {
				// The good file comes first: its result must not be printed either.
				code, out, errOut := runCLI(t, "", "scan", "--strict", "-o", output, good, p)
				if code != exitUsage {
					t.Errorf("-o %s: exit %d, want 2", output, code)
				}
				if out != "" {
					t.Errorf("-o %s: stdout not empty (partial report):\n%s", output, out)
				}
				if !strings.HasPrefix(errOut, "bulwark scan: ") {
					t.Errorf("-o %s: stderr does not start with the command name:\n%s", output, errOut)
				}
				for _, w := range tc.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("-o %s: stderr lacks %q:\n%s", output, w, errOut)
					}
				}
			}
			// Without --strict, the good file is reported, and the bad one noted in the report.
			code, out, errOut := runCLI(t, "", "scan", good, p)
			if tc.hard {
				if code != exitUsage || out != "" {
					t.Errorf("without --strict: exit %d, stdout %q; want 2 and nothing", code, out)
				}
				return
			}
			if code != exitOK {
				t.Errorf("without --strict: exit %d, want 0\n%s%s", code, out, errOut)
			}
			if !strings.Contains(out, tc.note) {
				t.Errorf("without --strict: report lacks %q:\n%s", tc.note, out)
			}
			if !strings.Contains(out, `Pod "good": ok`) || !strings.Contains(out, "1 not read") {
				t.Errorf("without --strict: the good file or the count of what was not read is missing:\n%s", out)
			}
		})
	}
}

func TestScanStdin(t *testing.T) {
	code, out, errOut := runCLI(t, hostNetworkPod, "scan", "-")
	if code != exitDenied {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, `<stdin>:1: Pod "sniffer": denied`) || !strings.Contains(out, "<stdin>:6: enforce [host-network]") {
		t.Errorf("output does not name <stdin>:\n%s", out)
	}
	code, out, _ = runCLI(t, compliantPod, "scan", "-")
	if code != exitOK || !strings.Contains(out, `<stdin>:1: Pod "good": ok`) {
		t.Errorf("compliant pod on stdin: exit %d\n%s", code, out)
	}
	// Stdin and files together.
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	code, out, _ = runCLI(t, service, "scan", good, "-")
	if code != exitOK || !strings.Contains(out, `<stdin>:1: Service "web": skipped (no pod template)`) ||
		!strings.Contains(out, "2 objects scanned: 0 denied, 0 with warnings, 1 skipped") {
		t.Errorf("file and stdin: exit %d\n%s", code, out)
	}
}

// TestScanStdinName: --stdin-name names what is read from - in every format, and nothing
// is named <stdin> any more; files keep their names.
func TestScanStdinName(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	in := hostNetworkPod + "---\nkind: Pod\n"
	const name = "deploy/prod/rendered.yaml"
	want := map[string][]string{
		"text": {
			name + `:1: Pod "sniffer": denied`,
			name + ":6: enforce [host-network]",
			name + ":25: document 2 not read",
			good + `:1: Pod "good": ok`,
		},
		"json":  {`"source": "` + name + `"`, `"source": "` + good + `"`},
		"sarif": {`"uri": "` + name + `"`, `"startLine": 6`},
	}
	for _, format := range []string{"text", "json", "sarif"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runCLI(t, in, "scan", "-o", format, "--stdin-name", name, "-", good)
			if code != exitDenied {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			for _, w := range want[format] {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "stdin") || strings.Contains(out, "%3C") {
				t.Errorf("output still names stdin:\n%s", out)
			}
		})
	}
	// An input error names it too.
	code, _, errOut := runCLI(t, "a: [\n", "scan", "--stdin-name", name, "-")
	if code != exitUsage || !strings.Contains(errOut, "bulwark scan: "+name+":") || strings.Contains(errOut, "stdin") {
		t.Errorf("YAML error on stdin: exit %d\n%s", code, errOut)
	}
}

func TestScanDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a/good.yaml", compliantPod)
	writeFile(t, dir, "a/b/c/bad.yml", hostNetworkPod)
	writeFile(t, dir, "svc.json", `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}}`)
	writeFile(t, dir, "README.md", "not: [a manifest")             // not a manifest name: skipped
	writeFile(t, dir, ".github/workflows/ci.yaml", "on: [push]\n") // hidden: skipped
	writeFile(t, dir, "a/.hidden.yaml", "{{ template }}\n")        // hidden: skipped

	code, out, errOut := runCLI(t, "", "scan", dir)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	// Name order, recursively.
	wantOrder := []string{
		filepath.Join(dir, "a/b/c/bad.yml") + `:1: Pod "sniffer": denied`,
		filepath.Join(dir, "a/good.yaml") + `:1: Pod "good": ok`,
		filepath.Join(dir, "svc.json") + `:1: Service "j": skipped (no pod template)`,
		"3 objects scanned: 1 denied, 0 with warnings, 1 skipped",
	}
	last := -1
	for _, w := range wantOrder {
		i := strings.Index(out, w)
		if i < 0 {
			t.Errorf("output lacks %q:\n%s", w, out)
			continue
		}
		if i < last {
			t.Errorf("%q out of order:\n%s", w, out)
		}
		last = i
	}
}

const podList = `apiVersion: v1
kind: List
metadata: {}
items:
  - apiVersion: v1
    kind: Pod
    metadata:
      name: first
    spec:
      hostPID: true
      containers:
        - name: c
          image: busybox:1.36
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: third
      namespace: prod
    spec:
      selector: {matchLabels: {app: x}}
      template:
        metadata: {labels: {app: x}}
        spec:
          containers:
            - name: c
              image: busybox:1.36
`

func TestScanList(t *testing.T) {
	code, out, errOut := runCLI(t, podList, "scan", "-")
	if code != exitDenied {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		`<stdin>:5: Pod "first": denied`,
		`<stdin>:10: enforce [host-pid] spec.hostPID:`,
		`<stdin>:14: ConfigMap "settings": skipped (no pod template)`,
		`<stdin>:18: Deployment "prod/third": admitted with warnings`,
		"3 objects scanned: 1 denied, 1 with warnings, 1 skipped",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}

	code, out, _ = runCLI(t, podList, "scan", "-o", "json", "-")
	if code != exitDenied {
		t.Fatalf("-o json: exit %d, want 1", code)
	}
	var rep jsonReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("-o json: %d results, want 3", len(rep.Results))
	}
	for i, r := range rep.Results {
		if r.Document != 1 || r.Item != i+1 {
			t.Errorf("result %d: document %d item %d, want document 1 item %d", i, r.Document, r.Item, i+1)
		}
	}
}

// fieldRE matches the violation lines of the text report.
var fieldRE = regexp.MustCompile(`(?m)^  (\S+):(\d+): (enforce|warn|audit) \[([a-z-]+)\] (\S+): (.+)\n      fix: (.+)$`)

func TestScanTextOutput(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "all.yaml", hostNetworkPod+"---\n"+minimalDeployment+"---\n"+service)
	code, out, _ := runCLI(t, "", "scan", p)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, w := range []string{
		p + `:1: Pod "sniffer": denied`,
		p + `:25: Deployment "web": admitted with warnings`,
		p + `:40: Service "web": skipped (no pod template)`,
		"3 objects scanned: 1 denied, 1 with warnings, 1 skipped (no pod template)\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// Every violation line has a location, an action, a check ID, a field, a message and a fix.
	matches := fieldRE.FindAllStringSubmatch(out, -1)
	violationLines := strings.Count(out, "\n  "+p+":")
	if len(matches) == 0 || len(matches) != violationLines {
		t.Fatalf("%d well-formed violations for %d violation lines:\n%s", len(matches), violationLines, out)
	}
	ids := map[string]string{}
	for _, m := range matches {
		ids[m[4]] = m[5]
	}
	for id, field := range map[string]string{
		"host-network":         "spec.hostNetwork",
		"privilege-escalation": "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation",
		"seccomp-required":     "spec.template.spec.securityContext.seccompProfile.type",
		"resource-limits":      "spec.template.spec.containers[0].resources.limits.memory",
	} {
		if ids[id] != field {
			t.Errorf("check %s: field %q, want %q", id, ids[id], field)
		}
	}
}

// jsonReport is the shape of scan -o json.
type jsonReport struct {
	FormatVersion int `json:"formatVersion"`
	Results       []struct {
		Source     string `json:"source"`
		Document   int    `json:"document"`
		Item       int    `json:"item"`
		Line       int    `json:"line"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		Decision   string `json:"decision"`
		Violations []struct {
			Check  string `json:"check"`
			Field  string `json:"field"`
			Fix    string `json:"fix"`
			Action string `json:"action"`
			Line   int    `json:"line"`
		} `json:"violations"`
	} `json:"results"`
	Summary struct {
		Objects, Denied, Warned, Admitted, OK, Skipped int
	} `json:"summary"`
}

func TestScanJSON(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "all.yaml", hostNetworkPod+"---\n"+compliantPod+"---\n"+service)
	code, out, _ := runCLI(t, "", "scan", "-o", "json", p)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1", code)
	}
	var rep jsonReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("%d results, want 3\n%s", len(rep.Results), out)
	}
	want := []struct{ name, decision string }{{"sniffer", "denied"}, {"good", "ok"}, {"web", "skipped"}}
	for i, w := range want {
		r := rep.Results[i]
		if r.Name != w.name || r.Decision != w.decision || r.Source != p || r.Document != i+1 {
			t.Errorf("result %d: %s %q %s document %d, want %q %s document %d", i, r.Kind, r.Name, r.Decision, r.Document, w.name, w.decision, i+1)
		}
	}
	v := rep.Results[0].Violations
	if len(v) != 1 || v[0].Check != "host-network" || v[0].Field != "spec.hostNetwork" || v[0].Action != "enforce" || v[0].Line != 6 || v[0].Fix == "" {
		t.Errorf("violations of the hostNetwork pod: %+v", v)
	}
	if s := rep.Summary; rep.FormatVersion != 1 || s.Objects != 3 || s.Denied != 1 || s.OK != 1 || s.Admitted != 0 || s.Skipped != 1 || s.Warned != 0 {
		t.Errorf("format version %d, summary: %+v", rep.FormatVersion, s)
	}
	if !strings.Contains(out, `"violations": []`) {
		t.Errorf("an object without violations should have an empty list, not null:\n%s", out)
	}
}

func TestScanSARIF(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "all.yaml", hostNetworkPod+"---\n"+minimalDeployment)
	_, jsonOut, _ := runCLI(t, "", "scan", "-o", "json", p)
	var rep jsonReport
	if err := json.Unmarshal([]byte(jsonOut), &rep); err != nil {
		t.Fatal(err)
	}
	var wantIDs []string
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			wantIDs = append(wantIDs, v.Check)
		}
	}

	code, out, _ := runCLI(t, "", "scan", "-o", "sarif", p)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1", code)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name    string `json:"name"`
					Version string `json:"version"`
					Rules   []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if log.Version != "2.1.0" {
		t.Errorf("version %q, want 2.1.0", log.Version)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "bulwark" || run.Tool.Driver.Version != version {
		t.Errorf("driver %q %q", run.Tool.Driver.Name, run.Tool.Driver.Version)
	}
	var gotIDs []string
	for _, r := range run.Results {
		if r.RuleID == "" {
			t.Errorf("result without ruleId: %+v", r)
		}
		if r.RuleIndex == nil || *r.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[*r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s: ruleIndex does not point at its rule", r.RuleID)
		}
		if len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.Region.StartLine < 1 ||
			!strings.HasSuffix(r.Locations[0].PhysicalLocation.ArtifactLocation.URI, "all.yaml") {
			t.Errorf("result %s: bad location %+v", r.RuleID, r.Locations)
		}
		if r.RuleID == "host-network" && (r.Level != "error" || r.Locations[0].PhysicalLocation.Region.StartLine != 6) {
			t.Errorf("host-network: level %s line %d, want error on line 6", r.Level, r.Locations[0].PhysicalLocation.Region.StartLine)
		}
		gotIDs = append(gotIDs, r.RuleID)
	}
	sort.Strings(wantIDs)
	sort.Strings(gotIDs)
	if strings.Join(gotIDs, " ") != strings.Join(wantIDs, " ") || len(gotIDs) < 2 {
		t.Errorf("SARIF rule IDs %v, want one per violation %v", gotIDs, wantIDs)
	}
}

func TestScanFlagsAfterPath(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "pod.yaml", hostNetworkPod)
	code, out, errOut := runCLI(t, "", "scan", p, "-o", "json")
	if code != exitDenied || !json.Valid([]byte(out)) {
		t.Errorf("flag after PATH: exit %d, output not JSON:\n%s%s", code, out, errOut)
	}
	code, _, _ = runCLI(t, "", "scan", p, "--profile", "baseline", "-")
	if code != exitDenied {
		t.Errorf("flag between PATHs: exit %d, want 1", code)
	}
	// After -- everything is a PATH.
	code, _, errOut = runCLI(t, "", "scan", "--", p, "-o")
	if code != exitUsage || !strings.Contains(errOut, "-o: no such file or directory") {
		t.Errorf("after --: exit %d\n%s", code, errOut)
	}
}

func TestScanPolicyFile(t *testing.T) {
	dir := t.TempDir()
	pod := writeFile(t, dir, "pod.yaml", hostNetworkPod)
	pol := writeFile(t, dir, "policy.yaml", `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
checks:
  host-network:
    action: "off"
`)
	code, out, errOut := runCLI(t, "", "scan", "--policy", pol, pod)
	if code != exitOK || !strings.Contains(out, `Pod "sniffer": ok`) {
		t.Errorf("host-network off: exit %d, want 0 and ok\n%s%s", code, out, errOut)
	}
	// The same policy in a ConfigMap.
	cm := writeFile(t, dir, "cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: bulwark-policy
data:
  policy.yaml: |
    apiVersion: bulwark.dev/v1alpha1
    kind: Policy
    checks:
      host-network:
        action: warn
`)
	code, out, _ = runCLI(t, "", "scan", "--policy", cm, pod)
	if code != exitOK || !strings.Contains(out, "warn [host-network]") {
		t.Errorf("host-network warn from a ConfigMap: exit %d\n%s", code, out)
	}

	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "checks:\n  host-network:\n    actoin: \"off\"\n", "checks.host-network.actoin"},
		{"unknown check", "checks:\n  host-netwrok:\n    action: \"off\"\n", "checks.host-netwrok: unknown check ID"},
		{"unknown action", "checks:\n  host-network:\n    action: ignore\n", `checks.host-network.action: unknown action "ignore"`},
		{"unknown default", "mutation:\n  defaults:\n    secomp: true\n", "mutation.defaults.secomp: unknown default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, dir, "bad-policy.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\n"+tc.doc)
			for _, cmd := range []string{"scan", "mutate"} {
				code, out, errOut := runCLI(t, "", cmd, "--policy", bad, pod)
				if code != exitUsage || out != "" {
					t.Errorf("%s: exit %d, want 2 and no output\n%s", cmd, code, out)
				}
				if !strings.Contains(errOut, "bulwark "+cmd+": policy: ") || !strings.Contains(errOut, "bad-policy.yaml") || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: stderr does not name the file and %q:\n%s", cmd, tc.want, errOut)
				}
			}
		})
	}
}

// TestSamples keeps config/samples/workloads honest: each file gets the decision its name
// and header promise.
func TestSamples(t *testing.T) {
	const dir = "../../config/samples/workloads"
	for _, tc := range []struct {
		file    string
		code    int
		denyIDs []string // the enforced checks
	}{
		{"denied-hostnetwork-pod.yaml", exitDenied, []string{"host-network"}},
		{"denied-privileged-deployment.yaml", exitDenied, []string{"privileged"}},
		{"denied-cryptominer-daemonset.yaml", exitDenied, []string{"host-path", "host-pid", "privileged"}},
		{"admitted-minimal-deployment.yaml", exitOK, nil},
		{"admitted-hardened-deployment.yaml", exitOK, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			code, out, errOut := runCLI(t, "", "scan", "-o", "json", p)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			var rep jsonReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 1 {
				t.Fatalf("want one result: %v\n%s", err, out)
			}
			var enforced []string
			for _, v := range rep.Results[0].Violations {
				if v.Action == "enforce" {
					enforced = append(enforced, v.Check)
				}
			}
			if strings.Join(enforced, ",") != strings.Join(tc.denyIDs, ",") {
				t.Errorf("enforced checks %v, want %v", enforced, tc.denyIDs)
			}

			// What the webhook sees after mutation.
			code, mutated, errOut := runCLI(t, "", "mutate", p)
			if code != exitOK {
				t.Fatalf("mutate: exit %d\n%s", code, errOut)
			}
			code, out, _ = runCLI(t, mutated, "scan", "-")
			if code != tc.code {
				t.Errorf("mutate | scan: exit %d, want %d\n%s", code, tc.code, out)
			}
		})
	}

	hardened := filepath.Join(dir, "admitted-hardened-deployment.yaml")
	for _, profile := range []string{"baseline", "restricted"} {
		code, out, _ := runCLI(t, "", "scan", "--profile", profile, hardened)
		if code != exitOK || !strings.Contains(out, `Deployment "hello-hardened": ok`) {
			t.Errorf("hardened, --profile %s: exit %d, want 0 and ok\n%s", profile, code, out)
		}
	}
	// Under nsa its one finding is the image's tag, which is not pinned by digest: the
	// samples' images are stood in for by local images under the same tags.
	code, out, _ := runCLI(t, "", "scan", "-o", "json", hardened)
	var rep jsonReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || len(rep.Results) != 1 {
		t.Fatalf("hardened, --profile nsa: exit %d, %v\n%s", code, err, out)
	}
	var found []string
	for _, v := range rep.Results[0].Violations {
		found = append(found, v.Action+" "+v.Check)
	}
	if want := []string{"warn image-digest"}; !slices.Equal(found, want) {
		t.Errorf("hardened, --profile nsa: %q, want %q", found, want)
	}
	code, out, errOut := runCLI(t, "", "mutate", hardened)
	orig, _ := os.ReadFile(hardened)
	if code != exitOK || out != string(orig) || errOut != "" {
		t.Errorf("mutate changed the hardened deployment: exit %d\n%s\nstderr: %s", code, out, errOut)
	}
}

// decodeYAMLDocs decodes every document of a YAML stream.
func decodeYAMLDocs(t *testing.T, s string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(s))
	var docs []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("output is not YAML: %v\n%s", err, s)
		}
		docs = append(docs, m)
	}
}

// get walks a decoded YAML value: string keys for mappings, ints for sequences.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %v", path, path[:i])
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("%v: no item %d at %v", path, k, path[:i])
			}
			v = s[k]
		}
	}
	return v
}

const mutateInput = `# Deployment of the web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the name users see
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      x-vendor-extension: keep-me
      securityContext:
        runAsNonRoot: false # explicit: never changed
      containers:
        - name: web
          image: nginx:1.27
          securityContext:
            allowPrivilegeEscalation: true # explicit: never changed
          resources:
            limits:
              cpu: "1"
        - name: sidecar
          image: busybox:1.36
---
# The Service is not mutated.
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{port: 80, targetPort: 8080}] # flow style kept
`

func TestMutate(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "web.yaml", mutateInput)
	code, out, errOut := runCLI(t, "", "mutate", p)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	docs := decodeYAMLDocs(t, out)
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2:\n%s", len(docs), out)
	}
	if strings.Count(out, "\n---\n") != 1 {
		t.Errorf("documents not separated by one ---:\n%s", out)
	}
	d := docs[0]
	pod := []any{"spec", "template", "spec"}
	at := func(path ...any) any { t.Helper(); return get(t, d, append(append([]any{}, pod...), path...)...) }
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"securityContext", "seccompProfile", "type"}, "RuntimeDefault"},
		{[]any{"securityContext", "runAsNonRoot"}, false},                             // explicit, kept
		{[]any{"x-vendor-extension"}, "keep-me"},                                      // unknown field, kept
		{[]any{"containers", 0, "securityContext", "allowPrivilegeEscalation"}, true}, // explicit, kept
		{[]any{"containers", 0, "securityContext", "capabilities", "drop", 0}, "ALL"},
		{[]any{"containers", 0, "resources", "limits", "cpu"}, "1"}, // explicit, kept
		{[]any{"containers", 0, "resources", "limits", "memory"}, "512Mi"},
		{[]any{"containers", 0, "resources", "requests", "cpu"}, "100m"},
		{[]any{"containers", 0, "resources", "requests", "memory"}, "128Mi"},
		{[]any{"containers", 1, "securityContext", "allowPrivilegeEscalation"}, false},
		{[]any{"containers", 1, "securityContext", "capabilities", "drop", 0}, "ALL"},
		{[]any{"containers", 1, "resources", "limits", "cpu"}, "500m"},
		{[]any{"containers", 1, "securityContext", "readOnlyRootFilesystem"}, nil}, // default off in nsa
		{[]any{"automountServiceAccountToken"}, nil},                               // default off in nsa
	} {
		if got := at(c.path...); got != c.want {
			t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
		}
	}
	for _, comment := range []string{
		"# Deployment of the web front end.",
		"name: web # the name users see",
		"runAsNonRoot: false # explicit: never changed",
		"allowPrivilegeEscalation: true # explicit: never changed",
		"# The Service is not mutated.",
		"ports: [{port: 80, targetPort: 8080}] # flow style kept",
	} {
		if !strings.Contains(out, comment) {
			t.Errorf("output lacks %q:\n%s", comment, out)
		}
	}
	// The Service is printed as it was written.
	if svc := mutateInput[strings.Index(mutateInput, "---\n")+4:]; !strings.HasSuffix(out, "---\n"+svc) {
		t.Errorf("Service changed:\n%s", out)
	}

	// stderr lists the defaults set, with the document.
	for _, w := range []string{
		p + ": document 1 (line 2): set 11 defaults\n",
		"  spec.template.spec.securityContext.seccompProfile.type=RuntimeDefault (seccomp)\n",
		"  spec.template.spec.containers[0].resources.limits.memory=512Mi (resources)\n",
		"  spec.template.spec.containers[1].securityContext.allowPrivilegeEscalation=false (privilege-escalation)\n",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if strings.Contains(errOut, "runAsNonRoot") || strings.Contains(errOut, "containers[0].securityContext.allowPrivilegeEscalation") ||
		strings.Contains(errOut, "containers[0].resources.limits.cpu") {
		t.Errorf("stderr lists a default for an explicit value:\n%s", errOut)
	}

	// Mutating the output again changes nothing and reports nothing.
	code, again, errAgain := runCLI(t, out, "mutate", "-")
	if code != exitOK || again != out || errAgain != "" {
		t.Errorf("second mutate not a no-op: exit %d\nstderr: %s\n%s", code, errAgain, again)
	}
}

func TestMutateList(t *testing.T) {
	code, out, errOut := runCLI(t, podList, "mutate", "-")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	docs := decodeYAMLDocs(t, out)
	if len(docs) != 1 || docs[0]["kind"] != "List" {
		t.Fatalf("want one List document:\n%s", out)
	}
	items, _ := docs[0]["items"].([]any)
	if len(items) != 3 {
		t.Fatalf("%d items, want 3:\n%s", len(items), out)
	}
	if got := get(t, items[0], "spec", "securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
		t.Errorf("Pod item not mutated: %v", got)
	}
	if got := get(t, items[0], "spec", "hostPID"); got != true {
		t.Errorf("Pod item lost hostPID: %v", got)
	}
	if got := get(t, items[2], "spec", "template", "spec", "containers", 0, "securityContext", "allowPrivilegeEscalation"); got != false {
		t.Errorf("Deployment item not mutated: %v", got)
	}
	if len(items[1].(map[string]any)) != 3 {
		t.Errorf("ConfigMap item changed: %v", items[1])
	}
	for _, w := range []string{"<stdin>: document 1, item 1 (line 5): set 8 defaults", "<stdin>: document 1, item 3 (line 18): set 8 defaults"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if strings.Contains(errOut, "item 2") {
		t.Errorf("stderr lists defaults for the ConfigMap:\n%s", errOut)
	}
	// Mutating the List again changes nothing.
	if code, again, _ := runCLI(t, out, "mutate", "-"); code != exitOK || again != out {
		t.Errorf("second mutate of the List not a no-op:\n%s", again)
	}
}

func TestMutateMutationOff(t *testing.T) {
	for _, args := range [][]string{
		{"--profile", "baseline"},
		{"--profile", "restricted"},
	} {
		code, out, errOut := runCLI(t, mutateInput, append(append([]string{"mutate"}, args...), "-")...)
		if code != exitOK || out != mutateInput || errOut != "" {
			t.Errorf("mutate %v: exit %d, want the input unchanged\nstderr: %s\n%s", args, code, errOut, out)
		}
	}
	dir := t.TempDir()
	pol := writeFile(t, dir, "policy.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nmutation:\n  enabled: false\n")
	if code, out, _ := runCLI(t, mutateInput, "mutate", "--policy", pol, "-"); code != exitOK || out != mutateInput {
		t.Errorf("mutation disabled by policy: exit %d\n%s", code, out)
	}
	// A policy can turn a default on that nsa leaves off.
	pol = writeFile(t, dir, "policy.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nmutation:\n  defaults:\n    read-only-root-filesystem: true\n    resources: false\n")
	code, out, _ := runCLI(t, minimalDeployment, "mutate", "--policy", pol, "-")
	d := decodeYAMLDocs(t, out)
	if code != exitOK || len(d) != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	c := []any{"spec", "template", "spec", "containers", 0}
	if got := get(t, d[0], append(c, "securityContext", "readOnlyRootFilesystem")...); got != true {
		t.Errorf("readOnlyRootFilesystem = %v, want true", got)
	}
	if got := get(t, d[0], append(c, "resources")...); got != nil {
		t.Errorf("resources = %v, want none", got)
	}
}

func TestMutateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, input string
		want        []string
	}{
		{"invalid YAML", service + "---\nkind: Pod\nspec:\n\tcontainers: []\n", []string{"bulwark mutate: <stdin>: document 2 (line 11): yaml: found character"}},
		{"no kind", "apiVersion: v1\nmetadata: {name: p}\n", []string{"bulwark mutate: <stdin>: document 1 (line 1): not a Kubernetes object: kind is missing"}},
		{"containers not a list", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: x\n", []string{"bulwark mutate: <stdin>: document 1 (line 5): decoding Pod: spec.containers: "}},
		{"wrong type in the second container", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x:1\n      - name: b\n        image: 5\n",
			[]string{"bulwark mutate: <stdin>: document 1 (line 11): decoding Deployment: spec.template.spec.containers.image: got a number, want a string"}},
		{"YAML 1.1 boolean for a string", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    env:\n    - {name: A, value: x}\n    - name: DEBUG\n      value: on\n",
			[]string{"bulwark mutate: <stdin>: document 1 (line 10): decoding Pod: spec.containers.env.value: got true or false, want a string (quote the value: kubectl reads a plain true, yes, on, false, no or off as a boolean)"}},
		{"quoted boolean", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n  hostNetwork: 'yes'\n", []string{"bulwark mutate: <stdin>: document 1 (line 6): decoding Pod: spec.hostNetwork: got a string, want true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A good document first: nothing of it may be printed.
			code, out, errOut := runCLI(t, tc.input, "mutate", writeFile(t, dir, "good.yaml", minimalDeployment), "-")
			if code != exitUsage || out != "" {
				t.Errorf("exit %d, want 2 and no output\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	if code, _, errOut := runCLI(t, "", "mutate"); code != exitUsage || !strings.Contains(errOut, "bulwark mutate: no PATH given") {
		t.Errorf("no PATH: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "mutate", filepath.Join(dir, "nope.yaml")); code != exitUsage || !strings.Contains(errOut, "bulwark mutate: "+filepath.Join(dir, "nope.yaml")+": no such file") {
		t.Errorf("missing file: exit %d\n%s", code, errOut)
	}
}

func TestCommands(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	if code != exitOK || out != "bulwark dev\n" {
		t.Errorf("version: exit %d, %q", code, out)
	}
	code, out, errOut := runCLI(t, "", "frobnicate")
	if code != exitUsage || out != "" || !strings.Contains(errOut, `unknown command "frobnicate"`) || !strings.Contains(errOut, "Usage:") {
		t.Errorf("unknown command: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, "")
	if code != exitUsage || !strings.Contains(errOut, "Usage:") {
		t.Errorf("no command: exit %d\n%s", code, errOut)
	}
	code, out, _ = runCLI(t, "", "help")
	if code != exitOK || !strings.Contains(out, "bulwark scan") || !strings.Contains(out, "bulwark mutate") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	for _, cmd := range []string{"scan", "mutate", "serve"} {
		for _, h := range []string{"-h", "--help"} {
			code, out, errOut := runCLI(t, "", cmd, h)
			if code != exitOK || out != "" || !strings.Contains(errOut, "Usage") {
				t.Errorf("%s %s: exit %d, stdout %q\n%s", cmd, h, code, out, errOut)
			}
		}
	}
	_, _, errOut = runCLI(t, "", "scan", "-h")
	for _, w := range []string{"Usage: bulwark scan", "-o string", "-policy string", "-profile string", "Exit status"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("scan -h lacks %q:\n%s", w, errOut)
		}
	}
}

// TestBuildVersion: the version set at build time wins; without one, a module version the go
// command recorded (go install ...@v0.3.0) is reported, and a build from a checkout stays dev.
func TestBuildVersion(t *testing.T) {
	info := func(v string, ok bool) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Path: "github.com/bulwark-k8s/bulwark", Version: v}}, ok
		}
	}
	for _, c := range []struct {
		set, module string
		recorded    bool
		want        string
	}{
		{"v0.2.0", "v0.3.0", true, "v0.2.0"},
		{"dev", "v0.3.0", true, "v0.3.0"},
		{"dev", "(devel)", true, "dev"},
		{"dev", "", true, "dev"},
		{"dev", "v0.3.0", false, "dev"},
	} {
		if got := buildVersion(c.set, info(c.module, c.recorded)); got != c.want {
			t.Errorf("buildVersion(%q, module %q recorded %v) = %q, want %q", c.set, c.module, c.recorded, got, c.want)
		}
	}
}

// TestVersionHelp: version -h prints its usage, not the version; other arguments are refused.
func TestVersionHelp(t *testing.T) {
	if code, out, _ := runCLI(t, "", "version", "--help"); code != exitOK || !strings.HasPrefix(out, "Usage: bulwark version") {
		t.Errorf("version --help: exit %d, %q", code, out)
	}
	if code, _, errOut := runCLI(t, "", "version", "--short"); code != exitUsage || !strings.Contains(errOut, `unexpected argument "--short"`) {
		t.Errorf("version --short: exit %d, %q", code, errOut)
	}
}

// TestYAML11Booleans: kubectl reads manifests as YAML 1.1, where a plain yes, on or y is
// true; a pod so written is as privileged as with true, and must be judged so.
func TestYAML11Booleans(t *testing.T) {
	for _, yes := range []string{"yes", "Yes", "ON", "on", "y"} {
		pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  hostNetwork: " + yes + "\n  containers: [{name: a, image: x:1}]\n"
		code, out, errOut := runCLI(t, pod, "scan", "-")
		if code != exitDenied || !strings.Contains(out, "<stdin>:5: enforce [host-network] spec.hostNetwork:") {
			t.Errorf("hostNetwork: %s: exit %d, want 1 with host-network on line 5\n%s%s", yes, code, out, errOut)
		}
		code, out, errOut = runCLI(t, pod, "mutate", "-")
		if code != exitOK || !strings.Contains(out, "hostNetwork: "+yes+"\n") {
			t.Errorf("mutate, hostNetwork: %s: exit %d, want 0 with the value kept as written\n%s%s", yes, code, out, errOut)
		}
	}
	// no and off are false: nothing to deny.
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  hostNetwork: no\n  hostPID: Off\n  containers: [{name: a, image: x:1}]\n"
	if code, out, errOut := runCLI(t, pod, "scan", "-"); code != exitOK || strings.Contains(out, "host-network") || strings.Contains(out, "host-pid") {
		t.Errorf("hostNetwork: no: exit %d, want 0 without host-network or host-pid\n%s%s", code, out, errOut)
	}
}
