package scan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// hostNetworkOnly enforces host-network and nothing else, so the golden files do not depend on
// which other checks exist.
func hostNetworkOnly(t *testing.T, action checks.Action) *checks.Settings {
	t.Helper()
	s, err := checks.Compile(map[string]checks.Action{"host-network": action}, checks.Params{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEvaluate(t *testing.T) {
	t.Chdir(testdata)
	docs, err := Read([]string{"read/multi.yaml", "read/list.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := Evaluate(docs, hostNetworkOnly(t, checks.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		object, decision string
		checks           []string
	}
	want := []summary{
		{`Deployment "shop/web"`, DecisionDenied, []string{"host-network"}},
		{`Service "web"`, DecisionSkipped, nil},
		{`Pod "job-*"`, DecisionOK, nil},
		{`ConfigMap "settings"`, DecisionSkipped, nil},
		{`Pod "debug"`, DecisionDenied, []string{"host-network"}},
		{`CronJob "nightly"`, DecisionOK, nil},
	}
	if len(results) != len(want) {
		t.Fatalf("got %d results, want %d", len(results), len(want))
	}
	for i, r := range results {
		var ids []string
		for _, v := range r.Violations {
			ids = append(ids, v.Check)
		}
		got := summary{r.Object(), r.Decision(), ids}
		if got.object != want[i].object || got.decision != want[i].decision || strings.Join(got.checks, ",") != strings.Join(want[i].checks, ",") {
			t.Errorf("result %d: got %+v, want %+v", i, got, want[i])
		}
	}
	if !Denied(results) {
		t.Error("Denied = false, want true")
	}
	if Denied(results[1:4]) {
		t.Error("Denied over results without enforced violations = true")
	}

	warned, err := Evaluate(docs, hostNetworkOnly(t, checks.Warn))
	if err != nil {
		t.Fatal(err)
	}
	if Denied(warned) || warned[0].Decision() != DecisionWarned {
		t.Errorf("with host-network warned: Denied %v, first decision %s", Denied(warned), warned[0].Decision())
	}

	none, err := Evaluate(docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := Summarize(none); s != (Summary{Objects: 6, OK: 4, Skipped: 2}) {
		t.Errorf("without settings: %+v", s)
	}
}

func TestEvaluateErrors(t *testing.T) {
	t.Chdir(testdata)
	tests := []struct {
		name  string
		paths []string
		stdin string
		want  string
	}{
		{
			name:  "field of the wrong type",
			paths: []string{"errors/bad-hostnetwork.yaml"},
			want:  "scan: errors/bad-hostnetwork.yaml: document 1 (line 6): decoding Pod: spec.hostNetwork: got a string, want true or false",
		},
		{
			name:  "field of the wrong type in a container of a template: the line of the field",
			paths: []string{"-"},
			stdin: "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: x\n        - name: b\n          image: [x]\n",
			want:  "scan: <stdin>: document 1 (line 10): decoding Deployment: spec.template.spec.containers.image: got an array, want a string",
		},
		{
			name:  "a number where a list belongs, in a container: the line of the field",
			paths: []string{"-"},
			stdin: "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          ports: 5\n",
			want:  "scan: <stdin>: document 1 (line 8): decoding Deployment: spec.template.spec.containers.ports: got a number, want a list",
		},
		{
			name:  "invalid apiVersion",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: a/b/c\nkind: Pod\n",
			want:  `scan: <stdin>: document 2 (line 4): invalid apiVersion "a/b/c"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read(tt.paths, strings.NewReader(tt.stdin))
			if err != nil {
				t.Fatal(err)
			}
			results, err := Evaluate(docs, hostNetworkOnly(t, checks.Enforce))
			if err == nil {
				t.Fatalf("no error; %d results", len(results))
			}
			if results != nil {
				t.Error("partial results returned with the error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestWritersGolden(t *testing.T) {
	t.Chdir(testdata)
	docs, err := Read([]string{"report/manifests.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := Evaluate(docs, hostNetworkOnly(t, checks.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	// Every format has its golden file: a new format needs one.
	for _, f := range Formats {
		name := "report/manifests." + goldenExt(f.Name)
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.Write(&b, Report{Results: results, Version: "1.2.3"}); err != nil {
				t.Fatal(err)
			}
			sameCompact(t, f, b.String(), Report{Results: results, Version: "1.2.3"})
			if f.Name == "sarif" {
				// The rules list every registered check; the golden file keeps host-network only.
				b = *bytes.NewBuffer(onlyRule(t, b.Bytes(), "host-network"))
			}
			golden(t, name, b.String())
		})
	}
}

// sameCompact checks that f writes want, the report of rep, for rep's results compacted
// (Result.Compact) too, and that compacting leaves the original results whole.
func sameCompact(t *testing.T, f Format, want string, rep Report) {
	t.Helper()
	compact := make([]Result, len(rep.Results))
	for i, r := range rep.Results {
		r.Compact()
		if r.Doc.Node != nil || r.Doc.Root != nil || r.Doc.JSON != nil {
			t.Fatalf("%s: compact, but the document keeps its tree or JSON", r.Doc.Where())
		}
		if rep.Results[i].Doc.Node == nil || rep.Results[i].Doc.JSON == nil {
			t.Fatalf("%s: compacting a copy of the result changed the original", r.Doc.Where())
		}
		compact[i] = r
	}
	rep.Results = compact
	var b bytes.Buffer
	if err := f.Write(&b, rep); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("%s report of compact results differs:\n--- got\n%s\n--- want\n%s", f.Name, b.String(), want)
	}
}

// goldenExt is the extension of a format's golden files: its name, txt for text.
func goldenExt(format string) string {
	if format == "text" {
		return "txt"
	}
	return format
}

// onlyRule drops every rule but id from a SARIF log and renumbers ruleIndex.
func onlyRule(t *testing.T, sarif []byte, id string) []byte {
	t.Helper()
	var log sarifLog
	if err := json.Unmarshal(sarif, &log); err != nil {
		t.Fatal(err)
	}
	for i := range log.Runs {
		run := &log.Runs[i]
		var kept []sarifRule
		for _, r := range run.Tool.Driver.Rules {
			if r.ID == id {
				kept = append(kept, r)
			}
		}
		if len(kept) != 1 {
			t.Fatalf("rule %s listed %d times", id, len(kept))
		}
		run.Tool.Driver.Rules = kept
		for j := range run.Results {
			if run.Results[j].RuleID != id {
				t.Fatalf("result for rule %s", run.Results[j].RuleID)
			}
			zero := 0
			run.Results[j].RuleIndex = &zero
		}
	}
	var b bytes.Buffer
	if err := writeIndented(&b, log); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSARIFRequiredKeys checks, on the generic JSON, what GitHub code scanning requires of an
// upload, and that every ruleIndex points at its rule.
func TestSARIFRequiredKeys(t *testing.T) {
	t.Chdir(testdata)
	docs, err := Read([]string{"report/manifests.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := Evaluate(docs, hostNetworkOnly(t, checks.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteSARIF(&b, results, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if s, _ := log["$schema"].(string); !strings.Contains(s, "sarif") {
		t.Errorf("$schema = %v", log["$schema"])
	}
	if log["version"] != "2.1.0" {
		t.Errorf("version = %v, want 2.1.0", log["version"])
	}
	runs, _ := log["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("runs = %v", log["runs"])
	}
	run := runs[0].(map[string]any)
	driver := get(t, run, "tool", "driver").(map[string]any)
	if driver["name"] != "bulwark" || driver["version"] != "1.2.3" {
		t.Errorf("driver name %v version %v", driver["name"], driver["version"])
	}
	rules := driver["rules"].([]any)
	if len(rules) != len(checks.All()) {
		t.Errorf("%d rules, want one per registered check (%d)", len(rules), len(checks.All()))
	}
	for _, r := range rules {
		if get(t, r, "id") == "" || get(t, r, "shortDescription", "text") == "" {
			t.Errorf("rule without id or shortDescription: %v", r)
		}
	}
	res, _ := run["results"].([]any)
	if len(res) != 2 {
		t.Fatalf("%d results, want 2 (one per violation)", len(res))
	}
	for _, r := range res {
		id := get(t, r, "ruleId").(string)
		if i := int(get(t, r, "ruleIndex").(float64)); get(t, rules[i], "id") != id {
			t.Errorf("ruleIndex %d is not rule %s", i, id)
		}
		if get(t, r, "level") != "error" {
			t.Errorf("level %v, want error", get(t, r, "level"))
		}
		if msg := get(t, r, "message", "text").(string); !strings.Contains(msg, ". Fix: ") {
			t.Errorf("message %q has no fix", msg)
		}
		locs := get(t, r, "locations").([]any)
		if len(locs) != 1 {
			t.Fatalf("locations %v", locs)
		}
		if get(t, locs[0], "physicalLocation", "artifactLocation", "uri") != "report/manifests.yaml" {
			t.Errorf("uri %v", get(t, locs[0], "physicalLocation", "artifactLocation", "uri"))
		}
		if line := get(t, locs[0], "physicalLocation", "region", "startLine").(float64); line < 1 {
			t.Errorf("startLine %v", line)
		}
		ll := get(t, locs[0], "logicalLocations").([]any)
		if len(ll) != 2 {
			t.Fatalf("logicalLocations %v, want the field's and the object's", ll)
		}
		if fqn, _ := get(t, ll[0], "fullyQualifiedName").(string); !strings.HasSuffix(fqn, "hostNetwork") {
			t.Errorf("fullyQualifiedName %q", fqn)
		}
		if get(t, ll[1], "kind") != "object" {
			t.Errorf("second logical location %v is not the object", ll[1])
		}
		// The message names the object the logical location names: `Deployment "shop/web": `
		// for Deployment/shop/web.
		kind, nsName, _ := strings.Cut(get(t, ll[1], "fullyQualifiedName").(string), "/")
		if msg := get(t, r, "message", "text").(string); !strings.HasPrefix(msg, kind+` "`+nsName+`": `) {
			t.Errorf("message %q does not start with the object %s %q", msg, kind, nsName)
		}
	}
}

// get walks nested JSON objects by key.
func get(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object in %v", k, v)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("key %s missing in %v", k, m)
		}
	}
	return v
}

// TestWritersActions covers warn and audit, which the golden fixture (enforce only) does not:
// the text decisions and the SARIF levels.
func TestWritersActions(t *testing.T) {
	d := &Document{Source: "dir/app.yaml", Index: 1, Line: 3, APIVersion: "v1", Kind: "Pod"}
	v := func(a checks.Action) checks.Violation {
		return checks.Violation{Check: "host-network", Field: "spec.hostNetwork", Message: "m.", Fix: "f", Action: a}
	}
	results := []Result{
		{Doc: d, Name: "w", Violations: []checks.Violation{v(checks.Warn)}},
		{Doc: d, Name: "a", Violations: []checks.Violation{v(checks.Audit)}},
		{Doc: d, Name: "o"},
		{Doc: d, Name: "d", Violations: []checks.Violation{v(checks.Audit), v(checks.Warn), v(checks.Enforce)}},
	}
	var text bytes.Buffer
	if err := WriteText(&text, results); err != nil {
		t.Fatal(err)
	}
	wantText := `dir/app.yaml:3: Pod "w": admitted with warnings
  dir/app.yaml:3: warn [host-network] spec.hostNetwork: m.
      fix: f
dir/app.yaml:3: Pod "a": admitted
  dir/app.yaml:3: audit [host-network] spec.hostNetwork: m.
      fix: f
dir/app.yaml:3: Pod "o": ok
dir/app.yaml:3: Pod "d": denied
  dir/app.yaml:3: audit [host-network] spec.hostNetwork: m.
      fix: f
  dir/app.yaml:3: warn [host-network] spec.hostNetwork: m.
      fix: f
  dir/app.yaml:3: enforce [host-network] spec.hostNetwork: m.
      fix: f
4 objects scanned: 1 denied, 1 with warnings, 0 skipped (no pod template)
`
	if text.String() != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), wantText)
	}
	if !Denied(results) || Denied(results[:3]) {
		t.Error("Denied wrong")
	}

	var sarif bytes.Buffer
	if err := WriteSARIF(&sarif, results, ""); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(sarif.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	var levels []string
	for _, r := range log.Runs[0].Results {
		levels = append(levels, r.Level)
		if !strings.HasPrefix(r.Message.Text, `Pod "`) || !strings.HasSuffix(r.Message.Text, `": m. Fix: f`) {
			t.Errorf("message %q, want `Pod \"NAME\": m. Fix: f`", r.Message.Text)
		}
	}
	if got, want := strings.Join(levels, " "), "warning note note warning error"; got != want {
		t.Errorf("levels %s, want %s", got, want)
	}
	if log.Runs[0].Tool.Driver.Version != "" || strings.Contains(sarif.String(), `"version": ""`) {
		t.Error("empty version should be omitted")
	}

	var empty bytes.Buffer
	if err := WriteJSON(&empty, nil); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"formatVersion\": 1,\n  \"results\": [],\n  \"summary\": {\n    \"objects\": 0,\n    \"denied\": 0,\n    \"warned\": 0,\n    \"admitted\": 0,\n    \"ok\": 0,\n    \"skipped\": 0\n  }\n}\n"; empty.String() != want {
		t.Errorf("empty JSON report:\n%s", empty.String())
	}
}

func TestSARIFURI(t *testing.T) {
	tests := map[string]string{
		"deploy.yaml":           "deploy.yaml",
		"./k8s/deploy.yaml":     "k8s/deploy.yaml",
		"k8s/my app/x.yaml":     "k8s/my%20app/x.yaml",
		"../other/x.yaml":       "../other/x.yaml",
		"/srv/repo/deploy.yaml": "file:///srv/repo/deploy.yaml",
		"<stdin>":               "%3Cstdin%3E",
	}
	for in, want := range tests {
		if got := sarifURI(in); got != want {
			t.Errorf("sarifURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/scan/ -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test ./pkg/scan/ -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestWritersGoldenNotRead pins how each format tells what was not read, and the notes on
// unknown fields: the error fixtures read past their problems, with host-network enforced.
func TestWritersGoldenNotRead(t *testing.T) {
	t.Chdir(testdata)
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: typo}\nspec:\n  hostNetwork: yes\n  securityContext: {runAsNonroot: true}\n  containers: [{name: a, image: x:1}]\n"
	docs, unread, err := ReadAll([]string{"errors", "-"}, strings.NewReader(pod))
	if err != nil {
		t.Fatal(err)
	}
	s := hostNetworkOnly(t, checks.Enforce)
	results, invalid, _ := evaluate(docs, true, func(r *Result, o object) { r.Violations = s.Evaluate(o.pod) })
	unread = MergeUnread(unread, invalid)
	if len(unread) != 10 || len(results) == 0 {
		t.Fatalf("%d results, %d not read; want some and 10", len(results), len(unread))
	}
	for _, f := range Formats {
		name := "report/notread." + goldenExt(f.Name)
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.Write(&b, Report{Results: results, Unread: unread, Version: "1.2.3"}); err != nil {
				t.Fatal(err)
			}
			sameCompact(t, f, b.String(), Report{Results: results, Unread: unread, Version: "1.2.3"})
			if f.Name == "sarif" {
				b = *bytes.NewBuffer(onlyRule(t, b.Bytes(), "host-network"))
			}
			golden(t, name, b.String())
		})
	}
}

// TestWriteIndentedArray: writing the items of an array as they come gives what writeIndented
// gives for the whole value, for no item, one and several, at the top level and nested.
func TestWriteIndentedArray(t *testing.T) {
	type item struct {
		Name  string   `json:"name"`
		Notes []string `json:"notes,omitempty"`
		Next  *item    `json:"next,omitempty"`
	}
	type doc struct {
		Head  string `json:"head"`
		Items []item `json:"items"`
		Tail  []int  `json:"tail,omitempty"`
	}
	type outer struct {
		Runs []doc `json:"runs"`
	}
	all := []item{
		{Name: "a <&> b"},
		{Name: "c", Notes: []string{"x", "y"}, Next: &item{Name: "d", Notes: []string{"z"}}},
		{Name: "items: []"},
	}
	for n := 0; n <= len(all); n++ {
		items := func(yield func(any) error) error {
			for _, it := range all[:n] {
				if err := yield(it); err != nil {
					return err
				}
			}
			return nil
		}
		for _, c := range []struct {
			name         string
			empty, whole any
			indent       string
		}{
			{"top", doc{Head: "h", Items: []item{}, Tail: []int{1, 2}}, doc{Head: "h", Items: append([]item{}, all[:n]...), Tail: []int{1, 2}}, "  "},
			{"nested", outer{Runs: []doc{{Head: "h", Items: []item{}}}}, outer{Runs: []doc{{Head: "h", Items: append([]item{}, all[:n]...)}}}, "      "},
		} {
			var got, want bytes.Buffer
			if err := writeIndentedArray(&got, c.empty, c.indent, "items", items); err != nil {
				t.Fatal(err)
			}
			if err := writeIndented(&want, c.whole); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%s, %d items:\n--- got\n%s\n--- want\n%s", c.name, n, got.String(), want.String())
			}
		}
	}
}
