package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// checksDoc is docs/checks.md, which every rule's helpUri points into.
const checksDoc = "../../docs/checks.md"

// TestSARIFRules checks what GitHub code scanning shows of each rule: every registered check
// links to an anchor that exists in docs/checks.md, is described by its summary, defaults to
// the level of its nsa action, and carries tags and a security severity.
func TestSARIFRules(t *testing.T) {
	doc, err := os.ReadFile(checksDoc)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteSARIF(&b, nil, ""); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	rules := log.Runs[0].Tool.Driver.Rules
	all := checks.All()
	if len(rules) != len(all) {
		t.Fatalf("%d rules, want %d", len(rules), len(all))
	}
	levels := map[checks.Action]string{checks.Enforce: "error", checks.Warn: "warning", checks.Audit: "note"}
	for i, c := range all {
		r := rules[i]
		if r.ID != c.ID {
			t.Fatalf("rule %d is %s, want %s", i, r.ID, c.ID)
		}
		page, anchor, ok := strings.Cut(r.HelpURI, "#")
		if !ok || page != "https://github.com/bulwark-k8s/bulwark/blob/main/docs/checks.md" {
			t.Errorf("%s: helpUri %q is not an anchor of docs/checks.md", c.ID, r.HelpURI)
		}
		if !bytes.Contains(doc, []byte(`<a id="`+anchor+`"></a>`)) {
			t.Errorf("%s: helpUri %q: docs/checks.md has no anchor %q", c.ID, r.HelpURI, anchor)
		}
		if r.FullDescription.Text != c.Summary || r.ShortDescription.Text != c.Summary {
			t.Errorf("%s: descriptions %q, %q; want the summary %q", c.ID, r.ShortDescription.Text, r.FullDescription.Text, c.Summary)
		}
		if !strings.HasPrefix(r.Help.Text, c.Summary) || !strings.Contains(r.Help.Text, r.HelpURI) ||
			!strings.Contains(r.Help.Markdown, "]("+r.HelpURI+")") {
			t.Errorf("%s: help %+v lacks the summary or the link", c.ID, r.Help)
		}
		if want := levels[c.Profiles.NSA]; r.DefaultConfiguration.Level != want {
			t.Errorf("%s: defaultConfiguration.level %q, want %q (nsa %s)", c.ID, r.DefaultConfiguration.Level, want, c.Profiles.NSA)
		}
		// GitHub filters alerts by tag: the check's section of docs/checks.md is one.
		if strings.Join(r.Properties.Tags, ",") != "security,kubernetes,"+string(c.Category) {
			t.Errorf("%s: tags %v, want security, kubernetes and its category %q", c.ID, r.Properties.Tags, c.Category)
		}
	}

	severity := map[string]string{}
	for _, r := range rules {
		severity[r.ID] = r.Properties.SecuritySeverity
	}
	for id, want := range map[string]string{
		"host-network":                    "8.0", // baseline
		"privileged":                      "8.0",
		"run-as-non-root":                 "5.5", // restricted
		"image-registry":                  "5.5", // enforced by nsa
		"read-only-root-filesystem":       "3.5", // warned by nsa only
		"resource-limits":                 "3.5",
		"automount-service-account-token": "3.5",
		"anonymous-binding":               "8.0", // declared high
	} {
		if severity[id] != want {
			t.Errorf("%s: security-severity %q, want %q", id, severity[id], want)
		}
	}
}

// TestSARIFObjectName checks how a result's object is named as a logical location and in
// the message, namespace, generateName and missing name included.
func TestSARIFObjectName(t *testing.T) {
	d := &Document{Source: "app.yaml", Index: 1, Line: 1, APIVersion: "apps/v1", Kind: "Deployment"}
	v := checks.Violation{Check: "host-network", Field: "spec.template.spec.hostNetwork", Message: "m", Fix: "f", Action: checks.Enforce}
	tests := []struct {
		r            Result
		fqn, message string
	}{
		{Result{Doc: d, Name: "web", Namespace: "team-a"}, "Deployment/team-a/web", `Deployment "team-a/web": m. Fix: f`},
		{Result{Doc: d, Name: "web"}, "Deployment/web", `Deployment "web": m. Fix: f`},
		{Result{Doc: d, Name: "job-*"}, "Deployment/job-*", `Deployment "job-*": m. Fix: f`},
		{Result{Doc: d}, "Deployment/(no name)", `Deployment (no name): m. Fix: f`},
	}
	for _, tt := range tests {
		tt.r.Violations = []checks.Violation{v}
		var b bytes.Buffer
		if err := WriteSARIF(&b, []Result{tt.r}, ""); err != nil {
			t.Fatal(err)
		}
		var log sarifLog
		if err := json.Unmarshal(b.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		res := log.Runs[0].Results[0]
		want := []sarifLogicalLocation{{FullyQualifiedName: v.Field}, {FullyQualifiedName: tt.fqn, Kind: "object"}}
		if got := res.Locations[0].LogicalLocations; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("logical locations %+v, want %+v", got, want)
		}
		if res.Message.Text != tt.message {
			t.Errorf("message %q, want %q", res.Message.Text, tt.message)
		}
	}
}

// sarifSchemaFile is the SARIF 2.1.0 JSON schema as OASIS publishes it (errata 01, at the URL
// of its "id"), unchanged, kept beside the fixtures so that the test needs no network.
const sarifSchemaFile = testdata + "/sarif-schema-2.1.0.json"

// TestSARIFSchema validates SARIF reports against the SARIF 2.1.0 JSON schema: the golden
// reports (files, a cluster, what was not read) and a report of every check under the nsa
// profile, every rule listed. A log the schema rejects is rejected, so the validation is real.
func TestSARIFSchema(t *testing.T) {
	sch := compileSARIFSchema(t)
	golden, err := filepath.Glob(testdata + "/report/*.sarif")
	if err != nil || len(golden) < 3 {
		t.Fatalf("golden SARIF reports: %v %v", golden, err)
	}
	logs := map[string][]byte{}
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		logs[filepath.Base(p)] = b
	}
	docs, err := Read([]string{testdata + "/report/manifests.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nsa, err := policy.FromProfile("nsa")
	if err != nil {
		t.Fatal(err)
	}
	results, err := EvaluatePolicy(docs, nsa, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 || len(results[0].Violations) < 5 {
		t.Fatalf("the nsa profile finds too little to validate: %+v", results)
	}
	var all bytes.Buffer
	if err := WriteSARIF(&all, results, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	logs["every check"] = all.Bytes()
	for name, b := range logs {
		if err := validateJSON(sch, b); err != nil {
			t.Errorf("%s: not valid SARIF 2.1.0: %v", name, err)
		}
	}

	bad := bytes.Replace(all.Bytes(), []byte(`"level": "error"`), []byte(`"level": "critical"`), 1)
	if bytes.Equal(bad, all.Bytes()) {
		t.Fatal("the report has no level error to spoil")
	}
	if err := validateJSON(sch, bad); err == nil {
		t.Error(`a level "critical" passes the schema: the validation checks nothing`)
	}
}

func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(sarifSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateJSON(sch *jsonschema.Schema, b []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}
