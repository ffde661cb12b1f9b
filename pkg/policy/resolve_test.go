package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// resolvePolicy exercises every part of Resolve.
const resolvePolicy = head + `profile: nsa
namespaces:
  exempt: [kube-system, infra]
  rules:
    - name: payments
      selector:
        matchLabels: {team: payments}
      action: enforce
    - name: sandboxes
      names: ["sandbox-*", play]
      action: warn
      checks:
        privileged: {action: enforce}
        image-registry: {action: "off"}
    - name: gold-teams
      names: ["team-*"]
      selector:
        matchExpressions:
          - {key: tier, operator: In, values: [gold]}
      checks:
        image-tag: {action: enforce}
exemptions:
  - name: admins
    reason: platform team
    groups: [platform-admins]
  - name: ci
    reason: the deploy pipeline
    serviceAccounts: [ci/deployer]
    namespace: staging
  - name: alice-images
    reason: tries out images
    users: [alice@example.com]
    checks: [image-tag, image-registry]
  - name: legacy-billing
    reason: needs hostPath until Q1, TICKET-123
    expires: 2026-12-31
    namespace: billing
    kinds: [Deployment]
    names: ["legacy-*"]
    checks: [host-path, volume-types]
  - name: old-reports
    reason: retired
    expires: 2026-06-30T12:00:00Z
    namespace: billing
    names: ["reports-*"]
  - name: web-defaults
    reason: the image sets its own user and profile
    namespace: web
    checks: [seccomp-required, run-as-non-root, resource-limits]
  - name: web-images
    reason: registry migration
    namespace: web
    kinds: [Deployment]
    checks: [image-registry]
`

var (
	beforeExpiry = time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	afterExpiry  = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

func mustParse(t testing.TB, doc string) *policy.Snapshot {
	t.Helper()
	s, err := policy.Parse([]byte(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResolve covers exempt namespaces, rules, the mode label and exemptions.
func TestResolve(t *testing.T) {
	s := mustParse(t, resolvePolicy)
	nsa := profile(t, policy.NSA)
	req := func(ns string, labels map[string]string) policy.Request {
		return policy.Request{Namespace: ns, NamespaceLabels: labels, OwnNamespace: "bulwark-system",
			UserName: "bob", Groups: []string{"system:authenticated"}, Kind: "Deployment", Name: "web", Now: beforeExpiry}
	}
	with := func(r policy.Request, f func(*policy.Request)) policy.Request { f(&r); return r }
	none := map[string]string{}

	type want struct {
		exempt       bool
		reason       string // substring
		rule         string
		mode         checks.Action
		exemptChecks map[string]string
		expired      []string
		warnings     []string // substrings, one per warning
		mutation     string   // "policy": the snapshot's; "none"; or the defaults left on, comma-separated
	}
	tests := []struct {
		name  string
		req   policy.Request
		want  want
		check func(t *testing.T, d policy.Decision)
	}{
		{"plain namespace: the policy", req("apps", none), want{mutation: "policy"}, func(t *testing.T, d policy.Decision) {
			if d.Checks != s.Checks {
				t.Error("Checks are not the policy's")
			}
		}},
		{"exempt namespace", req("kube-system", none), want{exempt: true, reason: `namespace "kube-system" is exempt`, mutation: "none"}, nil},
		{"second exempt namespace", req("infra", none), want{exempt: true, reason: `namespace "infra" is exempt`, mutation: "none"}, nil},
		{"own namespace", req("bulwark-system", none), want{exempt: true, reason: `namespace "bulwark-system" is exempt (Bulwark's own namespace)`, mutation: "none"}, nil},
		{"own namespace beats the mode label", req("bulwark-system", map[string]string{policy.ModeLabel: "warn"}), want{exempt: true, reason: "Bulwark's own namespace", mutation: "none"}, nil},
		{"exempt namespaces are exact names", req("kube-system-2", none), want{mutation: "policy"}, nil},
		{"rule by selector", req("pay", map[string]string{"team": "payments"}), want{rule: "payments", mutation: "policy"}, func(t *testing.T, d policy.Decision) {
			wantSettings(t, d.Checks, map[string]checks.Action{"image-tag": checks.Enforce, "run-as-non-root": checks.Enforce,
				"automount-service-account-token": checks.Enforce, "privileged": checks.Enforce})
		}},
		{"selector with labels unknown: no match", req("pay", nil), want{mutation: "policy"}, nil},
		{"rule by pattern", req("sandbox-7", none), want{rule: "sandboxes", mutation: "policy"}, func(t *testing.T, d policy.Decision) {
			wantSettings(t, d.Checks, map[string]checks.Action{"host-network": checks.Warn, "image-tag": checks.Warn,
				"privileged": checks.Enforce, "image-registry": checks.Off, "automount-service-account-token": checks.Warn})
		}},
		{"rule by exact name", req("play", nil), want{rule: "sandboxes", mutation: "policy"}, nil},
		{"pattern must match the whole name", req("my-sandbox-7", none), want{mutation: "policy"}, nil},
		{"first matching rule wins", req("sandbox-pay", map[string]string{"team": "payments"}), want{rule: "payments", mutation: "policy"}, nil},
		{"names and selector: both must match", req("team-a", map[string]string{"tier": "gold"}), want{rule: "gold-teams", mutation: "policy"}, func(t *testing.T, d policy.Decision) {
			wantSettings(t, d.Checks, map[string]checks.Action{"image-tag": checks.Enforce, "host-network": checks.Enforce, "run-as-user": checks.Warn})
		}},
		{"names and selector: the selector fails", req("team-a", map[string]string{"tier": "silver"}), want{mutation: "policy"}, nil},
		{"names and selector: the name fails", req("gold", map[string]string{"tier": "gold"}), want{mutation: "policy"}, nil},

		// the mode label
		{"mode warn", req("apps", map[string]string{policy.ModeLabel: "warn"}), want{mode: checks.Warn, mutation: "policy"}, nil},
		{"mode audit", req("apps", map[string]string{policy.ModeLabel: "audit"}), want{mode: checks.Audit, mutation: "policy"}, nil},
		{"mode off", req("apps", map[string]string{policy.ModeLabel: "off"}), want{exempt: true, mode: checks.Off, reason: `namespace "apps" has the label bulwark.dev/mode=off`, mutation: "none"}, nil},
		{"mode with a rule", req("sandbox-1", map[string]string{policy.ModeLabel: "audit"}), want{rule: "sandboxes", mode: checks.Audit, mutation: "policy"}, nil},
		{"invalid mode", req("apps", map[string]string{policy.ModeLabel: "relaxed"}), want{mutation: "policy",
			warnings: []string{`bulwark: namespace "apps" has the label bulwark.dev/mode="relaxed", which is not warn, audit or off; the label is ignored`}}, nil},
		{"mode enforce is not a mode", req("apps", map[string]string{policy.ModeLabel: "enforce"}), want{mutation: "policy", warnings: []string{`mode="enforce"`}}, nil},
		{"mode values are case-sensitive", req("apps", map[string]string{policy.ModeLabel: "Off"}), want{mutation: "policy", warnings: []string{`mode="Off"`}}, nil},

		// exemptions by who asks
		{"group exemption", with(req("apps", none), func(r *policy.Request) { r.Groups = []string{"system:authenticated", "platform-admins"} }),
			want{exempt: true, reason: `exemption "admins" (group "platform-admins")`, mutation: "none"}, nil},
		{"group exemption applies in every namespace", with(req("sandbox-1", none), func(r *policy.Request) { r.Groups = []string{"platform-admins"} }),
			want{exempt: true, reason: `exemption "admins"`, rule: "sandboxes", mutation: "none"}, nil},
		{"service account exemption", with(req("staging", none), func(r *policy.Request) { r.UserName = "system:serviceaccount:ci:deployer" }),
			want{exempt: true, reason: `exemption "ci" (service account ci/deployer, Deployment "staging/web")`, mutation: "none"}, nil},
		{"service account exemption: other namespace of the object", with(req("prod", none), func(r *policy.Request) { r.UserName = "system:serviceaccount:ci:deployer" }),
			want{mutation: "policy"}, nil},
		{"service account exemption: other account", with(req("staging", none), func(r *policy.Request) { r.UserName = "system:serviceaccount:ci:builder" }),
			want{mutation: "policy"}, nil},
		{"a user named like the account is not the account", with(req("staging", none), func(r *policy.Request) { r.UserName = "ci/deployer" }),
			want{mutation: "policy"}, nil},
		{"user exemption with checks", with(req("apps", none), func(r *policy.Request) { r.UserName = "alice@example.com" }),
			want{exemptChecks: map[string]string{"image-tag": "alice-images", "image-registry": "alice-images"}, mutation: "policy"}, func(t *testing.T, d policy.Decision) {
				wantSettings(t, d.Checks, map[string]checks.Action{"image-tag": checks.Off, "image-registry": checks.Off, "host-network": checks.Enforce})
			}},
		{"user names are exact", with(req("apps", none), func(r *policy.Request) { r.UserName = "Alice@example.com" }), want{mutation: "policy"}, nil},

		// exemptions by workload, and expiry
		{"workload exemption before expiry", with(req("billing", none), func(r *policy.Request) { r.Name = "legacy-api" }),
			want{exemptChecks: map[string]string{"host-path": "legacy-billing", "volume-types": "legacy-billing"}, mutation: "policy"}, func(t *testing.T, d policy.Decision) {
				wantSettings(t, d.Checks, map[string]checks.Action{"host-path": checks.Off, "volume-types": checks.Off, "privileged": checks.Enforce})
			}},
		{"workload exemption: other kind", with(req("billing", none), func(r *policy.Request) { r.Name, r.Kind = "legacy-api", "StatefulSet" }), want{mutation: "policy"}, nil},
		{"workload exemption: other name", with(req("billing", none), func(r *policy.Request) { r.Name = "api-legacy" }), want{mutation: "policy"}, nil},
		{"workload exemption: other namespace", with(req("billing-2", none), func(r *policy.Request) { r.Name = "legacy-api" }), want{mutation: "policy"}, nil},
		{"workload exemption after expiry", with(req("billing", none), func(r *policy.Request) { r.Name, r.Now = "legacy-api", afterExpiry }),
			want{expired: []string{"legacy-billing"}, mutation: "policy",
				warnings: []string{`bulwark: exemption "legacy-billing" expired on 2026-12-31 and no longer applies`}}, func(t *testing.T, d policy.Decision) {
				if d.Checks != s.Checks {
					t.Error("an expired exemption changed the checks")
				}
				if want := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); !d.Expired[0].Expires.Equal(want) {
					t.Errorf("Expires = %v, want %v", d.Expired[0].Expires, want)
				}
			}},
		{"full exemption before an RFC 3339 expiry", with(req("billing", none), func(r *policy.Request) {
			r.Name, r.Kind, r.Now = "reports-q3", "CronJob", time.Date(2026, 6, 30, 11, 59, 59, 0, time.UTC)
		}), want{exempt: true, reason: `exemption "old-reports" (CronJob "billing/reports-q3")`, mutation: "none"}, nil},
		{"full exemption at its RFC 3339 expiry", with(req("billing", none), func(r *policy.Request) {
			r.Name, r.Kind, r.Now = "reports-q3", "CronJob", time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
		}), want{expired: []string{"old-reports"}, mutation: "policy", warnings: []string{`exemption "old-reports" expired on 2026-06-30T12:00:00Z`}}, nil},
		{"exemptions are not consulted in an exempt namespace", with(req("kube-system", none), func(r *policy.Request) { r.Name, r.Now = "legacy-api", afterExpiry }),
			want{exempt: true, reason: "is exempt", mutation: "none"}, nil},
		{"mode and an exemption with checks", with(req("billing", map[string]string{policy.ModeLabel: "warn"}), func(r *policy.Request) { r.Name = "legacy-api" }),
			want{mode: checks.Warn, exemptChecks: map[string]string{"host-path": "legacy-billing", "volume-types": "legacy-billing"}, mutation: "policy"}, nil},

		// exemptions and mutation
		{"exempt checks turn their mutation defaults off", with(req("web", none), func(r *policy.Request) { r.Kind = "StatefulSet" }),
			want{exemptChecks: map[string]string{"seccomp-required": "web-defaults", "run-as-non-root": "web-defaults", "resource-limits": "web-defaults"},
				mutation: "privilege-escalation,drop-capabilities"}, nil},
		{"two exemptions with checks at once", req("web", none),
			want{exemptChecks: map[string]string{"seccomp-required": "web-defaults", "run-as-non-root": "web-defaults", "resource-limits": "web-defaults", "image-registry": "web-images"},
				mutation: "privilege-escalation,drop-capabilities"}, func(t *testing.T, d policy.Decision) {
				wantSettings(t, d.Checks, map[string]checks.Action{"seccomp-required": checks.Off, "run-as-non-root": checks.Off, "resource-limits": checks.Off,
					"image-registry": checks.Off, "seccomp": checks.Enforce, "resource-requests": checks.Warn})
				if d2 := s.Resolve(req("web", none)); d2.Checks != d.Checks {
					t.Error("the settings of two exemptions are compiled again for the same request")
				}
			}},
		{"exempt checks without mutation defaults keep the snapshot's options", with(req("apps", none), func(r *policy.Request) { r.UserName = "alice@example.com" }),
			want{exemptChecks: map[string]string{"image-tag": "alice-images", "image-registry": "alice-images"}, mutation: "policy"}, nil},
		{"zero Now is the current time", with(req("billing", none), func(r *policy.Request) { r.Name, r.Kind, r.Now = "reports-q3", "CronJob", time.Time{} }),
			want{expired: []string{"old-reports"}, mutation: "policy", warnings: []string{"expired on 2026-06-30T12:00:00Z"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := s.Resolve(tc.req)
			w := tc.want
			if d.Exempt != w.exempt {
				t.Errorf("Exempt = %v, want %v (reason %q)", d.Exempt, w.exempt, d.Reason)
			}
			if w.reason != "" && !strings.Contains(d.Reason, w.reason) || w.reason == "" && d.Reason != "" {
				t.Errorf("Reason = %q, want %q", d.Reason, w.reason)
			}
			if d.Rule != w.rule {
				t.Errorf("Rule = %q, want %q", d.Rule, w.rule)
			}
			if d.Mode != w.mode {
				t.Errorf("Mode = %q, want %q", d.Mode, w.mode)
			}
			if !w.exempt && !maps.Equal(d.ExemptChecks, w.exemptChecks) {
				t.Errorf("ExemptChecks = %v, want %v", d.ExemptChecks, w.exemptChecks)
			}
			var expired []string
			for _, e := range d.Expired {
				expired = append(expired, e.Name)
			}
			if !slices.Equal(expired, w.expired) {
				t.Errorf("Expired = %v, want %v", d.Expired, w.expired)
			}
			if len(d.Warnings) != len(w.warnings) {
				t.Errorf("Warnings = %q, want %d", d.Warnings, len(w.warnings))
			} else {
				for i, sub := range w.warnings {
					if !strings.Contains(d.Warnings[i], sub) {
						t.Errorf("warning %d = %q, want it to contain %q", i, d.Warnings[i], sub)
					}
				}
			}
			if d.Checks == nil {
				t.Error("Checks is nil")
			}
			switch w.mutation {
			case "policy":
				if d.Mutation != s.Mutation {
					t.Errorf("Mutation = %+v, want the snapshot's", d.Mutation)
				}
			case "none":
				if d.Mutation != nil {
					t.Errorf("Mutation = %+v, want none", d.Mutation)
				}
			default:
				if d.Mutation == nil || d.Mutation == s.Mutation {
					t.Fatalf("Mutation = %p, want a narrowed copy", d.Mutation)
				}
				var on []string
				for _, n := range mutate.Names() {
					if d.Mutation.Enabled(n) {
						on = append(on, n)
					}
				}
				if got := strings.Join(on, ","); got != w.mutation {
					t.Errorf("mutation defaults on: %s, want %s", got, w.mutation)
				}
				if !sameOptions(*s.Mutation, *nsa.Mutation) {
					t.Error("Resolve changed the snapshot's mutation options")
				}
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

// wantSettings checks the action of some checks in settings.
func wantSettings(t *testing.T, s *checks.Settings, want map[string]checks.Action) {
	t.Helper()
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if got := s.Action(id); got != want[id] {
			t.Errorf("%s: action %q, want %q", id, got, want[id])
		}
	}
}

// TestResolveSupersededChecks: an exemption from a check that covers another (drop-capabilities
// covers capabilities, volume-types host-path, seccomp-required seccomp) lets the covered
// check run again, so the exemption never opens more than it names.
func TestResolveSupersededChecks(t *testing.T) {
	s := mustParse(t, head+`profile: restricted
namespaces:
  rules:
    - {name: strict, names: [strict], action: enforce}
exemptions:
  - {name: caps, reason: r, namespace: net, checks: [drop-capabilities]}
  - {name: vols, reason: r, namespace: nfs, checks: [volume-types]}
  - {name: both, reason: r, namespace: both, checks: [volume-types, host-path]}
  - {name: sec, reason: r, namespace: strict, checks: [seccomp-required]}
`)
	if active := s.Checks.Active(); slices.Contains(active, "capabilities") || slices.Contains(active, "host-path") || slices.Contains(active, "seccomp") {
		t.Fatalf("restricted runs superseded checks: %q", active)
	}
	tests := []struct {
		ns          string
		on, offList []string
	}{
		{"net", []string{"capabilities"}, []string{"drop-capabilities"}},
		{"nfs", []string{"host-path"}, []string{"volume-types"}},
		{"both", nil, []string{"host-path", "volume-types"}},
		{"strict", []string{"seccomp"}, []string{"seccomp-required"}},
	}
	for _, tc := range tests {
		d := s.Resolve(policy.Request{Namespace: tc.ns, Kind: "Pod", Name: "p", Now: beforeExpiry})
		active := d.Checks.Active()
		for _, id := range tc.on {
			if !slices.Contains(active, id) {
				t.Errorf("%s: %s does not run: %q", tc.ns, id, active)
			}
		}
		for _, id := range tc.offList {
			if slices.Contains(active, id) {
				t.Errorf("%s: exempted %s runs: %q", tc.ns, id, active)
			}
		}
	}
}

// TestResolveConcurrent resolves requests that need combined settings from many goroutines
// (run with -race).
func TestResolveConcurrent(t *testing.T) {
	s := mustParse(t, resolvePolicy)
	r := policy.Request{Namespace: "web", Kind: "Deployment", Name: "web", UserName: "alice@example.com", Now: beforeExpiry}
	want := s.Resolve(r).Checks
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if d := s.Resolve(r); d.Checks != want || len(d.ExemptChecks) != 5 {
					t.Errorf("Checks %p, want %p; ExemptChecks %v", d.Checks, want, d.ExemptChecks)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestApply covers dropping exempted checks and lowering actions by mode.
func TestApply(t *testing.T) {
	vs := []checks.Violation{
		{Check: "host-path", Field: "spec.volumes[0].hostPath", Action: checks.Enforce},
		{Check: "image-tag", Field: "spec.containers[0].image", Action: checks.Warn},
		{Check: "automount-service-account-token", Field: "spec.automountServiceAccountToken", Action: checks.Audit},
		{Check: "privileged", Field: "spec.containers[0].securityContext.privileged", Action: checks.Enforce},
	}
	tests := []struct {
		name string
		d    policy.Decision
		want []string // check:action
	}{
		{"nothing to do", policy.Decision{}, []string{"host-path:enforce", "image-tag:warn", "automount-service-account-token:audit", "privileged:enforce"}},
		{"exempt", policy.Decision{Exempt: true}, nil},
		{"mode off", policy.Decision{Mode: checks.Off}, nil},
		{"mode warn", policy.Decision{Mode: checks.Warn}, []string{"host-path:warn", "image-tag:warn", "automount-service-account-token:audit", "privileged:warn"}},
		{"mode audit", policy.Decision{Mode: checks.Audit}, []string{"host-path:audit", "image-tag:audit", "automount-service-account-token:audit", "privileged:audit"}},
		{"exempt checks", policy.Decision{ExemptChecks: map[string]string{"host-path": "x", "image-tag": "y"}},
			[]string{"automount-service-account-token:audit", "privileged:enforce"}},
		{"exempt checks and mode", policy.Decision{ExemptChecks: map[string]string{"privileged": "x"}, Mode: checks.Warn},
			[]string{"host-path:warn", "image-tag:warn", "automount-service-account-token:audit"}},
		{"every check exempt", policy.Decision{ExemptChecks: map[string]string{"host-path": "x", "image-tag": "x", "automount-service-account-token": "x", "privileged": "x"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(vs)
			out := tc.d.Apply(in)
			var got []string
			for _, v := range out {
				got = append(got, v.Check+":"+string(v.Action))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Apply = %q, want %q", got, tc.want)
			}
			if !reflect.DeepEqual(in, vs) {
				t.Error("Apply changed its input")
			}
		})
	}
	if out := (&policy.Decision{}).Apply(nil); len(out) != 0 {
		t.Errorf("Apply(nil) = %v", out)
	}
}

// TestResolvePolicyMode: the policy's mode lowers every namespace as the mode label does, and
// where both apply the lower wins; the label's off still exempts.
func TestResolvePolicyMode(t *testing.T) {
	labels := func(v string) map[string]string {
		if v == "" {
			return nil
		}
		return map[string]string{policy.ModeLabel: v}
	}
	tests := []struct {
		mode, label string
		want        checks.Action
		exempt      bool
	}{
		{"", "", "", false},
		{"enforce", "warn", checks.Warn, false},
		{"warn", "", checks.Warn, false},
		{"warn", "audit", checks.Audit, false},
		{"audit", "", checks.Audit, false},
		{"audit", "warn", checks.Audit, false},
		{"audit", "off", checks.Off, true},
	}
	for _, tc := range tests {
		t.Run(tc.mode+"/"+tc.label, func(t *testing.T) {
			doc := head + "profile: nsa\n"
			if tc.mode != "" {
				doc += "mode: " + tc.mode + "\n"
			}
			s := mustParse(t, doc)
			d := s.Resolve(policy.Request{Namespace: "apps", NamespaceLabels: labels(tc.label), Kind: "Pod", Name: "p"})
			if d.Mode != tc.want || d.Exempt != tc.exempt {
				t.Errorf("Mode %q, Exempt %v; want %q, %v", d.Mode, d.Exempt, tc.want, tc.exempt)
			}
			// Mutation follows the policy's mode only: audit changes nothing; the label does
			// not turn the mutation off.
			if wantOn := tc.mode != "audit"; !tc.exempt && (d.Mutation != nil) != wantOn {
				t.Errorf("mutation on: %v, want %v", d.Mutation != nil, wantOn)
			}
			for _, m := range []string{"enforce", "warn", "audit"} {
				c, err := s.WithMode(m)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[string]checks.Action{"warn": checks.Warn, "audit": checks.Audit}[m]; c.Mode != want || (c.Mutation != nil) != (m != "audit") {
					t.Errorf("WithMode(%s): Mode %q, mutation %v", m, c.Mode, c.Mutation != nil)
				}
				if c.Mutation != nil && c.Mutation == s.Mutation {
					t.Errorf("WithMode(%s) shares the mutation options of the original", m)
				}
			}
			want := tc.mode
			if want == "" {
				want = "enforce"
			}
			if got := s.Effective().Mode; got != want {
				t.Errorf("Effective().Mode = %q, want %q", got, want)
			}
		})
	}
}

// TestParseNamespacesAndExemptions pins what the new sections compile to.
func TestParseNamespacesAndExemptions(t *testing.T) {
	own := policy.Request{Namespace: "kube-system", Kind: "Pod", Name: "p"}
	tests := []struct {
		name string
		doc  string
		ns   string
		want bool // the namespace is exempt
	}{
		{"no namespaces section: kube-system exempt", head, "kube-system", true},
		{"exempt absent: kube-system exempt", head + "namespaces: {rules: []}\n", "kube-system", true},
		{"exempt null: kube-system exempt", head + "namespaces: {exempt: null}\n", "kube-system", true},
		{"exempt empty: none", head + "namespaces: {exempt: []}\n", "kube-system", false},
		{"exempt listed", head + "namespaces: {exempt: [tools]}\n", "tools", true},
		{"exempt listed replaces the default", head + "namespaces: {exempt: [tools]}\n", "kube-system", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.doc)
			r := own
			r.Namespace = tc.ns
			if d := s.Resolve(r); d.Exempt != tc.want {
				t.Errorf("%s: Exempt = %v, want %v", tc.ns, d.Exempt, tc.want)
			}
		})
	}
	t.Run("hash covers the new sections", func(t *testing.T) {
		a := mustParse(t, head+"exemptions: [{name: a, reason: r, users: [x]}]\n")
		b := mustParse(t, head+"exemptions: [{name: a, reason: r, users: [y]}]\n")
		c := mustParse(t, head+"namespaces: {exempt: [kube-system]}\n")
		d := mustParse(t, head)
		if a.Hash == b.Hash || c.Hash == d.Hash {
			t.Errorf("hashes: %s %s %s %s", a.Hash, b.Hash, c.Hash, d.Hash)
		}
		// The hash of a document without the new sections is what it was before they existed.
		sum := sha256.Sum256([]byte(`{"apiVersion":"bulwark.dev/v1alpha1","kind":"Policy"}`))
		if want := hex.EncodeToString(sum[:8]); d.Hash != want {
			t.Errorf("hash of the minimal document is %s, want %s", d.Hash, want)
		}
	})
	t.Run("YAML 1.1 booleans", func(t *testing.T) {
		s := mustParse(t, head+"profile: baseline\nmutation: {enabled: yes, defaults: {seccomp: off, read-only-root-filesystem: on}}\n")
		if s.Mutation == nil || s.Mutation.Seccomp || !s.Mutation.ReadOnlyRootFilesystem {
			t.Errorf("mutation = %+v", s.Mutation)
		}
	})
	t.Run("names lists", func(t *testing.T) {
		s := mustParse(t, resolvePolicy)
		if got := s.RuleNames(); !slices.Equal(got, []string{"payments", "sandboxes", "gold-teams"}) {
			t.Errorf("RuleNames = %q", got)
		}
		if got := s.ExemptionNames(); len(got) != 7 || got[0] != "admins" {
			t.Errorf("ExemptionNames = %q", got)
		}
		if got := s.ExpiredExemptions(afterExpiry); len(got) != 2 || got[0].Name != "legacy-billing" || got[1].Name != "old-reports" {
			t.Errorf("ExpiredExemptions = %+v", got)
		}
		if got := s.ExpiredExemptions(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); len(got) != 0 {
			t.Errorf("ExpiredExemptions = %+v", got)
		}
	})
}

// TestEffective: the effective document parses back to the same policy.
func TestEffective(t *testing.T) {
	docs := map[string]string{"resolve policy": resolvePolicy}
	for _, p := range policy.Profiles {
		docs["profile "+p] = head + "profile: " + p + "\n"
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			s := mustParse(t, doc)
			eff := s.Effective()
			js, err := json.Marshal(eff)
			if err != nil {
				t.Fatal(err)
			}
			back := mustParse(t, string(js))
			if !reflect.DeepEqual(back.Effective(), eff) {
				t.Errorf("effective documents differ:\n%s\n%s", js, mustJSON(t, back.Effective()))
			}
			sameActions(t, back, s)
			if !reflect.DeepEqual(back.Checks.Params(), s.Checks.Params()) {
				t.Errorf("params %+v, want %+v", back.Checks.Params(), s.Checks.Params())
			}
			if (back.Mutation == nil) != (s.Mutation == nil) || s.Mutation != nil && !sameOptions(*back.Mutation, *s.Mutation) {
				t.Errorf("mutation %+v, want %+v", back.Mutation, s.Mutation)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// TestSamplePolicies parses every policy of config/samples/policies and checks what each
// promises.
func TestSamplePolicies(t *testing.T) {
	files, err := filepath.Glob("../../config/samples/policies/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("sample policies: %q, %v", files, err)
	}
	snaps := map[string]*policy.Snapshot{}
	for _, f := range files {
		s, err := policy.LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !strings.HasSuffix(s.Source, ": data.policy.yaml") {
			t.Errorf("%s: not a ConfigMap manifest (source %q)", f, s.Source)
		}
		snaps[filepath.Base(f)] = s
	}
	r := func(ns string, labels map[string]string) policy.Request {
		return policy.Request{Namespace: ns, NamespaceLabels: labels, OwnNamespace: "bulwark-system", UserName: "dev", Kind: "Deployment", Name: "app", Now: beforeExpiry}
	}
	if s := snaps["strict-production.yaml"]; s != nil {
		if s.Profile != policy.Restricted || s.Mutation == nil || len(s.Checks.Params().AllowedRegistries) == 0 || len(s.ExemptionNames()) == 0 {
			t.Errorf("strict-production: %+v", s)
		}
		wantAction(t, s, "image-registry", checks.Enforce)
		if g := s.Guardrails(); !g.Create || g.OnDelete != policy.OnDeleteRecreate {
			t.Errorf("strict-production: guardrails %s, want creation on", g)
		}
		team := s.Resolve(policy.Request{Namespace: "team-a", Kind: "Namespace", Name: "team-a", Now: beforeExpiry})
		for _, id := range []string{"namespace-quota", "namespace-limit-range", "namespace-network-policy"} {
			if !s.Guardrails().InForce(&team, id) {
				t.Errorf("strict-production: the guardrail of %s is not in force in team-a", id)
			}
		}
		d := s.Resolve(policy.Request{Namespace: "monitoring", Kind: "DaemonSet", Name: "node-exporter", Now: beforeExpiry})
		if _, ok := d.ExemptChecks["host-network"]; !ok {
			t.Errorf("strict-production: node-exporter is not exempt from host-network: %+v", d)
		}
	}
	if s := snaps["mixed-teams.yaml"]; s != nil {
		wantProfile(t, s, policy.NSA)
		if d := s.Resolve(r("billing", map[string]string{"team": "payments"})); d.Rule != "payments-enforce-all" || d.Checks.Action("image-tag") != checks.Enforce {
			t.Errorf("mixed-teams: team=payments: rule %q, image-tag %q", d.Rule, d.Checks.Action("image-tag"))
		}
		if d := s.Resolve(r("sandbox-joe", map[string]string{})); d.Rule != "sandboxes-warn" || d.Checks.Action("host-network") != checks.Warn || d.Checks.Action("privileged") != checks.Enforce {
			t.Errorf("mixed-teams: sandbox-joe: rule %q, host-network %q", d.Rule, d.Checks.Action("host-network"))
		}
	}
	if s := snaps["migrate-from-psa.yaml"]; s != nil {
		wantProfile(t, s, policy.Baseline)
		const label = "pod-security.kubernetes.io/enforce"
		restricted := profile(t, policy.Restricted)
		d := s.Resolve(r("a", map[string]string{label: "restricted"}))
		for _, id := range checks.IDs() {
			if got, want := d.Checks.Action(id), restricted.Checks.Action(id); got != want {
				t.Errorf("migrate-from-psa: enforce=restricted: %s is %q, restricted has %q", id, got, want)
			}
		}
		d = s.Resolve(r("b", map[string]string{label: "baseline"}))
		sameSettings(t, "enforce=baseline", d.Checks, profile(t, policy.Baseline).Checks)
		d = s.Resolve(r("c", map[string]string{label: "privileged"}))
		if len(d.Checks.Active()) != 0 {
			t.Errorf("migrate-from-psa: enforce=privileged runs %q", d.Checks.Active())
		}
		d = s.Resolve(r("d", map[string]string{}))
		if d.Rule != "psa-unlabelled" || d.Checks.Action("privileged") != checks.Warn {
			t.Errorf("migrate-from-psa: unlabelled: rule %q, privileged %q", d.Rule, d.Checks.Action("privileged"))
		}
	}
}

func sameSettings(t *testing.T, name string, a, b *checks.Settings) {
	t.Helper()
	for _, id := range checks.IDs() {
		if a.Action(id) != b.Action(id) {
			t.Errorf("%s: %s is %q, want %q", name, id, a.Action(id), b.Action(id))
		}
	}
}

// BenchmarkResolve measures the per-request cost of the policy: a namespace matched by a rule
// pattern and one by a selector, a request an exemption with checks matches, and one no rule
// or exemption matches.
func BenchmarkResolve(b *testing.B) {
	s := mustParse(b, resolvePolicy)
	labels := map[string]string{"team": "payments", "kubernetes.io/metadata.name": "pay"}
	cases := []struct {
		name string
		req  policy.Request
	}{
		{"no match", policy.Request{Namespace: "apps", NamespaceLabels: map[string]string{}, OwnNamespace: "bulwark-system", UserName: "bob", Groups: []string{"system:authenticated"}, Kind: "Deployment", Name: "web", Now: beforeExpiry}},
		{"rule by pattern", policy.Request{Namespace: "sandbox-1", NamespaceLabels: map[string]string{}, OwnNamespace: "bulwark-system", UserName: "bob", Kind: "Deployment", Name: "web", Now: beforeExpiry}},
		{"rule by selector", policy.Request{Namespace: "pay", NamespaceLabels: labels, OwnNamespace: "bulwark-system", UserName: "bob", Kind: "Deployment", Name: "web", Now: beforeExpiry}},
		{"exemption with checks", policy.Request{Namespace: "billing", NamespaceLabels: map[string]string{}, OwnNamespace: "bulwark-system", UserName: "bob", Kind: "Deployment", Name: "legacy-api", Now: beforeExpiry}},
		{"exempt namespace", policy.Request{Namespace: "kube-system", OwnNamespace: "bulwark-system", Kind: "Pod", Name: "x", Now: beforeExpiry}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := s.Resolve(c.req)
				_ = d.Apply(nil)
			}
		})
	}
}
