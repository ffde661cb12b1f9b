package policy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bulwark-k8s/bulwark/internal/textlines"
	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// FuzzPolicyParse parses arbitrary documents. Properties: Parse never panics; it either
// accepts the document or returns a *policy.Error with at least one problem, each with a
// message and a line within the text (counted in the policy text of a ConfigMap for an
// embedded one), ordered by line. An accepted document hashes the same when parsed again, and
// its Effective() document, rendered as JSON or as YAML, parses back to the same policy: the
// same effective document, actions, parameters, mutation and decisions on sample requests,
// and a hash that no longer changes. Seeds: the sample policies and documents with every
// section, valid and not.
//
//	go test ./pkg/policy -run '^$' -fuzz '^FuzzPolicyParse$' -fuzztime 60s
func FuzzPolicyParse(f *testing.F) {
	files, err := filepath.Glob("../../config/samples/policies/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("sample policies: %v %v", files, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, doc := range []string{
		head,
		resolvePolicy,
		"",
		"a: [",
		head + "profile: restricted\nchecks:\n  run-as-user: {action: warn}\n  image-tag: {action: audit}\n",
		head + "checks:\n  host-network: {action: off}\n  host-pid: {action: \"off\"}\n  privileged: {action: false}\n",
		head + "checks:\n  capabilities: {allowedCapabilities: [NET_ADMIN, SYS_TIME]}\n  image-registry: {allowedRegistries: [registry.example.com, docker.io/library]}\n",
		head + "mutation:\n  enabled: yes\n  defaults: {read-only-root-filesystem: true, resources: false}\n  resources:\n    requests: {cpu: 0.25, memory: 64Mi}\n    limits: {cpu: 1, memory: 1Gi}\n",
		head + "profile: baseline\nmutation: {enabled: false, defaults: {secomp: true}, resources: {limits: {cpu: lots}}}\n",
		head + "namespaces:\n  exempt: []\n  rules:\n    - name: a\n      names: [\"team-*\", \"x?\"]\n      selector:\n        matchExpressions:\n          - {key: tier, operator: NotIn, values: [gold]}\n          - {key: env, operator: DoesNotExist}\n      action: audit\n      checks: {privileged: {action: warn}}\n",
		head + "exemptions:\n  - name: e\n    reason: r\n    expires: 2030-01-02\n    users: [alice]\n    groups: [g]\n    serviceAccounts: [ns/sa]\n    namespace: ns\n    kinds: [Pod, CronJob]\n    names: [\"web-*\"]\n    checks: [host-path]\n",
		head + "exemptions:\n  - {name: e, reason: r, expires: \"2026-06-30T12:00:00+02:00\", namespace: x}\n  - {name: e, reason: \"\", expires: tomorrow}\n",
		head + "base: &b {action: warn}\nchecks:\n  privileged: *b\n  host-pid:\n    <<: *b\n",
		head + "checks:\n  privileged: &a {action: warn}\n  host-pid: *a\n",
		head + "profile: nsa\nprofile: baseline\n",
		head + "checks:\n  1: {action: warn}\n",
		head + "---\nfoo: 1\n",
		"- a\n- b\n",
		"kind: 5\n",
		head + "checks: {privileged: {action: 1}, host-pid: {action: true}}\n",
		head + "namespaces:\n  exempt:\n    - kube-system\n    - Kube_Public\n    - kube-system\n",
		head + "namespaces:\n  rules:\n    - {}\n    - {name: -b, names: [\"team-[\", \"\"], action: deny}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\ndata:\n  policy.yaml: |\n    apiVersion: bulwark.dev/v1alpha1\n    kind: Policy\n    profile: strict\n",
		"apiVersion: v1\nkind: ConfigMap\ndata: {other: x}\n",
		"apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yaml: 5\n",
		`{"apiVersion": "bulwark.dev/v1alpha1", "kind": "Policy", "profile": "baseline", "checks": {"privileged": {"action": "warn"}}}`,
		"apiVersion: bulwark.dev/v1alpha1\r\nkind: Policy\r\nprofile: [\r\n",
		head + "checks:\n  privileged: {action: warn\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := policy.Parse(data, "fuzz.yaml")
		if err != nil {
			checkParseError(t, data, err)
			return
		}
		if s == nil || s.Checks == nil || s.Hash == "" {
			t.Fatalf("accepted with an incomplete snapshot: %+v", s)
		}
		if again, err := policy.Parse(data, "fuzz.yaml"); err != nil || again.Hash != s.Hash {
			t.Fatalf("parsing again: %v, hash %s, first %s", err, hashOf(again), s.Hash)
		}
		eff := s.Effective()
		js := mustMarshalJSON(t, eff)
		back, err := policy.Parse(js, "effective.json")
		if err != nil {
			t.Fatalf("the effective document does not parse: %v\n%s\nfrom %q", err, js, data)
		}
		samePolicy(t, s, back, js)
		// The effective document is a fixed point: its hash does not change any more.
		if again, err := policy.Parse(mustMarshalJSON(t, back.Effective()), "effective.json"); err != nil || again.Hash != back.Hash {
			t.Fatalf("effective document parsed again: %v, hash %s, want %s", err, hashOf(again), back.Hash)
		}
		// As YAML, which `bulwark policy show` prints.
		var generic any
		if err := json.Unmarshal(js, &generic); err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(generic)
		if err != nil {
			t.Fatal(err)
		}
		fromYAML, err := policy.Parse(y, "effective.yaml")
		if err != nil {
			t.Fatalf("the effective document as YAML does not parse: %v\n%s", err, y)
		}
		samePolicy(t, s, fromYAML, y)
	})
}

func hashOf(s *policy.Snapshot) string {
	if s == nil {
		return "(none)"
	}
	return s.Hash
}

func mustMarshalJSON(t *testing.T, v any) []byte {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// checkParseError checks a rejection of data.
func checkParseError(t *testing.T, data []byte, err error) {
	t.Helper()
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *policy.Error: %v", err, err)
	}
	if len(pe.Problems) == 0 {
		t.Fatalf("an error without problems: %v", err)
	}
	want := "fuzz.yaml"
	if pe.Embedded != "" {
		want += ": " + pe.Embedded
	}
	if pe.Source != want {
		t.Fatalf("source %q, want %q", pe.Source, want)
	}
	text, lines := data, textlines.Count(data)
	if pe.Embedded != "" {
		// Lines count in the policy text the ConfigMap holds; find it as a YAML reader does.
		var cm struct {
			Data map[string]any `yaml:"data"`
		}
		lines = 0
		if yaml.Unmarshal(data, &cm) == nil {
			if s, ok := cm.Data[policy.ConfigMapKey].(string); ok {
				text, lines = []byte(s), textlines.Count([]byte(s))
			}
		}
	}
	msg := err.Error()
	for i, p := range pe.Problems {
		if p.Line < 1 || (lines > 0 && p.Line > lines) {
			t.Fatalf("problem %q at line %d, outside the %d lines of %q", p.Message, p.Line, lines, text)
		}
		if i > 0 && p.Line < pe.Problems[i-1].Line {
			t.Fatalf("problems out of line order: %v", err)
		}
		if p.Message == "" {
			t.Fatalf("a problem without a message at line %d", p.Line)
		}
		if !strings.Contains(msg, fmt.Sprintf("line %d: ", p.Line)) {
			t.Fatalf("the error does not give line %d:\n%s", p.Line, msg)
		}
	}
}

// samePolicy fails unless back (parsed from rendered, an effective document of s) is the same
// policy as s.
func samePolicy(t *testing.T, s, back *policy.Snapshot, rendered []byte) {
	t.Helper()
	if a, b := mustMarshalJSON(t, s.Effective()), mustMarshalJSON(t, back.Effective()); !bytes.Equal(a, b) {
		t.Fatalf("effective documents differ:\n%s\n%s\nrendered %s", a, b, rendered)
	}
	if s.Profile != back.Profile {
		t.Fatalf("profile %q, want %q", back.Profile, s.Profile)
	}
	for _, id := range checks.IDs() {
		if a, b := s.Checks.Action(id), back.Checks.Action(id); a != b {
			t.Fatalf("check %s: %s, want %s", id, b, a)
		}
	}
	if !reflect.DeepEqual(s.Checks.Active(), back.Checks.Active()) {
		t.Fatalf("active checks %v, want %v", back.Checks.Active(), s.Checks.Active())
	}
	if !reflect.DeepEqual(s.Checks.Params(), back.Checks.Params()) {
		t.Fatalf("params %+v, want %+v", back.Checks.Params(), s.Checks.Params())
	}
	if !sameMutation(s.Mutation, back.Mutation) {
		t.Fatalf("mutation %+v, want %+v", back.Mutation, s.Mutation)
	}
	if !slices.Equal(s.RuleNames(), back.RuleNames()) || !slices.Equal(s.ExemptionNames(), back.ExemptionNames()) {
		t.Fatalf("rules %v and exemptions %v, want %v and %v", back.RuleNames(), back.ExemptionNames(), s.RuleNames(), s.ExemptionNames())
	}
	for _, r := range sampleRequests {
		a, b := s.Resolve(r), back.Resolve(r)
		if !sameDecision(a, b) {
			t.Fatalf("request %+v: decision %+v, want %+v", r, b, a)
		}
	}
}

func sameMutation(a, b *mutate.Options) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameOptions(*a, *b)
}

func sameDecision(a, b policy.Decision) bool {
	return a.Exempt == b.Exempt && a.Reason == b.Reason && a.Rule == b.Rule && a.Mode == b.Mode &&
		reflect.DeepEqual(a.ExemptChecks, b.ExemptChecks) && reflect.DeepEqual(a.Expired, b.Expired) &&
		slices.Equal(a.Warnings, b.Warnings) && sameMutation(a.Mutation, b.Mutation) &&
		(a.Checks == nil) == (b.Checks == nil) && (a.Checks == nil || slices.Equal(a.Checks.Active(), b.Checks.Active()))
}

// sampleRequests reach the exempt namespaces, rules by name and by label, the mode label,
// and exemptions by user, group, service account, kind and name.
var sampleRequests = func() []policy.Request {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []policy.Request
	for _, ns := range []string{"", "kube-system", "team-a", "sandbox-1", "web", "billing", "ns", "x"} {
		for _, labels := range []map[string]string{nil, {"team": "payments", "tier": "gold", policy.ModeLabel: "warn"}} {
			out = append(out,
				policy.Request{Namespace: ns, NamespaceLabels: labels, UserName: "alice", Groups: []string{"g", "platform-admins"}, Kind: "Deployment", Name: "web-1", Now: now},
				policy.Request{Namespace: ns, NamespaceLabels: labels, UserName: "system:serviceaccount:ns:sa", Kind: "Pod", Name: "legacy-x", Now: now.AddDate(-2, 0, 0)})
		}
	}
	return out
}()
