package policy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

const head = "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\n"

// TestParseValid pins what valid documents compile to.
func TestParseValid(t *testing.T) {
	nsaDefaults := mutate.NSADefaults()
	tests := []struct {
		name, doc string
		check     func(t *testing.T, s *policy.Snapshot)
	}{
		{"minimal document is the nsa profile", head, func(t *testing.T, s *policy.Snapshot) {
			wantProfile(t, s, policy.NSA)
			sameActions(t, s, profile(t, policy.NSA))
			if s.Mutation == nil || !sameOptions(*s.Mutation, nsaDefaults) {
				t.Errorf("mutation = %+v, want the nsa defaults", s.Mutation)
			}
		}},
		{"explicit empty profile is nsa", head + "profile: \"\"\n", func(t *testing.T, s *policy.Snapshot) {
			wantProfile(t, s, policy.NSA)
		}},
		{"JSON document", `{"apiVersion": "bulwark.dev/v1alpha1", "kind": "Policy", "profile": "baseline"}`, func(t *testing.T, s *policy.Snapshot) {
			wantProfile(t, s, policy.Baseline)
		}},
		{"profile baseline", head + "profile: baseline\n", func(t *testing.T, s *policy.Snapshot) {
			wantProfile(t, s, policy.Baseline)
			sameActions(t, s, profile(t, policy.Baseline))
			if s.Mutation != nil {
				t.Errorf("baseline mutates: %+v", s.Mutation)
			}
		}},
		{"profile restricted with an override", head + "profile: restricted\nchecks:\n  run-as-user: {action: warn}\n  image-tag: {action: audit}\n", func(t *testing.T, s *policy.Snapshot) {
			wantProfile(t, s, policy.Restricted)
			wantAction(t, s, "run-as-user", checks.Warn)
			wantAction(t, s, "image-tag", checks.Audit)
			wantAction(t, s, "run-as-non-root", checks.Enforce)
			wantAction(t, s, "read-only-root-filesystem", checks.Off)
			if !s.Checks.Params().StrictProcMount {
				t.Error("restricted lost StrictProcMount")
			}
		}},
		{"unquoted off, which YAML 1.1 reads as false, is off", head + "checks:\n  host-network: {action: off}\n  host-pid: {action: \"off\"}\n", func(t *testing.T, s *policy.Snapshot) {
			wantAction(t, s, "host-network", checks.Off)
			wantAction(t, s, "host-pid", checks.Off)
			wantAction(t, s, "host-ipc", checks.Enforce)
		}},
		{"per-check actions on nsa", head + "checks:\n  image-tag: {action: \"off\"}\n  run-as-non-root: {action: enforce}\n  privileged: {action: warn}\n", func(t *testing.T, s *policy.Snapshot) {
			wantAction(t, s, "image-tag", checks.Off)
			wantAction(t, s, "run-as-non-root", checks.Enforce)
			wantAction(t, s, "privileged", checks.Warn)
			wantAction(t, s, "host-network", checks.Enforce)
			if slices.Contains(s.Checks.Active(), "image-tag") {
				t.Errorf("image-tag is off but active: %q", s.Checks.Active())
			}
		}},
		{"YAML off is the string, not false", head + "checks:\n  image-tag:\n    action: \"off\"\n", func(t *testing.T, s *policy.Snapshot) {
			wantAction(t, s, "image-tag", checks.Off)
		}},
		{"allowedCapabilities", head + "checks:\n  capabilities:\n    allowedCapabilities: [NET_RAW, SYS_TIME]\n", func(t *testing.T, s *policy.Snapshot) {
			if got := s.Checks.Params().AllowedCapabilities; !slices.Equal(got, []string{"NET_RAW", "SYS_TIME"}) {
				t.Errorf("AllowedCapabilities = %q", got)
			}
			wantAction(t, s, "capabilities", checks.Enforce)
		}},
		{"allowedRegistries with an action", head + "checks:\n  image-registry:\n    action: warn\n    allowedRegistries: [registry.example.com, ghcr.io/acme]\n", func(t *testing.T, s *policy.Snapshot) {
			if got := s.Checks.Params().AllowedRegistries; !slices.Equal(got, []string{"registry.example.com", "ghcr.io/acme"}) {
				t.Errorf("AllowedRegistries = %q", got)
			}
			wantAction(t, s, "image-registry", checks.Warn)
		}},
		{"mutation disabled", head + "mutation: {enabled: false}\n", func(t *testing.T, s *policy.Snapshot) {
			if s.Mutation != nil {
				t.Errorf("mutation = %+v, want off", s.Mutation)
			}
		}},
		{"mutation enabled on baseline", head + "profile: baseline\nmutation: {enabled: true}\n", func(t *testing.T, s *policy.Snapshot) {
			if s.Mutation == nil || !sameOptions(*s.Mutation, nsaDefaults) {
				t.Errorf("mutation = %+v, want the nsa defaults", s.Mutation)
			}
			sameActions(t, s, profile(t, policy.Baseline))
		}},
		{"mutation defaults", head + "mutation:\n  defaults:\n    read-only-root-filesystem: true\n    automount-service-account-token: true\n    seccomp: false\n", func(t *testing.T, s *policy.Snapshot) {
			want := nsaDefaults
			want.ReadOnlyRootFilesystem, want.AutomountServiceAccountToken, want.Seccomp = true, true, false
			if s.Mutation == nil || !sameOptions(*s.Mutation, want) {
				t.Errorf("mutation = %+v, want %+v", s.Mutation, want)
			}
		}},
		{"mutation resources, strings and numbers", head + "mutation:\n  resources:\n    requests: {cpu: 0.25, memory: 256Mi}\n    limits: {cpu: 2, memory: \"1Gi\"}\n", func(t *testing.T, s *policy.Snapshot) {
			want := nsaDefaults
			want.Requests = mutate.Quantities{CPU: resource.MustParse("250m"), Memory: resource.MustParse("256Mi")}
			want.Limits = mutate.Quantities{CPU: resource.MustParse("2"), Memory: resource.MustParse("1Gi")}
			if s.Mutation == nil || !sameOptions(*s.Mutation, want) {
				t.Errorf("mutation = %+v, want %+v", s.Mutation, want)
			}
		}},
		{"mutation resources, one value", head + "mutation:\n  resources:\n    limits: {memory: 2Gi}\n", func(t *testing.T, s *policy.Snapshot) {
			want := nsaDefaults
			want.Limits.Memory = resource.MustParse("2Gi")
			if s.Mutation == nil || !sameOptions(*s.Mutation, want) {
				t.Errorf("mutation = %+v, want %+v", s.Mutation, want)
			}
		}},
		{"ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bulwark-policy}\ndata:\n  policy.yaml: |\n    apiVersion: bulwark.dev/v1alpha1\n    kind: Policy\n    profile: restricted\n    checks:\n      volume-types: {action: warn}\n", func(t *testing.T, s *policy.Snapshot) {
			wantProfile(t, s, policy.Restricted)
			wantAction(t, s, "volume-types", checks.Warn)
			if s.Source != "src: data.policy.yaml" {
				t.Errorf("Source = %q", s.Source)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.Parse([]byte(tc.doc), "src")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.Checks == nil || len(s.Hash) != 16 {
				t.Fatalf("incomplete snapshot: %+v", s)
			}
			if !strings.HasPrefix(s.Source, "src") {
				t.Errorf("Source = %q", s.Source)
			}
			tc.check(t, s)
		})
	}
}

// TestParseHash: the hash identifies the document's content, not its spelling.
func TestParseHash(t *testing.T) {
	parse := func(doc string) string {
		t.Helper()
		s, err := policy.Parse([]byte(doc), "src")
		if err != nil {
			t.Fatal(err)
		}
		return s.Hash
	}
	a := parse(head + "profile: baseline\nchecks: {privileged: {action: warn}}\n")
	b := parse("{\"kind\": \"Policy\", \"checks\": {\"privileged\": {\"action\": \"warn\"}}, \"profile\": \"baseline\", \"apiVersion\": \"bulwark.dev/v1alpha1\"}")
	c := parse(head + "profile: baseline\nchecks: {privileged: {action: audit}}\n")
	if a != b {
		t.Errorf("same policy, different hashes: %s, %s", a, b)
	}
	if a == c {
		t.Errorf("different policies, same hash %s", a)
	}
	if parse(head+"mutation: {resources: {limits: {cpu: 1}}}\n") != parse(head+"mutation: {resources: {limits: {cpu: \"1\"}}}\n") {
		t.Error("cpu: 1 and cpu: \"1\" hash differently")
	}
}

// TestParseErrors pins every error message of Parse. Each case lists substrings that must all
// appear; count is the number in the "invalid policy <source> (N errors):" header, 0 for the
// errors that have no header (the document could not be decoded at all).
func TestParseErrors(t *testing.T) {
	known := "(known: " + strings.Join(checks.IDs(), ", ") + ")"
	tests := []struct {
		name  string
		doc   string
		count int
		want  []string
	}{
		// decoding
		{"YAML syntax", "a: [", 0, []string{"src: yaml: line 1: did not find expected node content"}},
		{"not an object", "- a\n- b\n", 0, []string{"src: json: cannot unmarshal array into Go value of type struct"}},
		{"kind of the wrong type", "kind: 5\n", 0, []string{"src: json: cannot unmarshal number into Go struct field .kind of type string"}},
		{"profile of the wrong type", head + "profile: 5\n", 0, []string{"src: json: cannot unmarshal number into Go struct field Document.profile of type string"}},
		{"checks of the wrong type", head + "checks: [privileged]\n", 0, []string{"src: json: cannot unmarshal array into Go struct field Document.checks of type map[string]policy.CheckOverride"}},
		{"action of the wrong type", head + "checks: {privileged: {action: 1}, host-pid: {action: true}}\n", 2, []string{
			`checks.host-pid.action: unknown action "true" (want enforce, warn, audit or off)`, `checks.privileged.action: unknown action "1" (want enforce, warn, audit or off)`}},
		{"allowedCapabilities of the wrong type", head + "checks: {capabilities: {allowedCapabilities: NET_RAW}}\n", 0, []string{"src: json: cannot unmarshal string into Go struct field CheckOverride.checks.allowedCapabilities of type []string"}},
		{"enabled of the wrong type", head + "mutation: {enabled: maybe}\n", 0, []string{"src: json: cannot unmarshal string into Go struct field MutationSpec.mutation.enabled of type bool"}},
		{"defaults of the wrong type", head + "mutation: {defaults: {seccomp: 1}}\n", 0, []string{"src: json: cannot unmarshal number into Go struct field MutationSpec.mutation.defaults of type bool"}},
		{"quantity of the wrong type", head + "mutation: {resources: {limits: {cpu: true}}}\n", 0, []string{`src: a quantity must be a string such as "500m" or a number, not true`}},

		// unknown fields
		{"unknown field", head + "foo: 1\n", 1, []string{"invalid policy src (1 error):\n  unknown field \"foo\""}},
		{"unknown nested fields", head + "checks:\n  privileged: {acton: warn}\nmutation:\n  enable: true\n  resources: {requests: {gpu: 1}}\n", 3, []string{
			`unknown field "checks.privileged.acton"`, `unknown field "mutation.enable"`, `unknown field "mutation.resources.requests.gpu"`}},
		{"field names are case-sensitive", "apiversion: bulwark.dev/v1alpha1\nKind: Policy\n", 4, []string{
			`unknown field "apiversion"`, `unknown field "Kind"`, `apiVersion: got "", want "bulwark.dev/v1alpha1"`, `kind: got "", want "Policy"`}},

		// apiVersion and kind
		{"wrong apiVersion", "apiVersion: bulwark.dev/v1\nkind: Policy\n", 1, []string{`apiVersion: got "bulwark.dev/v1", want "bulwark.dev/v1alpha1"`}},
		{"wrong kind", "apiVersion: bulwark.dev/v1alpha1\nkind: PolicyDocument\n", 1, []string{`kind: got "PolicyDocument", want "Policy"`}},
		{"empty document", "", 2, []string{`apiVersion: got "", want "bulwark.dev/v1alpha1"`, `kind: got "", want "Policy"`}},

		// content
		{"unknown profile", head + "profile: strict\n", 1, []string{`profile: unknown profile "strict" (want one of nsa, baseline, restricted)`}},
		{"profile names are case-sensitive", head + "profile: Baseline\n", 1, []string{`profile: unknown profile "Baseline"`}},
		{"unknown check ID", head + "checks: {privileged-container: {action: warn}}\n", 1, []string{"checks.privileged-container: unknown check ID " + known}},
		{"unknown action", head + "checks: {privileged: {action: deny}}\n", 1, []string{`checks.privileged.action: unknown action "deny" (want enforce, warn, audit or off)`}},
		{"actions are case-sensitive", head + "checks: {privileged: {action: Enforce}}\n", 1, []string{`checks.privileged.action: unknown action "Enforce"`}},
		{"allowedCapabilities on another check", head + "checks: {drop-capabilities: {allowedCapabilities: [SYS_ADMIN]}}\n", 1, []string{"checks.drop-capabilities.allowedCapabilities: only the capabilities check takes this parameter"}},
		{"allowedRegistries on another check", head + "checks: {image-tag: {allowedRegistries: [docker.io]}}\n", 1, []string{"checks.image-tag.allowedRegistries: only the image-registry check takes this parameter"}},
		{"unknown mutation default", head + "mutation: {defaults: {readonly-root-filesystem: true}}\n", 1, []string{
			"mutation.defaults.readonly-root-filesystem: unknown default (known: automount-service-account-token, drop-capabilities, privilege-escalation, read-only-root-filesystem, resources, run-as-non-root, seccomp)"}},
		{"bad quantity", head + "mutation: {resources: {requests: {cpu: abc}}}\n", 1, []string{`mutation.resources.requests.cpu: "abc" is not a positive quantity`}},
		{"zero and negative quantities", head + "mutation: {resources: {requests: {cpu: \"0\", memory: -1Mi}, limits: {cpu: 1Gx, memory: 0}}}\n", 4, []string{
			`mutation.resources.requests.cpu: "0" is not a positive quantity`, `mutation.resources.requests.memory: "-1Mi" is not a positive quantity`,
			`mutation.resources.limits.cpu: "1Gx" is not a positive quantity`, `mutation.resources.limits.memory: "0" is not a positive quantity`}},
		{"requests above limits", head + "mutation: {resources: {requests: {cpu: 1, memory: 1Gi}}}\n", 2, []string{
			"mutation.resources: requests.cpu 1 is above limits.cpu 500m", "mutation.resources: requests.memory 1Gi is above limits.memory 512Mi"}},
		{"mutation is validated while off", head + "profile: baseline\nmutation: {enabled: false, defaults: {secomp: true}, resources: {limits: {cpu: lots}}}\n", 2, []string{
			"mutation.defaults.secomp: unknown default", `mutation.resources.limits.cpu: "lots" is not a positive quantity`}},

		// ConfigMap form
		{"ConfigMap without policy.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yml: \"\"\n", 0, []string{`src: ConfigMap has no data key "policy.yaml"`}},
		{"ConfigMap without data", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n", 0, []string{`src: ConfigMap has no data key "policy.yaml"`}},
		{"ConfigMap data of the wrong type", "apiVersion: v1\nkind: ConfigMap\ndata: [policy.yaml]\n", 0, []string{"src: json: cannot unmarshal array into Go struct field .data of type map[string]string"}},
		{"ConfigMap with an invalid policy", "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yaml: |\n    apiVersion: bulwark.dev/v1alpha1\n    kind: Policy\n    profile: nope\n", 1, []string{
			"invalid policy src: data.policy.yaml (1 error):\n  profile: unknown profile \"nope\""}},
		{"ConfigMap with broken YAML", "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yaml: \"a: [\"\n", 0, []string{"src: data.policy.yaml: yaml: "}},

		// everything at once, in a fixed order: decoding, header, profile, checks, mutation
		{"multiple errors reported together", "apiVersion: bulwark.dev/v2\nkind: Policy\nprofile: strict\nextra: true\nchecks:\n  nope: {action: warn}\n  privileged: {action: deny}\nmutation:\n  defaults: {nope: true}\n  resources: {requests: {cpu: abc}}\n", 7, []string{
			"invalid policy src (7 errors):\n" +
				"  unknown field \"extra\"\n" +
				"  apiVersion: got \"bulwark.dev/v2\", want \"bulwark.dev/v1alpha1\"\n" +
				"  profile: unknown profile \"strict\" (want one of nsa, baseline, restricted)\n" +
				"  checks.nope: unknown check ID " + known + "\n" +
				"  checks.privileged.action: unknown action \"deny\" (want enforce, warn, audit or off)\n" +
				"  mutation.defaults.nope: unknown default (known: automount-service-account-token, drop-capabilities, privilege-escalation, read-only-root-filesystem, resources, run-as-non-root, seccomp)\n" +
				"  mutation.resources.requests.cpu: \"abc\" is not a positive quantity"}},
	}
	header := regexp.MustCompile(`^invalid policy (.+) \((\d+) (error|errors)\):\n`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.Parse([]byte(tc.doc), "src")
			if err == nil {
				t.Fatalf("Parse accepted the document: %+v", s)
			}
			if s != nil {
				t.Errorf("Parse returned a snapshot with an error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			m := header.FindStringSubmatch(msg)
			switch {
			case tc.count == 0 && m != nil:
				t.Errorf("want an error without a header, got:\n%s", msg)
			case tc.count == 0:
				return
			case m == nil:
				t.Fatalf("no \"invalid policy <source> (N errors):\" header:\n%s", msg)
			}
			n, _ := strconv.Atoi(m[2])
			lines := strings.Split(strings.TrimPrefix(msg, m[0]), "\n")
			if n != tc.count || len(lines) != n {
				t.Errorf("header says %d errors and %d lines follow, want %d:\n%s", n, len(lines), tc.count, msg)
			}
			if (n == 1) != (m[3] == "error") {
				t.Errorf("header %q: wrong plural", m[0])
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "  ") || strings.TrimSpace(l) == "" {
					t.Errorf("error line %q is not indented by two spaces", l)
				}
			}
		})
	}
}

// TestLoadFile reads documents from disk, the source being the path.
func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(good, []byte(head+"profile: restricted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := policy.LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != good || s.Profile != policy.Restricted {
		t.Errorf("Source %q, Profile %q", s.Source, s.Profile)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(head+"profile: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.LoadFile(bad); err == nil || !strings.HasPrefix(err.Error(), "invalid policy "+bad+" (1 error):") {
		t.Errorf("LoadFile(bad) = %v", err)
	}
	if _, err := policy.LoadFile(filepath.Join(dir, "missing.yaml")); !os.IsNotExist(err) {
		t.Errorf("LoadFile(missing) = %v, want a not-exist error", err)
	}
}

// TestFromProfile covers the built-in profiles and an unknown name.
func TestFromProfile(t *testing.T) {
	for _, name := range policy.Profiles {
		s, err := policy.FromProfile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Profile != name || s.Source != "profile "+name || s.Hash == "" {
			t.Errorf("%s: %+v", name, s)
		}
	}
	if policy.Profiles[0] != policy.NSA {
		t.Errorf("the default profile is %q, want nsa first in Profiles", policy.Profiles[0])
	}
	_, err := policy.FromProfile("pss")
	if err == nil || err.Error() != "invalid policy profile pss (1 error):\n  profile: unknown profile \"pss\" (want one of nsa, baseline, restricted)" {
		t.Errorf("FromProfile(pss) = %v", err)
	}
}

// TestHolder swaps snapshots.
func TestHolder(t *testing.T) {
	a, b := profile(t, policy.NSA), profile(t, policy.Baseline)
	h := policy.NewHolder(a)
	var src policy.Source = h
	if src.Current() != a {
		t.Fatal("Current is not the initial snapshot")
	}
	h.Store(b)
	if src.Current() != b {
		t.Fatal("Current is not the stored snapshot")
	}
}

func wantProfile(t *testing.T, s *policy.Snapshot, name string) {
	t.Helper()
	if s.Profile != name {
		t.Errorf("Profile = %q, want %q", s.Profile, name)
	}
}

func wantAction(t *testing.T, s *policy.Snapshot, id string, a checks.Action) {
	t.Helper()
	if got := s.Checks.Action(id); got != a {
		t.Errorf("%s: action %q, want %q", id, got, a)
	}
}

// sameActions requires s to have the actions of the profile snapshot p for every check.
func sameActions(t *testing.T, s, p *policy.Snapshot) {
	t.Helper()
	for _, id := range checks.IDs() {
		if s.Checks.Action(id) != p.Checks.Action(id) {
			t.Errorf("%s: action %q, profile %s has %q", id, s.Checks.Action(id), p.Profile, p.Checks.Action(id))
		}
	}
}

// sameOptions compares mutation options, quantities by value.
func sameOptions(a, b mutate.Options) bool {
	for _, name := range mutate.Names() {
		if a.Enabled(name) != b.Enabled(name) {
			return false
		}
	}
	return a.Requests.CPU.Cmp(b.Requests.CPU) == 0 && a.Requests.Memory.Cmp(b.Requests.Memory) == 0 &&
		a.Limits.CPU.Cmp(b.Limits.CPU) == 0 && a.Limits.Memory.Cmp(b.Limits.Memory) == 0
}
