package checks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// baselineCapabilities are the capabilities the Pod Security Standards' baseline allows in
// capabilities.add: the container runtimes' default set, without NET_RAW. Names are matched
// exactly, as upstream does.
var baselineCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// capabilityRisks says why some commonly requested capabilities are dangerous.
var capabilityRisks = map[string]string{
	"SYS_ADMIN":       "is nearly root on the node",
	"NET_ADMIN":       "lets it reconfigure the pod's network and bypass network policies",
	"NET_RAW":         "lets it forge packets and spoof other pods",
	"SYS_PTRACE":      "lets it read and alter the memory of other processes",
	"SYS_MODULE":      "lets it load kernel modules",
	"SYS_RAWIO":       "gives it raw access to devices and kernel memory",
	"SYS_TIME":        "lets it set the node's clock",
	"DAC_READ_SEARCH": "lets it read any file it can reach, bypassing permissions",
	"BPF":             "lets it load eBPF programs into the kernel",
	"PERFMON":         "lets it observe the whole node through performance monitoring",
	"SYSLOG":          "lets it read and clear the kernel log",
}

func init() {
	Register(Check{
		ID:       "capabilities",
		Category: Privilege,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		Params: []Param{{
			Name:   "allowedCapabilities",
			Help:   "allowed beyond the baseline list",
			Values: func(p *Params) *[]string { return &p.AllowedCapabilities },
		}},
		Summary: "Containers must not add Linux capabilities beyond the runtime's default set (capabilities.add).",
		Evaluate: func(c *Context) {
			var extra []string
			if c.Params != nil {
				extra = c.Params.AllowedCapabilities
			}
			allowed := func(name string) bool {
				return slices.Contains(baselineCapabilities, name) || slices.Contains(extra, name)
			}
			c.Pod.Containers(func(ct podspec.Container) bool {
				sc := ct.SecurityContext
				if sc == nil || sc.Capabilities == nil {
					return true
				}
				for k, capability := range sc.Capabilities.Add {
					name := string(capability)
					if allowed(name) {
						continue
					}
					msg, fix := capabilityViolation(ct.Describe(), name, allowed)
					if ct.Kind == podspec.EphemeralContainer {
						// kubectl debug's default profile (general) adds SYS_PTRACE, netadmin
						// NET_ADMIN and NET_RAW: name the profiles that add none.
						fix += "; with kubectl debug, use --profile=restricted or --profile=baseline, which add no capabilities"
					}
					c.Report(ct.Field(fmt.Sprintf("securityContext.capabilities.add[%d]", k)), msg, fix)
				}
				return true
			})
		},
	})
}

// capabilityViolation builds the message and fix for a capability name that is not allowed.
func capabilityViolation(who, name string, allowed func(string) bool) (msg, fix string) {
	canonical, hint := canonicalCapability(name)
	if hint != "" && allowed(canonical) {
		// A harmless capability misspelled: only the spelling is wrong.
		return fmt.Sprintf("%s adds capability %q, which is not an allowed name: %s", who, name, hint),
			fmt.Sprintf("write %q instead of %q in capabilities.add", canonical, name)
	}
	var why string
	switch {
	case canonical == "ALL":
		why = "which adds every capability and is root on the node in all but name"
	case capabilityRisks[canonical] != "":
		why = "which " + capabilityRisks[canonical]
	default:
		why = "which is outside the runtime's default set"
	}
	msg = fmt.Sprintf("%s adds capability %q, %s", who, name, why)
	if hint != "" {
		msg += " (" + hint + ")"
	}
	fix = fmt.Sprintf("remove %q from capabilities.add", name)
	if canonical == "ALL" {
		fix += " and add only the capabilities the container needs"
	}
	return msg, fix
}

// canonicalCapability returns name as Kubernetes spells capabilities (upper case, no CAP_
// prefix, no spaces), and a hint on the spelling when name is written differently.
func canonicalCapability(name string) (canonical, hint string) {
	trimmed := strings.TrimSpace(name)
	upper := strings.ToUpper(trimmed)
	canonical = strings.TrimPrefix(upper, "CAP_")
	var rules []string
	if upper != trimmed {
		rules = append(rules, "in upper case")
	}
	if canonical != upper {
		rules = append(rules, "without the CAP_ prefix")
	}
	if trimmed != name {
		rules = append(rules, "without spaces")
	}
	if len(rules) == 0 || canonical == "" {
		return canonical, ""
	}
	if len(rules) > 1 {
		rules = []string{strings.Join(rules[:len(rules)-1], ", ") + " and " + rules[len(rules)-1]}
	}
	return canonical, fmt.Sprintf("capability names are written %s, as in %q", rules[0], canonical)
}
