// Package policy turns a profile or a policy document into an immutable Snapshot the engine
// evaluates with: the action of every check, the check parameters and the mutation defaults.
package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

// Profile names.
const (
	Baseline   = "baseline"
	Restricted = "restricted"
	NSA        = "nsa"
)

// Profiles lists the profile names, the default first.
var Profiles = []string{NSA, Baseline, Restricted}

// profileSpec returns the actions, parameters and whether mutation is on for a profile. The
// actions are what each check declares for the profile (checks.Check.Profiles).
func profileSpec(name string) (map[string]checks.Action, checks.Params, bool, error) {
	var (
		pick     func(checks.ProfileActions) checks.Action
		params   checks.Params
		mutation bool
	)
	switch name {
	case Baseline:
		pick = func(p checks.ProfileActions) checks.Action { return p.Baseline }
	case Restricted:
		pick = func(p checks.ProfileActions) checks.Action { return p.Restricted }
		params.StrictProcMount = true
	case NSA, "":
		pick = func(p checks.ProfileActions) checks.Action { return p.NSA }
		mutation = true
	default:
		return nil, params, false, fmt.Errorf("unknown profile %q (want one of %s)", name, strings.Join(Profiles, ", "))
	}
	actions := map[string]checks.Action{}
	for _, c := range checks.All() {
		if a := pick(c.Profiles); a != "" {
			actions[c.ID] = a
		}
	}
	return actions, params, mutation, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
