package policy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// DefaultExemptNamespaces are the exempt namespaces of a policy that does not list its own.
// Bulwark's own namespace is always exempt as well (Request.OwnNamespace).
var DefaultExemptNamespaces = []string{"kube-system"}

// NamespacesSpec is the namespaces section of a policy.
type NamespacesSpec struct {
	// Exempt lists the namespaces where nothing is evaluated or mutated. Absent (or null):
	// DefaultExemptNamespaces; an empty list exempts no namespace but Bulwark's own.
	Exempt []string `json:"exempt"`
	// Rules change the actions in the namespaces they match; the first matching rule wins.
	Rules []NamespaceRule `json:"rules,omitempty"`
}

// NamespaceRule changes the actions of the checks in the namespaces it matches.
type NamespaceRule struct {
	// Name identifies the rule in decisions and logs; required and unique.
	Name string `json:"name"`
	// Names are glob patterns (path.Match) on the namespace name.
	Names []string `json:"names,omitempty"`
	// Selector matches the namespace's labels. With Names as well, both must match.
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Action, when set, is given to every check that is not off in the policy.
	Action ActionValue `json:"action,omitempty"`
	// Checks set the action of single checks, after Action.
	Checks map[string]RuleCheck `json:"checks,omitempty"`
}

// RuleCheck is a namespace rule's action for one check.
type RuleCheck struct {
	Action ActionValue `json:"action,omitempty"`
}

// Exemption exempts requests from every check, or from some, by who makes them and by the
// object they are about.
type Exemption struct {
	// Name identifies the exemption in decisions, warnings and metrics; required and unique.
	Name string `json:"name"`
	// Reason says why the exemption exists; required.
	Reason string `json:"reason"`
	// Expires, when set, is when the exemption stops applying: a date (2026-12-31, valid
	// through the end of that day, UTC) or an RFC 3339 time.
	Expires string `json:"expires,omitempty"`

	// Users, Groups and ServiceAccounts (namespace/name) select the requesting user: the
	// request matches when it is any one of them. None given: any user.
	Users           []string `json:"users,omitempty"`
	Groups          []string `json:"groups,omitempty"`
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`

	// Namespace, Kinds and Names (glob patterns) select the object; each one given must match.
	Namespace string   `json:"namespace,omitempty"`
	Kinds     []string `json:"kinds,omitempty"`
	Names     []string `json:"names,omitempty"`

	// Checks are the checks the exemption applies to; empty: every check.
	Checks []string `json:"checks,omitempty"`
}

// rule is a compiled namespace rule.
type rule struct {
	name     string
	patterns []string
	selector labels.Selector // nil: no selector
	settings *checks.Settings
}

func (r *rule) matches(req *Request) bool {
	if len(r.patterns) > 0 && !matchAny(r.patterns, req.Namespace) {
		return false
	}
	if r.selector != nil && (req.NamespaceLabels == nil || !r.selector.Matches(labels.Set(req.NamespaceLabels))) {
		return false
	}
	return true
}

// exemption is a compiled exemption.
type exemption struct {
	name        string
	expires     time.Time // zero: never
	expiresText string
	// users holds the user names, service accounts included as system:serviceaccount:ns:name.
	users, groups []string
	namespace     string
	kinds, names  []string
	checks        []string // nil: every check
}

func (e *exemption) hasWho() bool { return len(e.users) > 0 || len(e.groups) > 0 }

// who returns what the request matched of the users and groups ("" when the exemption
// names none), and whether it matched.
func (e *exemption) who(r *Request) (string, bool) {
	if !e.hasWho() {
		return "", true
	}
	if slices.Contains(e.users, r.UserName) {
		if ns, name, ok := serviceAccountOf(r.UserName); ok {
			return "service account " + ns + "/" + name, true
		}
		return fmt.Sprintf("user %q", r.UserName), true
	}
	for _, g := range r.Groups {
		if slices.Contains(e.groups, g) {
			return fmt.Sprintf("group %q", g), true
		}
	}
	return "", false
}

func (e *exemption) what(r *Request) bool {
	if e.namespace != "" && e.namespace != r.Namespace {
		return false
	}
	if e.workload(r.Kind, r.Name) {
		return true
	}
	for _, o := range r.Owners {
		if e.workload(o.Kind, o.Name) {
			return true
		}
	}
	return false
}

// workload reports whether e's kinds and names select the object kind/name.
func (e *exemption) workload(kind, name string) bool {
	if len(e.kinds) > 0 && !slices.Contains(e.kinds, kind) {
		return false
	}
	return len(e.names) == 0 || matchAny(e.names, name)
}

// reason says why a request is exempt by e, for Decision.Reason.
func (e *exemption) reason(r *Request, who string) string {
	var parts []string
	if who != "" {
		parts = append(parts, who)
	}
	if e.namespace != "" || len(e.kinds) > 0 || len(e.names) > 0 {
		obj := fmt.Sprintf("%s %q", r.Kind, r.Namespace+"/"+r.Name)
		if !e.workload(r.Kind, r.Name) {
			for _, o := range r.Owners {
				if e.workload(o.Kind, o.Name) {
					obj += fmt.Sprintf(" of %s %q", o.Kind, r.Namespace+"/"+o.Name)
					break
				}
			}
		}
		parts = append(parts, obj)
	}
	return fmt.Sprintf("exemption %q (%s)", e.name, strings.Join(parts, ", "))
}

const serviceAccountPrefix = "system:serviceaccount:"

func serviceAccountOf(user string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountPrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// compiledNamespaces is the compiled namespaces section.
type compiledNamespaces struct {
	exempt     map[string]bool
	exemptList []string
	rules      []rule
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

const nameRules = "must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

// checkName validates the name of a rule or exemption and that it is unique among seen.
func checkName(field, what, name string, seen map[string]string, ps *problems) {
	switch {
	case name == "":
		ps.add(field, "required: every %s has a unique name", what)
	case !nameRE.MatchString(name):
		ps.add(field, "%q %s", name, nameRules)
	case seen[name] != "":
		ps.add(field, "duplicate %s name %q (also %s)", what, name, seen[name])
	default:
		seen[name] = strings.TrimSuffix(field, ".name")
	}
}

// checkPatterns validates glob patterns.
func checkPatterns(field string, patterns []string, ps *problems) {
	for i, p := range patterns {
		f := index(field, i)
		if p == "" {
			ps.add(f, "an empty pattern matches nothing; remove it")
		} else if _, err := path.Match(p, ""); err != nil {
			ps.add(f, "bad pattern %q: %v (patterns use *, ? and [a-z], as path.Match)", p, err)
		}
	}
}

// checkNamespaceName validates a namespace name.
func checkNamespaceName(field, name string, ps *problems) {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		ps.add(field, "%q is not a namespace name: %s", name, strings.Join(errs, "; "))
	}
}

// compileSelector validates a label selector, reporting each bad label and expression at its
// own field, and compiles it.
func compileSelector(field string, sel *metav1.LabelSelector, ps *problems) labels.Selector {
	ok := true
	for _, k := range sortedKeys(sel.MatchLabels) {
		one := &metav1.LabelSelector{MatchLabels: map[string]string{k: sel.MatchLabels[k]}}
		if _, err := metav1.LabelSelectorAsSelector(one); err != nil {
			ps.add(join(field+".matchLabels", k), "%v", err)
			ok = false
		}
	}
	for i, e := range sel.MatchExpressions {
		one := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{e}}
		if _, err := metav1.LabelSelectorAsSelector(one); err != nil {
			ps.add(index(field+".matchExpressions", i), "%v", err)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		ps.add(field, "%v", err)
		return nil
	}
	return s
}

// compileNamespaces validates and compiles the namespaces section; actions and params are the
// policy's, which each rule starts from.
func (d *Document) compileNamespaces(actions map[string]checks.Action, params checks.Params, ps *problems) compiledNamespaces {
	out := compiledNamespaces{exempt: map[string]bool{}}
	var spec NamespacesSpec
	if d.Namespaces != nil {
		spec = *d.Namespaces
	}
	out.exemptList = spec.Exempt
	if out.exemptList == nil {
		out.exemptList = DefaultExemptNamespaces
	}
	for i, ns := range out.exemptList {
		f := index("namespaces.exempt", i)
		checkNamespaceName(f, ns, ps)
		if out.exempt[ns] {
			ps.add(f, "%q is listed twice", ns)
		}
		out.exempt[ns] = true
	}
	seen := map[string]string{}
	for i, r := range spec.Rules {
		f := index("namespaces.rules", i)
		checkName(f+".name", "rule", r.Name, seen, ps)
		if len(r.Names) == 0 && r.Selector == nil {
			ps.add(f, "a rule needs names (namespace name patterns), a selector (on namespace labels) or both")
		}
		checkPatterns(f+".names", r.Names, ps)
		c := rule{name: r.Name, patterns: r.Names}
		if r.Selector != nil {
			c.selector = compileSelector(f+".selector", r.Selector, ps)
		}
		if r.Action == "" && len(r.Checks) == 0 {
			ps.add(f, "a rule needs an action, checks or both")
		}
		ra := make(map[string]checks.Action, len(actions))
		for id, a := range actions {
			ra[id] = a
		}
		if a := checks.Action(r.Action); a != "" {
			if !a.Valid() {
				ps.add(f+".action", "unknown action %q (want enforce, warn, audit or off)", a)
			} else {
				for id, cur := range ra {
					if cur != checks.Off {
						ra[id] = a
					}
				}
			}
		}
		for _, id := range sortedKeys(r.Checks) {
			cf := join(f+".checks", id)
			if _, ok := checks.Get(id); !ok {
				ps.add(cf, "unknown check ID (known: %s)", strings.Join(checks.IDs(), ", "))
				continue
			}
			switch a := checks.Action(r.Checks[id].Action); {
			case a == "":
				ps.add(cf+".action", "required (enforce, warn, audit or off)")
			case !a.Valid():
				ps.add(cf+".action", "unknown action %q (want enforce, warn, audit or off)", a)
			default:
				ra[id] = a
			}
		}
		if s, err := checks.Compile(ra, params); err == nil {
			c.settings = s
		}
		out.rules = append(out.rules, c)
	}
	return out
}

// kindNames lists the kinds an exemption may name: those the engine evaluates, workloads and
// RBAC objects.
func kindNames() []string {
	var out []string
	for _, gk := range podspec.Kinds() {
		out = append(out, gk.Kind)
	}
	for _, k := range rbacspec.All() {
		out = append(out, k.Kind)
	}
	slices.Sort(out)
	return out
}

// parseExpiry reads an expiry: a date, valid through the end of that day (UTC), or an
// RFC 3339 time. It returns the first instant at which the exemption no longer applies.
func parseExpiry(s string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.AddDate(0, 0, 1), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// compileExemptions validates and compiles the exemptions.
func (d *Document) compileExemptions(ps *problems) []exemption {
	var out []exemption
	seen := map[string]string{}
	kinds := kindNames()
	for i, e := range d.Exemptions {
		f := index("exemptions", i)
		checkName(f+".name", "exemption", e.Name, seen, ps)
		if strings.TrimSpace(e.Reason) == "" {
			ps.add(f+".reason", "required: say why the exemption exists (a ticket, an owner, a date)")
		}
		c := exemption{name: e.Name, namespace: e.Namespace, kinds: e.Kinds, names: e.Names}
		if e.Expires != "" {
			t, ok := parseExpiry(e.Expires)
			if !ok {
				ps.add(f+".expires", "%q is neither a date (2026-12-31) nor an RFC 3339 time (2026-12-31T18:00:00Z)", e.Expires)
			}
			c.expires, c.expiresText = t, e.Expires
		}
		for j, u := range e.Users {
			if strings.TrimSpace(u) == "" {
				ps.add(index(f+".users", j), "an empty user name matches nobody; remove it")
			}
			c.users = append(c.users, u)
		}
		for j, g := range e.Groups {
			if strings.TrimSpace(g) == "" {
				ps.add(index(f+".groups", j), "an empty group name matches nobody; remove it")
			}
			c.groups = append(c.groups, g)
		}
		for j, sa := range e.ServiceAccounts {
			sf := index(f+".serviceAccounts", j)
			ns, name, ok := strings.Cut(sa, "/")
			if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
				ps.add(sf, "%q is not namespace/name (e.g. ci/deployer)", sa)
				continue
			}
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				ps.add(sf, "%q: %q is not a namespace name: %s", sa, ns, strings.Join(errs, "; "))
			}
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				ps.add(sf, "%q: %q is not a service account name: %s", sa, name, strings.Join(errs, "; "))
			}
			c.users = append(c.users, serviceAccountPrefix+ns+":"+name)
		}
		if e.Namespace != "" {
			checkNamespaceName(f+".namespace", e.Namespace, ps)
		}
		for j, k := range e.Kinds {
			if !slices.Contains(kinds, k) {
				ps.add(index(f+".kinds", j), "unknown kind %q (want one of %s)", k, strings.Join(kinds, ", "))
			}
		}
		checkPatterns(f+".names", e.Names, ps)
		if len(e.Users)+len(e.Groups)+len(e.ServiceAccounts)+len(e.Kinds)+len(e.Names) == 0 && e.Namespace == "" {
			ps.add(f, "an exemption needs at least one of users, groups, serviceAccounts, namespace, kinds or names")
		}
		for j, id := range e.Checks {
			if _, ok := checks.Get(id); !ok {
				ps.add(index(f+".checks", j), "unknown check ID %q (known: %s)", id, strings.Join(checks.IDs(), ", "))
				continue
			}
			if !slices.Contains(c.checks, id) {
				c.checks = append(c.checks, id)
			}
		}
		out = append(out, c)
	}
	return out
}
