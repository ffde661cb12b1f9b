package main

import (
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

const policyHead = "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\n"

var samplePolicies = []string{
	"../../config/samples/policies/strict-production.yaml",
	"../../config/samples/policies/mixed-teams.yaml",
	"../../config/samples/policies/migrate-from-psa.yaml",
}

func TestPolicyValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", policyHead+"profile: restricted\n")
	rules := writeFile(t, dir, "rules.yaml", policyHead+`namespaces:
  rules:
    - {name: a, names: [a], action: warn}
exemptions:
  - {name: x, reason: r, users: [alice]}
  - {name: y, reason: r, users: [bob], expires: 2020-01-31}
`)
	bad := writeFile(t, dir, "bad.yaml", policyHead+"profile: strict\nchecks:\n  host-nework: {action: warn}\nnamespaces:\n  rules:\n    - name: a\n      names: [a]\n      action: warn\n      selctor: {}\n")
	cm := writeFile(t, dir, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bulwark-policy}\ndata:\n  policy.yaml: |\n    apiVersion: bulwark.dev/v1alpha1\n    kind: Policy\n    checks:\n      privileged: {action: deny}\n")
	missing := filepath.Join(dir, "missing.yaml")
	valid := regexp.MustCompile(`^(\S+): valid \(profile (\w+), mode (enforce|warn|audit), (\d+) rules?, (\d+) exemptions?, hash [0-9a-f]{16}\)$`)

	tests := []struct {
		name      string
		args      []string
		stdin     string
		code      int
		stdout    []string // lines, matched exactly, except the hash
		stderr    []string // substrings
		noStderr  bool
		hashValid bool
	}{
		{"one valid file", []string{good}, "", exitOK, []string{good + ": valid (profile restricted, mode enforce, 0 rules, 0 exemptions, hash"}, nil, true, true},
		{"rules and exemptions are counted; an expired one warns", []string{rules}, "", exitOK,
			[]string{rules + ": valid (profile nsa, mode enforce, 1 rule, 2 exemptions, hash"},
			[]string{rules + `: warning: exemption "y" expired on 2020-01-31 and no longer applies`}, false, true},
		{"every sample", samplePolicies, "", exitOK, []string{
			samplePolicies[0] + ": valid (profile restricted, mode enforce, 0 rules, 2 exemptions, hash",
			samplePolicies[1] + ": valid (profile nsa, mode enforce, 2 rules, 2 exemptions, hash",
			samplePolicies[2] + ": valid (profile baseline, mode enforce, 4 rules, 0 exemptions, hash"}, nil, false, true},
		{"an invalid file: every error with its line and field", []string{good, bad}, "", exitDenied,
			[]string{good + ": valid (profile restricted, mode enforce, 0 rules, 0 exemptions, hash"},
			[]string{"invalid policy " + bad + " (3 errors):\n" +
				"  line 3: profile: unknown profile \"strict\" (want one of nsa, baseline, restricted)\n" +
				"  line 5: checks.host-nework: unknown check ID (known: ",
				"  line 11: unknown field \"namespaces.rules[0].selctor\"\n"}, false, false},
		{"a ConfigMap: lines of its policy.yaml", []string{cm}, "", exitDenied, nil,
			[]string{"invalid policy " + cm + ": data.policy.yaml (1 error):\n  data.policy.yaml line 4: checks.privileged.action: unknown action \"deny\""}, false, false},
		{"stdin", []string{"-"}, policyHead, exitOK, []string{"<stdin>: valid (profile nsa, mode enforce, 0 rules, 0 exemptions, hash"}, nil, true, true},
		{"invalid stdin", []string{"-"}, "kind: Policy\n", exitDenied, nil, []string{"invalid policy <stdin> (1 error):\n  line 1: apiVersion: got \"\""}, false, false},
		{"a missing file", []string{missing, good}, "", exitDenied, []string{good + ": valid"}, []string{missing + ": no such file or directory"}, false, false},
		{"no FILE", nil, "", exitUsage, nil, []string{"bulwark policy validate: no FILE given"}, false, false},
		{"unknown flag", []string{"--strict", good}, "", exitUsage, nil, []string{"flag provided but not defined: -strict", "Usage: bulwark policy validate FILE..."}, false, false},
		{"help", []string{"-h"}, "", exitOK, nil, []string{"Usage: bulwark policy validate FILE...", "Exit status"}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.stdin, append([]string{"policy", "validate"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if out == "" {
				lines = nil
			}
			if len(lines) != len(tc.stdout) {
				t.Errorf("stdout has %d lines, want %d:\n%s", len(lines), len(tc.stdout), out)
			}
			for i := range min(len(lines), len(tc.stdout)) {
				if !strings.HasPrefix(lines[i], tc.stdout[i]) {
					t.Errorf("stdout line %d = %q, want it to start with %q", i, lines[i], tc.stdout[i])
				}
				if tc.hashValid && !valid.MatchString(lines[i]) {
					t.Errorf("stdout line %q is not FILE: valid (profile P, mode M, N rules, M exemptions, hash H)", lines[i])
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if tc.noStderr && errOut != "" {
				t.Errorf("stderr: %s", errOut)
			}
		})
	}
}

// TestPolicyShow: the output of show is a valid policy with the same effect, for every
// profile and every sample.
func TestPolicyShow(t *testing.T) {
	type source struct {
		name string
		args []string
		want func(t *testing.T) *policy.Snapshot
	}
	var sources []source
	for _, p := range policy.Profiles {
		sources = append(sources, source{"profile " + p, []string{"--profile", p}, func(t *testing.T) *policy.Snapshot {
			s, err := policy.FromProfile(p)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}})
	}
	sources = append(sources, source{"default profile", nil, func(t *testing.T) *policy.Snapshot {
		s, _ := policy.FromProfile("")
		return s
	}})
	for _, f := range samplePolicies {
		sources = append(sources, source{filepath.Base(f), []string{"--policy", f}, func(t *testing.T) *policy.Snapshot {
			s, err := policy.LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}})
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", append([]string{"policy", "show"}, src.args...)...)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %s", code, errOut)
			}
			want := src.want(t)
			for _, w := range []string{"apiVersion: bulwark.dev/v1alpha1\n", "kind: Policy\n", "profile: " + want.Profile + "\n", "\nchecks:\n", "\nmutation:\n",
				"  enabled: ", "  defaults:\n", "  resources:\n", "    requests: {cpu: ", "\nnamespaces:\n", "  exempt: [", "  rules:", "\nexemptions:", "\nguardrails:\n  create: "} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, c := range checks.All() {
				if !strings.Contains(out, "  # "+c.Summary+"\n  "+c.ID+":") {
					t.Errorf("check %s is not listed with its summary", c.ID)
				}
			}
			if strings.Contains(out, ": off}") || strings.Contains(out, ": off\n") {
				t.Error(`"off" is not quoted, which YAML 1.1 tools read as false`)
			}
			if offs := strings.Count(out, `{action: "off"}`); offs != countOff(want) {
				t.Errorf("%d checks shown off, the policy has %d", offs, countOff(want))
			}
			// show's output passes validate...
			file := writeFile(t, t.TempDir(), "shown.yaml", out)
			if code, vout, verr := runCLI(t, "", "policy", "validate", file); code != exitOK {
				t.Fatalf("validate of the shown policy: exit %d\n%s%s\n%s", code, vout, verr, out)
			}
			// ...and is the same policy.
			got, err := policy.LoadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Effective(), want.Effective()) {
				t.Errorf("the shown policy differs:\n%+v\n%+v", got.Effective(), want.Effective())
			}
			for _, id := range checks.IDs() {
				if got.Checks.Action(id) != want.Checks.Action(id) {
					t.Errorf("%s: %q, want %q", id, got.Checks.Action(id), want.Checks.Action(id))
				}
			}
			if !reflect.DeepEqual(got.Checks.Params(), want.Checks.Params()) {
				t.Errorf("params %+v, want %+v", got.Checks.Params(), want.Checks.Params())
			}
			if (got.Mutation == nil) != (want.Mutation == nil) || got.Mutation != nil && !reflect.DeepEqual(got.Effective().Mutation, want.Effective().Mutation) {
				t.Errorf("mutation %+v, want %+v", got.Mutation, want.Mutation)
			}
			if !reflect.DeepEqual(got.RuleNames(), want.RuleNames()) || !reflect.DeepEqual(got.ExemptionNames(), want.ExemptionNames()) {
				t.Errorf("rules %q, exemptions %q; want %q, %q", got.RuleNames(), got.ExemptionNames(), want.RuleNames(), want.ExemptionNames())
			}
		})
	}
}

func TestPolicyShowErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", policyHead+"profile: strict\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"unknown profile", []string{"--profile", "pss"}, exitUsage, []string{`bulwark policy show: invalid policy profile pss (1 error):`, `unknown profile "pss"`}},
		{"both flags", []string{"--profile", "nsa", "--policy", bad}, exitUsage, []string{"--profile and --policy are mutually exclusive"}},
		{"invalid policy", []string{"--policy", bad}, exitDenied, []string{"invalid policy " + bad + " (1 error):\n  line 3: profile: unknown profile \"strict\""}},
		{"missing policy", []string{"--policy", filepath.Join(dir, "nope.yaml")}, exitDenied, []string{"no such file or directory"}},
		{"an argument", []string{"policy.yaml"}, exitUsage, []string{`unexpected argument "policy.yaml" (use --policy FILE)`}},
		{"unknown flag", []string{"--all"}, exitUsage, []string{"flag provided but not defined: -all", "Usage: bulwark policy show"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", append([]string{"policy", "show"}, tc.args...)...)
			if code != tc.code || out != "" {
				t.Errorf("exit %d, want %d; stdout %q", code, tc.code, out)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	if code, out, _ := runCLI(t, "", "policy", "show", "-h"); code != exitOK || out != "" {
		t.Errorf("show -h: exit %d, stdout %q", code, out)
	}
}

func TestPolicyCommand(t *testing.T) {
	if code, _, errOut := runCLI(t, "", "policy"); code != exitUsage || !strings.Contains(errOut, "bulwark policy validate FILE...") {
		t.Errorf("policy: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "policy", "check"); code != exitUsage || !strings.Contains(errOut, `bulwark policy: unknown command "check"`) {
		t.Errorf("policy check: exit %d\n%s", code, errOut)
	}
	if code, out, _ := runCLI(t, "", "policy", "help"); code != exitOK || !strings.Contains(out, "bulwark policy show [--profile P | --policy FILE]") {
		t.Errorf("policy help: exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, "", "help"); code != exitOK || !strings.Contains(out, "bulwark policy  validate FILE...") || !strings.Contains(out, "bulwark policy  show") {
		t.Errorf("help does not list the policy commands:\n%s", out)
	}
}

func countOff(s *policy.Snapshot) int {
	n := 0
	for _, id := range checks.IDs() {
		if s.Checks.Action(id) == checks.Off && id != "capabilities" && id != "image-registry" {
			n++
		}
	}
	return n
}
