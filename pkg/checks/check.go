// Package checks holds Bulwark's check catalog: one file per check, a registry that rejects
// duplicate IDs, and the evaluator that runs the active checks of a policy over one pod
// template or one RBAC object. Checks are pure functions of the decoded object.
//
// A check is declared once, in its file: what it reports, its action in each built-in
// profile, whether its pod-level findings reach every container, the mutation default that
// sets what it asks for, and the parameters a policy may give it. The profiles, the policy
// document's parameters, exemptions and the admission response derive from that declaration,
// and a test holds docs/checks.md, the catalog users read, to it.
package checks

import (
	"fmt"
	"slices"
	"sort"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// Target is the kind of object a check judges.
type Target string

const (
	// Pods: the pod template of a Pod or of a workload (Context.Pod). The zero value.
	Pods Target = ""
	// RBAC: a Role, ClusterRole, RoleBinding or ClusterRoleBinding (Context.RBAC).
	RBAC Target = "rbac"
	// Namespaces: a namespace and its quotas, limit ranges and network policies
	// (Context.Namespace), judged by the audit rather than at admission.
	Namespaces Target = "namespace"
)

// Action is what a policy does with a check's violations.
type Action string

const (
	// Enforce denies the request.
	Enforce Action = "enforce"
	// Warn admits the request and returns a warning to the client.
	Warn Action = "warn"
	// Audit admits the request silently and records the violation.
	Audit Action = "audit"
	// Off skips the check.
	Off Action = "off"
)

// Actions lists the valid actions, strictest first.
var Actions = []Action{Enforce, Warn, Audit, Off}

// Rank orders actions by strictness: enforce 3, warn 2, audit 1, off or unknown 0.
func (a Action) Rank() int {
	switch a {
	case Enforce:
		return 3
	case Warn:
		return 2
	case Audit:
		return 1
	}
	return 0
}

// Valid reports whether a is one of the four actions.
func (a Action) Valid() bool { return a == Enforce || a == Warn || a == Audit || a == Off }

// Violation is one failed check at one field.
type Violation struct {
	// Check is the check ID of docs/checks.md.
	Check string `json:"check"`
	// Field is the exact field path, e.g. spec.template.spec.containers[1].securityContext.privileged.
	Field string `json:"field"`
	// Message says what is wrong, naming the container or volume.
	Message string `json:"message"`
	// Fix is a one-line remedy.
	Fix string `json:"fix"`
	// Action is the policy's action for the check.
	Action Action `json:"action"`
}

// String renders the violation on one line, as denial messages and the CLI show it.
func (v Violation) String() string {
	return fmt.Sprintf("[%s] %s: %s. Fix: %s", v.Check, v.Field, v.Message, v.Fix)
}

// Params holds the values of the checks' parameters (each declared by its check in
// Check.Params), and the one setting a profile gives a check.
type Params struct {
	// AllowedCapabilities extends the capabilities check's allow-list.
	AllowedCapabilities []string `json:"allowedCapabilities,omitempty"`
	// AllowedRegistries lists the registries (host, or host/path prefix) images may come
	// from; the image-registry check does nothing while it is empty.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// StrictProcMount disables the relaxation of proc-mount for pods in a user namespace
	// (hostUsers: false), as the restricted Pod Security Standard does. The restricted
	// profile sets it; no document can.
	StrictProcMount bool `json:"strictProcMount,omitempty"`
}

// Context is what a check sees: the object of its target (the pod template, or the RBAC
// object), the parameters, and where to report.
type Context struct {
	Pod       *podspec.Pod
	RBAC      *rbacspec.Object
	Namespace *Namespace
	Params    *Params

	check string
	out   *[]Violation
}

// Report records a violation of the running check at field.
func (c *Context) Report(field, message, fix string) {
	*c.out = append(*c.out, Violation{Check: c.check, Field: field, Message: message, Fix: fix})
}

// ProfileActions are a check's actions in the built-in profiles; a profile that leaves the
// action empty does not run the check.
type ProfileActions struct {
	// Baseline is the action in the baseline profile (the Pod Security Standards' baseline).
	Baseline Action
	// Restricted is the action in the restricted profile (baseline plus PSS restricted).
	Restricted Action
	// NSA is the action in the default profile, nsa.
	NSA Action
}

// Param is a parameter a policy document may set on one check, under
// checks.<id>.<Name>. Parameters are lists of strings, empty by default; a document's list
// is appended to the value the profile starts from.
type Param struct {
	// Name is the parameter's key in a policy document, e.g. allowedRegistries.
	Name string
	// Help says in a few words what the values are; `bulwark policy` writes it beside them.
	Help string
	// Values returns where the parameter is held in Params.
	Values func(*Params) *[]string
}

// Check is one entry of the catalog.
type Check struct {
	// ID is the stable check ID of docs/checks.md.
	ID string
	// Summary is one sentence on what the check denies and why.
	Summary string
	// Target is the kind of object the check judges: pod templates unless set.
	Target Target
	// Category is the section of docs/checks.md the check belongs to.
	Category Category
	// Risk, when set, is the check's severity; otherwise Severity derives it from the
	// profiles. For checks whose risk the profiles cannot tell (the Pod Security Standards'
	// profiles judge pods only).
	Risk Severity
	// Profiles are the check's actions in the built-in profiles.
	Profiles ProfileActions
	// PodWide is set when a violation outside the pod's containers (a host namespace, a host
	// volume, the pod's security context or annotations) grants every container of the pod,
	// one added later included, access to the node or a weaker confinement.
	PodWide bool
	// Mutation names the mutation default that sets what the check asks for (pkg/mutate's
	// name, e.g. "seccomp"), or is empty. A workload exempt from the check is not given it.
	Mutation string
	// Params are the parameters a policy may set on the check.
	Params []Param
	// Supersedes names checks this one covers entirely. When this check's action is at least
	// as strict as theirs, they are not evaluated, so the same field is not reported twice
	// (the Pod Security Standards' restricted checks replace their baseline versions the same way).
	Supersedes []string
	// Evaluate reports every violation in the pod template.
	Evaluate func(*Context)
}

var (
	registry = map[string]Check{}
	// params maps a parameter name to the check that declares it.
	params = map[string]string{}
)

// Register adds a check to the catalog. It panics on an empty or duplicate ID, a check
// without an evaluator or summary, an action that is not one, or a parameter name another
// check declares, so a mistake fails every test binary at start.
func Register(c Check) {
	if c.ID == "" || c.Evaluate == nil || c.Summary == "" {
		panic(fmt.Sprintf("checks: incomplete check %q", c.ID))
	}
	if _, dup := registry[c.ID]; dup {
		panic(fmt.Sprintf("checks: duplicate check ID %q", c.ID))
	}
	if c.Target != Pods && c.Target != RBAC && c.Target != Namespaces {
		panic(fmt.Sprintf("checks: check %q: unknown target %q", c.ID, c.Target))
	}
	if !slices.Contains(Categories, c.Category) {
		panic(fmt.Sprintf("checks: check %q: unknown category %q", c.ID, c.Category))
	}
	if c.Risk != "" && c.Risk != High && c.Risk != Medium && c.Risk != Low {
		panic(fmt.Sprintf("checks: check %q: unknown risk %q", c.ID, c.Risk))
	}
	if c.Target != Pods && (c.PodWide || c.Mutation != "" || len(c.Supersedes) > 0) {
		panic(fmt.Sprintf("checks: check %q: PodWide, Mutation and Supersedes are for pod checks", c.ID))
	}
	for _, a := range []Action{c.Profiles.Baseline, c.Profiles.Restricted, c.Profiles.NSA} {
		if a != "" && !a.Valid() {
			panic(fmt.Sprintf("checks: check %q: unknown profile action %q", c.ID, a))
		}
	}
	for _, p := range c.Params {
		if p.Name == "" || p.Values == nil {
			panic(fmt.Sprintf("checks: check %q: incomplete parameter %q", c.ID, p.Name))
		}
		if other, dup := params[p.Name]; dup {
			panic(fmt.Sprintf("checks: parameter %q declared by %q and %q", p.Name, other, c.ID))
		}
		params[p.Name] = c.ID
	}
	registry[c.ID] = c
}

// ParamOwner returns the ID of the check that declares the parameter name.
func ParamOwner(name string) (string, bool) {
	id, ok := params[name]
	return id, ok
}

// ParamNames returns the names of every check's parameters, sorted.
func ParamNames() []string {
	out := make([]string, 0, len(params))
	for name := range params {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Param returns the parameter name of the check, if it declares one.
func (c Check) Param(name string) (Param, bool) {
	for _, p := range c.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// PodWide reports whether the check id is pod-wide (Check.PodWide).
func PodWide(id string) bool { return registry[id].PodWide }

// Get returns the check with the given ID.
func Get(id string) (Check, bool) {
	c, ok := registry[id]
	return c, ok
}

// All returns every registered check, ordered by ID.
func All() []Check {
	out := make([]Check, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IDs returns every registered check ID, sorted.
func IDs() []string {
	all := All()
	out := make([]string, len(all))
	for i, c := range all {
		out[i] = c.ID
	}
	return out
}
