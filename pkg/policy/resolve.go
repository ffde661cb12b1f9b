package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
)

// ModeLabel is the namespace label with which an admin downgrades one namespace: warn,
// audit or off.
const ModeLabel = "bulwark.dev/mode"

// Request is what the policy needs to know about one admission request.
type Request struct {
	Namespace       string
	NamespaceLabels map[string]string // nil when unknown
	OwnNamespace    string            // Bulwark's namespace: always exempt
	UserName        string
	Groups          []string
	Kind            string // "Deployment"
	Name            string // object name
	// Owners are the workloads the object was made from, nearest first, when a workload
	// controller made the request (a DaemonSet's Pod, a Deployment's ReplicaSet and its Pods):
	// exemptions by kind and name match them as well as the object, so that an exempted
	// workload's pods are created. See ControllerOwners.
	Owners []Owner
	Now    time.Time
}

// Owner is a workload, by kind and name, in the request's namespace.
type Owner struct{ Kind, Name string }

// Expired is an exemption that matched the request but has expired.
type Expired struct {
	Name string
	// Expires is the instant the exemption stopped applying: for a date, the start of the
	// next day (UTC).
	Expires time.Time
}

// Decision is how the policy applies to one request.
type Decision struct {
	Exempt       bool              // nothing is evaluated or mutated
	Reason       string            // why Exempt, for logs: `namespace "kube-system" is exempt`, `exemption "ci" (user ...)`
	Checks       *checks.Settings  // evaluate with these (the policy's, or the matching rule's; precompiled, never compiled per request)
	Rule         string            // the namespace rule applied, "" when none
	Mode         checks.Action     // the downgrade of the policy's mode and the namespace label (warn, audit, off), "" when none
	ExemptChecks map[string]string // check ID -> exemption name, for the exemptions in force that name checks
	Expired      []Expired
	Mutation     *mutate.Options // nil: no mutation for this request
	Warnings     []string        // for the developer: expired exemptions, an invalid mode label value, ...
}

// narrowKey names the settings of a base (0: the policy, i+1: rule i) with the checks of
// exemption e turned off.
type narrowKey struct{ base, exemption int }

// ServedBy returns the name of the mutation default that sets what the check id asks for
// (mutate.Seccomp for seccomp-required), or "" when no default serves it: the check's
// declared Mutation. It is the mapping exemptions use to turn defaults off with their checks.
func ServedBy(id string) string {
	c, _ := checks.Get(id)
	return c.Mutation
}

// precompile builds, for every exemption that names checks, the settings of the policy and
// of each rule with those checks off. Turning a check off (rather than only dropping its
// violations) lets the checks it supersedes run again: an exemption from drop-capabilities
// still denies SYS_ADMIN through capabilities, one from volume-types still denies hostPath.
func (s *Snapshot) precompile() {
	s.narrowed = map[narrowKey]*checks.Settings{}
	s.combined = &sync.Map{}
	for i, e := range s.exemptions {
		if e.checks == nil {
			continue
		}
		for b := 0; b <= len(s.rules); b++ {
			s.narrowed[narrowKey{b, i}] = without(s.base(b), e.checks)
		}
	}
}

// base returns the settings of the policy (0) or of rule b-1.
func (s *Snapshot) base(b int) *checks.Settings {
	if b == 0 {
		return s.Checks
	}
	return s.rules[b-1].settings
}

// without returns settings with the given checks off.
func without(base *checks.Settings, ids []string) *checks.Settings {
	actions := map[string]checks.Action{}
	for _, id := range checks.IDs() {
		actions[id] = base.Action(id)
	}
	for _, id := range ids {
		actions[id] = checks.Off
	}
	out, err := checks.Compile(actions, base.Params())
	if err != nil { // cannot happen: the IDs and actions come from compiled settings
		return base
	}
	return out
}

// maxCombined bounds the cache of settings for requests several exemptions match at once.
const maxCombined = 1024

// combinedSettings returns the settings of base b with the checks of several exemptions off,
// compiled on first use and cached.
func (s *Snapshot) combinedSettings(b int, ids map[string]string) *checks.Settings {
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	slices.Sort(list)
	key := strconv.Itoa(b) + ":" + strings.Join(list, ",")
	if v, ok := s.combined.Load(key); ok {
		return v.(*checks.Settings)
	}
	out := without(s.base(b), list)
	n := 0
	s.combined.Range(func(any, any) bool { n++; return n < maxCombined })
	if n < maxCombined {
		s.combined.Store(key, out)
	}
	return out
}

// Resolve decides how the policy applies to one request. It is cheap: every setting it hands
// out is compiled with the policy. A zero r.Now is taken as the current time.
//
// In order: the exempt namespaces (the policy's and r.OwnNamespace) exempt the request; the
// first namespace rule that matches gives the checks; the policy's mode and the namespace's
// bulwark.dev/mode label lower the actions, the lower of the two winning (the label's off
// exempts the request); an exemption in force that names no checks
// exempts the request, one that names checks turns those checks and the mutation defaults
// that serve them off. Expired exemptions do not apply and are reported in Expired and
// Warnings.
func (s *Snapshot) Resolve(r Request) Decision {
	d := Decision{Checks: s.Checks, Mode: s.Mode}
	if r.Namespace != "" {
		if r.Namespace == r.OwnNamespace {
			d.Exempt, d.Reason = true, fmt.Sprintf("namespace %q is exempt (Bulwark's own namespace)", r.Namespace)
			return d
		}
		if s.exempt[r.Namespace] {
			d.Exempt, d.Reason = true, fmt.Sprintf("namespace %q is exempt", r.Namespace)
			return d
		}
	}
	base := 0
	for i := range s.rules {
		if s.rules[i].matches(&r) {
			d.Checks, d.Rule, base = s.rules[i].settings, s.rules[i].name, i+1
			break
		}
	}
	if v, ok := r.NamespaceLabels[ModeLabel]; ok {
		switch a := checks.Action(v); a {
		case checks.Warn, checks.Audit:
			if d.Mode != checks.Audit {
				d.Mode = a // the lower of the policy's mode and the label's
			}
		case checks.Off:
			d.Mode, d.Exempt = a, true
			d.Reason = fmt.Sprintf("namespace %q has the label %s=off", r.Namespace, ModeLabel)
			return d
		default:
			d.Warnings = append(d.Warnings, fmt.Sprintf("bulwark: namespace %q has the label %s=%q, which is not warn, audit or off; the label is ignored", r.Namespace, ModeLabel, v))
		}
	}
	if len(s.exemptions) == 0 {
		d.Mutation = s.Mutation
		return d
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	matched, only := 0, -1
	for i := range s.exemptions {
		e := &s.exemptions[i]
		if !e.what(&r) {
			continue
		}
		who, ok := e.who(&r)
		if !ok {
			continue
		}
		if !e.expires.IsZero() && !now.Before(e.expires) {
			d.Expired = append(d.Expired, Expired{Name: e.name, Expires: e.expires})
			d.Warnings = append(d.Warnings, fmt.Sprintf("bulwark: exemption %q expired on %s and no longer applies", e.name, e.expiresText))
			continue
		}
		if e.checks == nil {
			if !d.Exempt {
				d.Exempt, d.Reason = true, e.reason(&r, who)
			}
			continue
		}
		if d.ExemptChecks == nil {
			d.ExemptChecks = make(map[string]string, len(e.checks))
		}
		for _, id := range e.checks {
			if _, dup := d.ExemptChecks[id]; !dup {
				d.ExemptChecks[id] = e.name
			}
		}
		matched++
		only = i
	}
	if d.Exempt {
		return d
	}
	switch {
	case matched == 1:
		d.Checks = s.narrowed[narrowKey{base, only}]
	case matched > 1:
		d.Checks = s.combinedSettings(base, d.ExemptChecks)
	}
	d.Mutation = narrowMutation(s.Mutation, d.ExemptChecks)
	return d
}

// narrowMutation returns m with the defaults that serve the exempted checks off: m itself
// when none of them is on, nil when nothing is left on.
func narrowMutation(m *mutate.Options, exempt map[string]string) *mutate.Options {
	if m == nil || len(exempt) == 0 {
		return m
	}
	var out *mutate.Options
	for id := range exempt {
		name := ServedBy(id)
		if name == "" || !m.Enabled(name) {
			continue
		}
		if out == nil {
			c := *m
			out = &c
		}
		_ = out.Set(name, false)
	}
	if out == nil {
		return m
	}
	for _, name := range mutate.Names() {
		if out.Enabled(name) {
			return out
		}
	}
	return nil
}

// Apply turns what Checks.Evaluate returned into what the request gets: violations of
// exempted checks dropped; actions lowered to Mode (enforce->warn with mode warn;
// enforce/warn->audit with mode audit; everything dropped with mode off). An exempt decision
// drops everything. vs is not modified.
func (d *Decision) Apply(vs []checks.Violation) []checks.Violation {
	if d.Exempt || d.Mode == checks.Off {
		return nil
	}
	if len(d.ExemptChecks) == 0 && d.Mode == "" {
		return vs
	}
	out := make([]checks.Violation, 0, len(vs))
	for _, v := range vs {
		if _, ok := d.ExemptChecks[v.Check]; ok {
			continue
		}
		v.Action = lower(v.Action, d.Mode)
		out = append(out, v)
	}
	return out
}

// lower applies a mode to an action: no action becomes stricter.
func lower(a, mode checks.Action) checks.Action {
	switch {
	case mode == checks.Warn && a == checks.Enforce:
		return checks.Warn
	case mode == checks.Audit && (a == checks.Enforce || a == checks.Warn):
		return checks.Audit
	}
	return a
}

// ExpiredExemptions returns the exemptions that have expired at now, in document order.
func (s *Snapshot) ExpiredExemptions(now time.Time) []Expired {
	var out []Expired
	for _, e := range s.exemptions {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			out = append(out, Expired{Name: e.name, Expires: e.expires})
		}
	}
	return out
}
