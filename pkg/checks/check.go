// Package checks holds Bulwark's check catalog (../shared/CHECKS.md): one file per check, a
// registry that rejects duplicate IDs, and the evaluator that runs the active checks of a
// policy over one pod template. Checks are pure functions of the decoded pod template.
package checks

import (
	"fmt"
	"sort"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
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
	// Check is the check ID from CHECKS.md.
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

// Params are the check parameters a policy can set.
type Params struct {
	// AllowedCapabilities extends the capabilities check's allow-list.
	AllowedCapabilities []string `json:"allowedCapabilities,omitempty"`
	// AllowedRegistries lists the registries (host, or host/path prefix) images may come
	// from; the image-registry check does nothing while it is empty.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// StrictProcMount disables the relaxation of proc-mount for pods in a user namespace
	// (hostUsers: false), as the restricted Pod Security Standard does.
	StrictProcMount bool `json:"strictProcMount,omitempty"`
}

// Context is what a check sees: the pod template, the parameters, and where to report.
type Context struct {
	Pod    *podspec.Pod
	Params *Params

	check string
	out   *[]Violation
}

// Report records a violation of the running check at field.
func (c *Context) Report(field, message, fix string) {
	*c.out = append(*c.out, Violation{Check: c.check, Field: field, Message: message, Fix: fix})
}

// Check is one entry of the catalog.
type Check struct {
	// ID is the stable check ID of CHECKS.md.
	ID string
	// Summary is one sentence on what the check denies and why.
	Summary string
	// Supersedes names checks this one covers entirely. When this check's action is at least
	// as strict as theirs, they are not evaluated, so the same field is not reported twice
	// (the Pod Security Standards' restricted checks replace their baseline versions the same way).
	Supersedes []string
	// Evaluate reports every violation in the pod template.
	Evaluate func(*Context)
}

var registry = map[string]Check{}

// Register adds a check to the catalog. It panics on an empty or duplicate ID, or a check
// without an evaluator, so a mistake fails every test binary at start.
func Register(c Check) {
	if c.ID == "" || c.Evaluate == nil || c.Summary == "" {
		panic(fmt.Sprintf("checks: incomplete check %q", c.ID))
	}
	if _, dup := registry[c.ID]; dup {
		panic(fmt.Sprintf("checks: duplicate check ID %q", c.ID))
	}
	registry[c.ID] = c
}

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
