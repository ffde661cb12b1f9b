package policy_test

import (
	"errors"
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
		{"runAsUser for pods whose images run as root", head + "mutation: {runAsUser: 10001}\n", func(t *testing.T, s *policy.Snapshot) {
			if s.Mutation == nil || s.Mutation.RunAsUser != 10001 {
				t.Errorf("mutation = %+v, want RunAsUser 10001", s.Mutation)
			}
			if e := s.Effective().Mutation.RunAsUser; e == nil || *e != 10001 {
				t.Errorf("Effective lost runAsUser: %v", e)
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
// appear; count is the number in the "invalid policy <source> (N errors):" header. Every
// problem is on its own line, indented by two spaces and starting with its line number
// ("line 3: "), or for the policy of a ConfigMap manifest "data.policy.yaml line 3: ".
func TestParseErrors(t *testing.T) {
	known := "(known: " + strings.Join(checks.IDs(), ", ") + ")"
	kinds := "(want one of ClusterRole, ClusterRoleBinding, CronJob, DaemonSet, Deployment, Job, Pod, PodTemplate, ReplicaSet, ReplicationController, Role, RoleBinding, StatefulSet)"
	tests := []struct {
		name  string
		doc   string
		count int
		want  []string
	}{
		// decoding: one problem stops the document
		{"YAML syntax", "a: [", 1, []string{"invalid policy src (1 error):\n  line 1: yaml: did not find expected node content"}},
		{"YAML syntax on a later line", head + "checks:\n  privileged: {action: warn\n", 1, []string{"line 4: yaml: did not find expected ',' or '}'"}},
		{"duplicate key", head + "profile: nsa\nprofile: baseline\n", 1, []string{`line 4: mapping key "profile" already defined at line 3`}},
		{"non-string key", head + "checks:\n  1: {action: warn}\n", 1, []string{"line 4: mapping keys must be strings, found 1 (int)"}},
		{"second document", head + "---\nfoo: 1\n", 1, []string{"line 4: a second YAML document: a policy file holds one document"}},
		{"not an object", "- a\n- b\n", 1, []string{"line 1: expected a policy document (a mapping with apiVersion bulwark.dev/v1alpha1 and kind Policy), found a list"}},
		{"a scalar", "policy\n", 1, []string{`line 1: expected a policy document (a mapping with apiVersion bulwark.dev/v1alpha1 and kind Policy), found the string "policy"`}},

		// values of the wrong type: each reported at its field, together with the rest
		{"kind of the wrong type", "kind: 5\n", 2, []string{"line 1: kind: expected a string, found the number 5", `line 1: apiVersion: got "", want "bulwark.dev/v1alpha1"`}},
		{"profile of the wrong type", head + "profile: 5\n", 1, []string{"line 3: profile: expected a string, found the number 5"}},
		{"checks of the wrong type", head + "checks: [privileged]\n", 1, []string{"line 3: checks: expected a mapping, found a list"}},
		{"action of the wrong type", head + "checks: {privileged: {action: 1}, host-pid: {action: true}}\n", 2, []string{
			`line 3: checks.host-pid.action: unknown action "true" (want enforce, warn, audit or off)`, `line 3: checks.privileged.action: unknown action "1" (want enforce, warn, audit or off)`}},
		{"allowedCapabilities of the wrong type", head + "checks: {capabilities: {allowedCapabilities: NET_RAW}}\n", 1, []string{`line 3: checks.capabilities.allowedCapabilities: expected a list, found the string "NET_RAW"`}},
		{"list item of the wrong type", head + "checks:\n  image-registry:\n    allowedRegistries:\n      - docker.io\n      - {host: ghcr.io}\n", 1, []string{"line 7: checks.image-registry.allowedRegistries[1]: expected a string, found a mapping"}},
		{"enabled of the wrong type", head + "mutation: {enabled: maybe}\n", 1, []string{`line 3: mutation.enabled: expected true or false, found the string "maybe"`}},
		{"defaults of the wrong type", head + "mutation:\n  defaults:\n    seccomp: 1\n", 1, []string{"line 5: mutation.defaults.seccomp: expected true or false, found the number 1"}},
		{"runAsUser of the wrong type", head + "mutation: {runAsUser: nobody}\n", 1, []string{`line 3: mutation.runAsUser: expected a whole number, found the string "nobody"`}},
		{"mode off", head + "mode: \"off\"\n", 1, []string{`line 3: mode: "off" is not a mode: nothing would be checked; want enforce, warn or audit (to stop checking one namespace, label it bulwark.dev/mode=off)`}},
		{"unknown mode", head + "mode: dry-run\n", 1, []string{`line 3: mode: unknown mode "dry-run" (want enforce, warn or audit)`}},
		{"runAsUser root", head + "mutation:\n  runAsUser: 0\n", 1, []string{"line 4: mutation.runAsUser: 0 is not a non-root uid (want 1 to 2147483647)"}},
		{"quantity of the wrong type", head + "mutation: {resources: {limits: {cpu: true}}}\n", 1, []string{`line 3: mutation.resources.limits.cpu: a quantity must be a string such as "500m" or a number, not true`}},
		{"a wrong type does not also fail the checks of its parent", head + "mutation:\n  resources:\n    requests: {cpu: [1]}\n    limits: {cpu: 10m}\n", 1, []string{"line 5: mutation.resources.requests.cpu: a quantity must be"}},
		{"wrong types and other errors together", head + "profile: [nsa]\nchecks:\n  privileged: {action: deny}\nnamespaces:\n  exempt: kube-system\nexemptions: {name: x}\n", 4, []string{
			"line 3: profile: expected a string, found a list", `line 5: checks.privileged.action: unknown action "deny"`,
			`line 7: namespaces.exempt: expected a list, found the string "kube-system"`, "line 8: exemptions: expected a list, found a mapping"}},

		// unknown fields
		{"unknown field", head + "foo: 1\n", 1, []string{"invalid policy src (1 error):\n  line 3: unknown field \"foo\""}},
		{"unknown nested fields", head + "checks:\n  privileged: {acton: warn}\nmutation:\n  enable: true\n  resources: {requests: {gpu: 1}}\n", 3, []string{
			`line 4: unknown field "checks.privileged.acton"`, `line 6: unknown field "mutation.enable"`, `line 7: unknown field "mutation.resources.requests.gpu"`}},
		{"field names are case-sensitive", "apiversion: bulwark.dev/v1alpha1\nKind: Policy\n", 4, []string{
			`line 1: unknown field "apiversion"`, `line 2: unknown field "Kind"`, `line 1: apiVersion: got "", want "bulwark.dev/v1alpha1"`, `line 1: kind: got "", want "Policy"`}},
		{"unknown fields in rules and exemptions", head + "namespaces:\n  rules:\n    - name: a\n      names: [a]\n      action: warn\n      selctor: {}\n      checks: {image-tag: {action: warn, allowedRegistries: []}}\nexemptions:\n  - name: b\n    reason: r\n    user: [alice]\n", 4, []string{
			`line 8: unknown field "namespaces.rules[0].selctor"`, `line 9: unknown field "namespaces.rules[0].checks.image-tag.allowedRegistries"`, `line 13: unknown field "exemptions[0].user"`,
			"line 11: exemptions[0]: an exemption needs at least one of"}},

		// apiVersion and kind
		{"wrong apiVersion", "apiVersion: bulwark.dev/v1\nkind: Policy\n", 1, []string{`line 1: apiVersion: got "bulwark.dev/v1", want "bulwark.dev/v1alpha1"`}},
		{"wrong kind", "apiVersion: bulwark.dev/v1alpha1\nkind: PolicyDocument\n", 1, []string{`line 2: kind: got "PolicyDocument", want "Policy"`}},
		{"empty document", "", 2, []string{`line 1: apiVersion: got "", want "bulwark.dev/v1alpha1"`, `line 1: kind: got "", want "Policy"`}},
		{"only a document separator", "---", 2, []string{`line 1: apiVersion: got "", want "bulwark.dev/v1alpha1"`, `line 1: kind: got "", want "Policy"`}},

		// content
		{"unknown profile", head + "profile: strict\n", 1, []string{`line 3: profile: unknown profile "strict" (want one of nsa, baseline, restricted)`}},
		{"profile names are case-sensitive", head + "profile: Baseline\n", 1, []string{`line 3: profile: unknown profile "Baseline"`}},
		{"unknown check ID", head + "checks: {privileged-container: {action: warn}}\n", 1, []string{"line 3: checks.privileged-container: unknown check ID " + known}},
		{"unknown check ID on its own line", head + "checks:\n  host-network: {action: warn}\n  host-nework: {action: warn}\n", 1, []string{"line 5: checks.host-nework: unknown check ID " + known}},
		{"unknown action", head + "checks: {privileged: {action: deny}}\n", 1, []string{`line 3: checks.privileged.action: unknown action "deny" (want enforce, warn, audit or off)`}},
		{"actions are case-sensitive", head + "checks: {privileged: {action: Enforce}}\n", 1, []string{`line 3: checks.privileged.action: unknown action "Enforce"`}},
		{"allowedCapabilities on another check", head + "checks: {drop-capabilities: {allowedCapabilities: [SYS_ADMIN]}}\n", 1, []string{"line 3: checks.drop-capabilities.allowedCapabilities: only the capabilities check takes this parameter"}},
		{"allowedRegistries on another check", head + "checks: {image-tag: {allowedRegistries: [docker.io]}}\n", 1, []string{"line 3: checks.image-tag.allowedRegistries: only the image-registry check takes this parameter"}},
		{"unknown mutation default", head + "mutation: {defaults: {readonly-root-filesystem: true}}\n", 1, []string{
			"line 3: mutation.defaults.readonly-root-filesystem: unknown default (known: automount-service-account-token, drop-capabilities, pin-digests, privilege-escalation, read-only-root-filesystem, resources, run-as-non-root, seccomp)"}},
		{"bad quantity", head + "mutation: {resources: {requests: {cpu: abc}}}\n", 1, []string{`line 3: mutation.resources.requests.cpu: "abc" is not a positive quantity`}},
		{"zero and negative quantities", head + "mutation: {resources: {requests: {cpu: \"0\", memory: -1Mi}, limits: {cpu: 1Gx, memory: 0}}}\n", 4, []string{
			`line 3: mutation.resources.requests.cpu: "0" is not a positive quantity`, `line 3: mutation.resources.requests.memory: "-1Mi" is not a positive quantity`,
			`line 3: mutation.resources.limits.cpu: "1Gx" is not a positive quantity`, `line 3: mutation.resources.limits.memory: "0" is not a positive quantity`}},
		{"requests above limits", head + "mutation: {resources: {requests: {cpu: 1, memory: 1Gi}}}\n", 2, []string{
			"line 3: mutation.resources: requests.cpu 1 is above limits.cpu 500m", "line 3: mutation.resources: requests.memory 1Gi is above limits.memory 512Mi"}},
		{"mutation is validated while off", head + "profile: baseline\nmutation: {enabled: false, defaults: {secomp: true}, resources: {limits: {cpu: lots}}}\n", 2, []string{
			"line 4: mutation.defaults.secomp: unknown default", `line 4: mutation.resources.limits.cpu: "lots" is not a positive quantity`}},

		// namespaces
		{"exempt namespace names", head + "namespaces:\n  exempt:\n    - kube-system\n    - Kube_Public\n    - kube-system\n", 2, []string{
			`line 6: namespaces.exempt[1]: "Kube_Public" is not a namespace name: a lowercase RFC 1123 label must consist of`,
			`line 7: namespaces.exempt[2]: "kube-system" is listed twice`}},
		{"rule without a name, names or selector, action or checks", head + "namespaces:\n  rules:\n    - {}\n", 3, []string{
			"line 5: namespaces.rules[0].name: required: every rule has a unique name",
			"line 5: namespaces.rules[0]: a rule needs names (namespace name patterns), a selector (on namespace labels) or both",
			"line 5: namespaces.rules[0]: a rule needs an action, checks or both"}},
		{"duplicate and bad rule names", head + "namespaces:\n  rules:\n    - {name: a, names: [x], action: warn}\n    - {name: a, names: [y], action: warn}\n    - {name: -b, names: [z], action: warn}\n", 2, []string{
			`line 6: namespaces.rules[1].name: duplicate rule name "a" (also namespaces.rules[0])`,
			`line 7: namespaces.rules[2].name: "-b" must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`}},
		{"bad patterns", head + "namespaces:\n  rules:\n    - name: a\n      names: [\"team-[\", \"\"]\n      action: warn\n", 2, []string{
			`line 6: namespaces.rules[0].names[0]: bad pattern "team-[": syntax error in pattern (patterns use *, ? and [a-z], as path.Match)`,
			"line 6: namespaces.rules[0].names[1]: an empty pattern matches nothing; remove it"}},
		{"bad selectors", head + "namespaces:\n  rules:\n    - name: a\n      selector:\n        matchLabels:\n          app.kubernetes.io/name: ok\n          \"bad key\": x\n        matchExpressions:\n          - {key: team, operator: In, values: [a]}\n          - {key: team, operator: Near, values: [a]}\n          - {key: tier, operator: Exists, values: [a]}\n      action: warn\n", 3, []string{
			`line 9: namespaces.rules[0].selector.matchLabels[bad key]: key: Invalid value: "bad key": name part must consist of`,
			`line 12: namespaces.rules[0].selector.matchExpressions[1]: "Near" is not a valid label selector operator`,
			`line 13: namespaces.rules[0].selector.matchExpressions[2]: values: Invalid value: ["a"]: values set must be empty for exists and does not exist`}},
		{"rule actions and checks", head + "namespaces:\n  rules:\n    - name: a\n      names: [a]\n      action: block\n      checks:\n        host-nework: {action: warn}\n        image-tag: {action: loud}\n        privileged: {}\n", 4, []string{
			`line 7: namespaces.rules[0].action: unknown action "block" (want enforce, warn, audit or off)`,
			"line 9: namespaces.rules[0].checks.host-nework: unknown check ID " + known,
			`line 10: namespaces.rules[0].checks.image-tag.action: unknown action "loud" (want enforce, warn, audit or off)`,
			"line 11: namespaces.rules[0].checks.privileged.action: required (enforce, warn, audit or off)"}},

		// exemptions
		{"exemption without name, reason or selector", head + "exemptions:\n  - checks: [host-path]\n", 3, []string{
			"line 4: exemptions[0].name: required: every exemption has a unique name",
			"line 4: exemptions[0].reason: required: say why the exemption exists (a ticket, an owner, a date)",
			"line 4: exemptions[0]: an exemption needs at least one of users, groups, serviceAccounts, namespace, kinds or names"}},
		{"duplicate exemption names, blank reason", head + "exemptions:\n  - {name: x, reason: r, users: [a]}\n  - {name: x, reason: \" \", users: [b]}\n", 2, []string{
			`line 5: exemptions[1].name: duplicate exemption name "x" (also exemptions[0])`, "line 5: exemptions[1].reason: required"}},
		{"exemption expiry", head + "exemptions:\n  - name: a\n    reason: r\n    users: [a]\n    expires: 2026-13-01\n  - name: b\n    reason: r\n    users: [b]\n    expires: next week\n", 2, []string{
			`line 7: exemptions[0].expires: "2026-13-01" is neither a date (2026-12-31) nor an RFC 3339 time (2026-12-31T18:00:00Z)`,
			`line 11: exemptions[1].expires: "next week" is neither a date`}},
		{"exemption selectors", head + "exemptions:\n  - name: a\n    reason: r\n    users: [\"\"]\n    groups: [\"\"]\n    serviceAccounts: [deployer, ci/, ci/a/b, CI/deployer, ci/Deployer]\n    namespace: Billing\n    kinds: [deployment, Deployment]\n    names: [\"legacy-[\"]\n    checks: [host-path, hostpath]\n", 11, []string{
			"line 6: exemptions[0].users[0]: an empty user name matches nobody; remove it",
			"line 7: exemptions[0].groups[0]: an empty group name matches nobody; remove it",
			`line 8: exemptions[0].serviceAccounts[0]: "deployer" is not namespace/name (e.g. ci/deployer)`,
			`line 8: exemptions[0].serviceAccounts[1]: "ci/" is not namespace/name`,
			`line 8: exemptions[0].serviceAccounts[2]: "ci/a/b" is not namespace/name`,
			`line 8: exemptions[0].serviceAccounts[3]: "CI/deployer": "CI" is not a namespace name`,
			`line 8: exemptions[0].serviceAccounts[4]: "ci/Deployer": "Deployer" is not a service account name`,
			`line 9: exemptions[0].namespace: "Billing" is not a namespace name`,
			`line 10: exemptions[0].kinds[0]: unknown kind "deployment" ` + kinds,
			`line 11: exemptions[0].names[0]: bad pattern "legacy-[": syntax error in pattern`,
			`line 12: exemptions[0].checks[1]: unknown check ID "hostpath" ` + known}},

		// ConfigMap form: problems of the manifest at its lines, of the policy at the policy's
		{"ConfigMap without policy.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yml: \"\"\n", 1, []string{`line 3: data: the ConfigMap has no data key "policy.yaml"`}},
		{"ConfigMap without data", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n", 1, []string{"invalid policy src (1 error):\n  line 1: data: the ConfigMap has no data key \"policy.yaml\""}},
		{"ConfigMap data of the wrong type", "apiVersion: v1\nkind: ConfigMap\ndata: [policy.yaml]\n", 1, []string{"line 3: data: expected a mapping, found a list"}},
		{"ConfigMap policy.yaml of the wrong type", "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yaml: {profile: nsa}\n", 1, []string{"line 4: data[policy.yaml]: expected a string (the policy document), found a mapping"}},
		{"ConfigMap with an invalid policy", "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yaml: |\n    apiVersion: bulwark.dev/v1alpha1\n    kind: Policy\n    profile: nope\n    namespaces:\n      rules:\n        - name: a\n          names: [a]\n          action: warn\n          selctor: {}\n", 2, []string{
			"invalid policy src: data.policy.yaml (2 errors):\n" +
				"  data.policy.yaml line 3: profile: unknown profile \"nope\" (want one of nsa, baseline, restricted)\n" +
				"  data.policy.yaml line 9: unknown field \"namespaces.rules[0].selctor\""}},
		{"ConfigMap with broken YAML", "apiVersion: v1\nkind: ConfigMap\ndata:\n  policy.yaml: \"a: [\"\n", 1, []string{"invalid policy src: data.policy.yaml (1 error):\n  data.policy.yaml line 1: yaml: did not find expected node content"}},

		// everything at once, ordered by line
		{"multiple errors reported together", "apiVersion: bulwark.dev/v2\nkind: Policy\nprofile: strict\nextra: true\nchecks:\n  nope: {action: warn}\n  privileged: {action: deny}\nmutation:\n  defaults: {nope: true}\n  resources: {requests: {cpu: abc}}\nnamespaces:\n  rules:\n    - name: r\n      names: [\"[\"]\n      action: warn\nexemptions:\n  - name: e\n    users: [a]\n", 9, []string{
			"invalid policy src (9 errors):\n" +
				"  line 1: apiVersion: got \"bulwark.dev/v2\", want \"bulwark.dev/v1alpha1\"\n" +
				"  line 3: profile: unknown profile \"strict\" (want one of nsa, baseline, restricted)\n" +
				"  line 4: unknown field \"extra\"\n" +
				"  line 6: checks.nope: unknown check ID " + known + "\n" +
				"  line 7: checks.privileged.action: unknown action \"deny\" (want enforce, warn, audit or off)\n" +
				"  line 9: mutation.defaults.nope: unknown default (known: automount-service-account-token, drop-capabilities, pin-digests, privilege-escalation, read-only-root-filesystem, resources, run-as-non-root, seccomp)\n" +
				"  line 10: mutation.resources.requests.cpu: \"abc\" is not a positive quantity\n" +
				"  line 14: namespaces.rules[0].names[0]: bad pattern \"[\": syntax error in pattern (patterns use *, ? and [a-z], as path.Match)\n" +
				"  line 17: exemptions[0].reason: required: say why the exemption exists (a ticket, an owner, a date)"}},
	}
	header := regexp.MustCompile(`^invalid policy (.+) \((\d+) (error|errors)\):\n`)
	problemLine := regexp.MustCompile(`^  (data\.policy\.yaml )?line [1-9][0-9]*: \S`)
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
			var pe *policy.Error
			if !errors.As(err, &pe) || len(pe.Problems) != tc.count {
				t.Errorf("want a *policy.Error with %d problems, got %#v", tc.count, err)
			}
			m := header.FindStringSubmatch(msg)
			if m == nil {
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
			last := 0
			for _, l := range lines {
				if !problemLine.MatchString(l) {
					t.Errorf("error line %q does not start with two spaces and its line number", l)
				}
				_, rest, _ := strings.Cut(l, "line ")
				num, _, _ := strings.Cut(rest, ":")
				if k, _ := strconv.Atoi(num); k < last {
					t.Errorf("problems out of line order:\n%s", msg)
				} else {
					last = k
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
