package checks

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// Settings is a compiled, immutable set of actions and parameters. Build it once per policy
// with Compile and share it between goroutines.
type Settings struct {
	actions map[string]Action
	params  Params
	// active are the checks that run, in ID order; pods, rbac and namespaces are those of
	// them of each target.
	active, pods, rbac, namespaces []activeCheck
}

type activeCheck struct {
	check  Check
	action Action
}

// Compile resolves actions (check ID to action; a missing ID is off) into the ordered list of
// checks to run, dropping checks that an at-least-as-strict superseding check covers.
func Compile(actions map[string]Action, params Params) (*Settings, error) {
	s := &Settings{actions: make(map[string]Action, len(actions)), params: params}
	for id, a := range actions {
		if _, ok := registry[id]; !ok {
			return nil, fmt.Errorf("unknown check %q", id)
		}
		if !a.Valid() {
			return nil, fmt.Errorf("check %q: unknown action %q", id, a)
		}
		s.actions[id] = a
	}
	superseded := map[string]bool{}
	for _, c := range All() {
		a := s.actions[c.ID]
		if a.Rank() == 0 {
			continue
		}
		for _, other := range c.Supersedes {
			if a.Rank() >= s.actions[other].Rank() {
				superseded[other] = true
			}
		}
	}
	for _, c := range All() {
		a := s.actions[c.ID]
		if a.Rank() == 0 || superseded[c.ID] {
			continue
		}
		ac := activeCheck{check: c, action: a}
		s.active = append(s.active, ac)
		switch c.Target {
		case RBAC:
			s.rbac = append(s.rbac, ac)
		case Namespaces:
			s.namespaces = append(s.namespaces, ac)
		default:
			s.pods = append(s.pods, ac)
		}
	}
	return s, nil
}

// Action returns the configured action of a check (off when unset).
func (s *Settings) Action(id string) Action {
	if a, ok := s.actions[id]; ok {
		return a
	}
	return Off
}

// Params returns the check parameters.
func (s *Settings) Params() Params { return s.params }

// ActiveCount is the number of checks of target t that run: what one object of that target
// is evaluated against.
func (s *Settings) ActiveCount(t Target) int {
	switch t {
	case RBAC:
		return len(s.rbac)
	case Namespaces:
		return len(s.namespaces)
	}
	return len(s.pods)
}

// Active returns the IDs of the checks that run, in order.
func (s *Settings) Active() []string {
	out := make([]string, len(s.active))
	for i, a := range s.active {
		out[i] = a.check.ID
	}
	return out
}

// Evaluate runs every active pod check over pod and returns the violations ordered by check
// ID, each carrying its action. A template-less object (HasTemplate false) has none.
func (s *Settings) Evaluate(pod *podspec.Pod) []Violation {
	if pod == nil || !pod.HasTemplate {
		return nil
	}
	return s.run(s.pods, Context{Pod: pod})
}

// EvaluateRBAC runs every active RBAC check over o, as Evaluate does over a pod.
func (s *Settings) EvaluateRBAC(o *rbacspec.Object) []Violation {
	if o == nil {
		return nil
	}
	return s.run(s.rbac, Context{RBAC: o})
}

func (s *Settings) run(active []activeCheck, ctx Context) []Violation {
	var out []Violation
	ctx.Params, ctx.out = &s.params, &out
	for _, a := range active {
		start := len(out)
		ctx.check = a.check.ID
		a.check.Evaluate(&ctx)
		for i := start; i < len(out); i++ {
			out[i].Action = a.action
		}
	}
	return out
}

// Denied reports whether any violation is enforced.
func Denied(vs []Violation) bool {
	for _, v := range vs {
		if v.Action == Enforce {
			return true
		}
	}
	return false
}
