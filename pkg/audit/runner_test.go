package audit

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bulwark-k8s/bulwark/internal/eventnote"
	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
)

func TestCapNamespaces(t *testing.T) {
	perNS := map[string]map[checkAction]int{
		"big":   {{"host-pid", checks.Enforce}: 5, {"privileged", checks.Enforce}: 1},
		"mid":   {{"host-pid", checks.Enforce}: 3},
		"small": {{"host-pid", checks.Enforce}: 1, {"image-tag", checks.Warn}: 2},
		"tiny":  {{"image-tag", checks.Warn}: 1},
	}
	objects := map[string]int{"big": 5, "mid": 3, "small": 2, "tiny": 1}
	got := capNamespaces(perNS, objects, 2)
	want := map[metrics.AuditViolations]int{
		{Namespace: "big", Check: "host-pid", Action: "enforce"}:    5,
		{Namespace: "big", Check: "privileged", Action: "enforce"}:  1,
		{Namespace: "mid", Check: "host-pid", Action: "enforce"}:    3,
		{Namespace: "_other", Check: "host-pid", Action: "enforce"}: 1,
		{Namespace: "_other", Check: "image-tag", Action: "warn"}:   3,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d series %v, want %v", len(got), got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v = %d, want %d", k, got[k], n)
		}
	}
	// Within the cap every namespace keeps its name.
	if got := capNamespaces(perNS, objects, 10); got[metrics.AuditViolations{Namespace: "tiny", Check: "image-tag", Action: "warn"}] != 1 {
		t.Errorf("uncapped: %v", got)
	}
}

func TestCollectorCountsAnObjectOncePerCheck(t *testing.T) {
	web := &Object{Namespace: "a", Name: "web", UID: "u-web", Checked: 10, Violations: []checks.Violation{
		{Check: "image-tag", Action: checks.Warn, Field: "spec.containers[0].image"},
		{Check: "image-tag", Action: checks.Warn, Field: "spec.containers[1].image"},
		{Check: "host-pid", Action: checks.Enforce, Field: "spec.hostPID"},
	}}
	ok := &Object{Namespace: "a", Name: "ok", UID: "u-ok", Checked: 10}
	skipped := &Object{Namespace: "b", Name: "skipped", Exempt: "namespace is exempt"}

	c := newCollector(time.Unix(1700000000, 0), ScopeNamespace)
	for _, o := range []*Object{web, ok, skipped} {
		c.add(o)
	}
	if n := c.violations["a"][checkAction{"image-tag", checks.Warn}]; n != 1 {
		t.Errorf("image-tag objects = %d, want 1", n)
	}
	rep := c.reports[reportKey{"a", ReportName}]
	// 3 results, each a fail whatever its action; pass: 10-2 checks of web + 10 of ok.
	if len(c.reports) != 1 || rep == nil || len(rep.results) != 3 || rep.fail != 3 || rep.pass != 18 || rep.scope != nil {
		t.Fatalf("namespace scope: reports %v; want one of namespace a with 3 results, fail 3, pass 18, no scope", c.reports)
	}

	// Per resource: only the violating object has a report, its passes its own.
	c = newCollector(time.Unix(1700000000, 0), ScopeResource)
	for _, o := range []*Object{web, ok, skipped} {
		c.add(o)
	}
	rep = c.reports[reportKey{"a", "bulwark-u-web"}]
	if len(c.reports) != 1 || rep == nil || len(rep.results) != 3 || rep.fail != 3 || rep.pass != 8 || rep.scope == nil || rep.scope.name != "web" {
		t.Fatalf("resource scope: reports %v; want one, bulwark-u-web, with 3 results, fail 3, pass 8, scope web", c.reports)
	}
	results, _ := rep.render(time.Unix(1700000000, 0))
	for _, r := range results {
		m := r.(map[string]any)
		action := m["properties"].(map[string]any)["action"]
		want := map[string]string{"image-tag": "low", "host-pid": "high"}[m["rule"].(string)]
		if m["result"] != "fail" || m["severity"] != want || (action != "warn" && action != "enforce") {
			t.Errorf("result %v: want fail, severity %s (the check's), the action in properties", m, want)
		}
	}
}

// TestResourceReportName: per-resource report names are valid DNS subdomains, stable, and
// distinct from Kyverno's (the bare UID).
func TestResourceReportName(t *testing.T) {
	withUID := &Object{Namespace: "a", Name: "web", UID: "6b1a6b5e-2f0e-4c4b-9a57-0f1f0c7c1d11"}
	noUID := &Object{Namespace: "a", Name: strings.Repeat("x", 253)}
	for _, o := range []*Object{withUID, noUID} {
		name := ResourceReportName(o)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || len(name) > 44 || name != ResourceReportName(o) || name == string(o.UID) {
			t.Errorf("%s/%s: report name %q (%v)", o.Namespace, o.Name, name, errs)
		}
	}
	if ResourceReportName(withUID) != "bulwark-"+string(withUID.UID) {
		t.Errorf("name %q, want bulwark-<uid>", ResourceReportName(withUID))
	}
}

func TestEventDeduper(t *testing.T) {
	d := newEventDeduper()
	t0 := time.Unix(1700000000, 0)
	o := &Object{UID: "u1", Violations: []checks.Violation{{Check: "host-pid", Action: checks.Enforce, Field: "spec.hostPID"}}}
	if !d.due(o, t0, true) {
		t.Fatal("first sight: want an Event")
	}
	if d.due(o, t0.Add(10*time.Minute), true) {
		t.Error("unchanged 10 minutes later: want none")
	}
	changed := &Object{UID: "u1", Violations: append([]checks.Violation{{Check: "privileged", Action: checks.Enforce}}, o.Violations...)}
	if !d.due(changed, t0.Add(20*time.Minute), true) {
		t.Error("changed violations: want an Event")
	}
	if !d.due(changed, t0.Add(20*time.Minute+eventRepeat), true) {
		t.Error("unchanged after the repeat interval: want an Event again")
	}
	// Over budget: nothing recorded, nothing forgotten.
	other := &Object{UID: "u2", Violations: o.Violations}
	if d.due(other, t0.Add(2*time.Hour), false) {
		t.Error("over budget: want none")
	}
	// An object not found violating by an audit is forgotten: it gets an Event when it violates again.
	start := t0.Add(3 * time.Hour)
	d.forgetUnseen(start)
	if len(d.last) != 0 {
		t.Errorf("after an audit that saw nothing: %d remembered, want 0", len(d.last))
	}
	if !d.due(o, start.Add(time.Minute), true) {
		t.Error("violating again after a fix: want an Event")
	}
}

func TestEventNoteFitsAnEvent(t *testing.T) {
	o := &Object{}
	for i := 0; i < 40; i++ {
		o.Violations = append(o.Violations, checks.Violation{Check: "image-tag", Action: checks.Warn,
			Field: "spec.containers[0].image", Message: "container \"app\" uses the latest tag ✓", Fix: "pin a version"})
	}
	note := eventNote(o)
	if len(note) > eventnote.Max || !strings.HasPrefix(note, "Bulwark audit: violates 1 check") || !strings.HasSuffix(note, "has them all)") {
		t.Errorf("note of %d bytes:\n%s", len(note), note)
	}
}

// TestEventNoteNamesEveryCheck: when the list of violations is cut to fit an Event, the first
// line still names every violated check.
func TestEventNoteNamesEveryCheck(t *testing.T) {
	o := &Object{}
	long := strings.Repeat("a long explanation of what is wrong ", 8)
	for _, id := range []string{"automount-service-account-token", "image-digest", "privilege-escalation", "privileged", "run-as-non-root", "seccomp-required"} {
		o.Violations = append(o.Violations, checks.Violation{Check: id, Action: checks.Audit, Field: "spec.template.spec", Message: long, Fix: long})
	}
	note := eventNote(o)
	first, _, _ := strings.Cut(note, "\n")
	want := "Bulwark audit: violates 6 checks of the policy in force: [automount-service-account-token] [image-digest] [privilege-escalation] [privileged] [run-as-non-root] [seccomp-required]"
	if first != want || !strings.HasSuffix(note, "has them all)") {
		t.Errorf("note:\n%s\nwant the first line %q and the list cut", note, want)
	}
}
