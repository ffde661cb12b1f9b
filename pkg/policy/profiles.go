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

var baselineChecks = []string{
	"host-network", "host-pid", "host-ipc", "host-path", "host-ports", "host-process", "host-probes",
	"privileged", "capabilities", "proc-mount", "sysctls", "apparmor", "selinux", "seccomp",
}

var restrictedChecks = []string{
	"run-as-non-root", "run-as-user", "privilege-escalation", "drop-capabilities", "seccomp-required",
	"volume-types",
}

// nsaActions are the actions of the default profile (CHECKS.md, column "nsa").
var nsaActions = map[string]checks.Action{
	"run-as-non-root":                 checks.Warn,
	"run-as-user":                     checks.Warn,
	"privilege-escalation":            checks.Warn,
	"drop-capabilities":               checks.Warn,
	"seccomp-required":                checks.Warn,
	"volume-types":                    checks.Warn,
	"read-only-root-filesystem":       checks.Warn,
	"resource-limits":                 checks.Warn,
	"resource-requests":               checks.Warn,
	"automount-service-account-token": checks.Audit,
	"image-tag":                       checks.Warn,
	"image-registry":                  checks.Enforce,
}

// profileSpec returns the actions, parameters and whether mutation is on for a profile.
func profileSpec(name string) (map[string]checks.Action, checks.Params, bool, error) {
	actions := map[string]checks.Action{}
	var params checks.Params
	switch name {
	case Baseline:
		for _, id := range baselineChecks {
			actions[id] = checks.Enforce
		}
		return actions, params, false, nil
	case Restricted:
		for _, id := range append(append([]string{}, baselineChecks...), restrictedChecks...) {
			actions[id] = checks.Enforce
		}
		params.StrictProcMount = true
		return actions, params, false, nil
	case NSA, "":
		for _, id := range baselineChecks {
			actions[id] = checks.Enforce
		}
		for id, a := range nsaActions {
			actions[id] = a
		}
		return actions, params, true, nil
	}
	return nil, params, false, fmt.Errorf("unknown profile %q (want one of %s)", name, strings.Join(Profiles, ", "))
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
