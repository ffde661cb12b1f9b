package checks

// Severity is how much a check's violation weakens the pod's isolation, one of High, Medium
// and Low. It is a property of the check, not of the policy in force: a violation of a
// baseline check is High in a namespace that only audits it. SARIF's security-severity and
// the PolicyReports' severity are both this one value.
type Severity string

const (
	// High: a baseline check (host namespaces, ports, paths and processes, privilege,
	// capabilities, proc-mount, sysctls, AppArmor, SELinux, seccomp), a way out of the
	// container; and a grant to anonymous users (anonymous-binding), a way into the cluster.
	High Severity = "high"
	// Medium: a check the restricted profile adds or the nsa profile enforces (least
	// privilege, the allowed registries).
	Medium Severity = "medium"
	// Low: the rest (resources, image tags and digests, token mounting, read-only root file
	// system).
	Low Severity = "low"
)

// Severity is the check's declared Risk, or else rates the check by the strictest built-in
// profile that enforces it: High when baseline does, Medium when restricted or nsa does, Low
// otherwise.
func (c Check) Severity() Severity {
	switch {
	case c.Risk != "":
		return c.Risk
	case c.Profiles.Baseline == Enforce:
		return High
	case c.Profiles.Restricted == Enforce, c.Profiles.NSA == Enforce:
		return Medium
	}
	return Low
}

// SeverityOf returns the severity of the check id, Low for an unknown ID.
func SeverityOf(id string) Severity {
	if c, ok := registry[id]; ok {
		return c.Severity()
	}
	return Low
}
