package checks

import "testing"

// TestSeverity rates checks by the strictest built-in profile that enforces them, unless a
// check declares its risk.
func TestSeverity(t *testing.T) {
	for id, want := range map[string]Severity{
		"host-network":                    High, // baseline
		"privileged":                      High,
		"capabilities":                    High,
		"run-as-non-root":                 Medium, // restricted
		"volume-types":                    Medium,
		"image-registry":                  Medium, // enforced by nsa only
		"read-only-root-filesystem":       Low,    // warned by nsa only
		"resource-limits":                 Low,
		"automount-service-account-token": Low,
		"anonymous-binding":               High, // declared: enforced by nsa only, but a way into the cluster
		"cluster-admin-binding":           Low,
	} {
		if got := SeverityOf(id); got != want {
			t.Errorf("%s: severity %q, want %q", id, got, want)
		}
	}
	if got := SeverityOf("no-such-check"); got != Low {
		t.Errorf("unknown check: %q, want low", got)
	}
}
