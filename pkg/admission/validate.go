package admission

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
)

// Validator answers the validating webhook: enforce violations deny, warn violations become
// warnings, audit violations become audit annotations; every violation is counted.
type Validator struct{ Options }

var _ admission.Handler = &Validator{}

// NewValidator returns the validating handler.
func NewValidator(o Options) *Validator { return &Validator{o} }

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	rec := v.recorder()
	s, err := inspect(&req)
	if err != nil {
		rec.Decision("validate", resourceLabel(&req), operationLabel(&req), metrics.Errored, time.Since(start))
		return admission.Errored(http.StatusBadRequest, err)
	}
	if s.skip != "" {
		rec.Decision("validate", s.resource, s.operation, metrics.Skipped, time.Since(start))
		return admission.Allowed(s.skip)
	}
	snap := v.Policy.Current()
	dec := v.resolve(ctx, &req, s, snap)
	for _, e := range dec.Expired {
		if v.PolicyMetrics != nil {
			v.PolicyMetrics.ExemptionExpired(e.Name)
		}
	}
	var warnings warningBudget
	for _, w := range dec.Warnings {
		warnings.add(w)
	}
	if dec.Exempt {
		rec.Decision("validate", s.resource, s.operation, metrics.Skipped, time.Since(start))
		resp := admission.Allowed(dec.Reason)
		resp.Warnings = warnings.list()
		return resp
	}
	var violations []checks.Violation
	if s.rbac != nil {
		violations = dec.Apply(dec.Checks.EvaluateRBAC(s.rbac))
	} else {
		violations = dec.Apply(dec.Checks.Evaluate(s.pod))
	}
	if s.ephemeral && s.oldPod != nil {
		violations = introduced(violations, dec.Apply(dec.Checks.Evaluate(s.oldPod)))
	}

	var denials []string
	audit := map[string]string{}
	for _, vi := range violations {
		rec.Violation(vi.Check, string(vi.Action), s.resource)
		switch vi.Action {
		case checks.Enforce:
			denials = append(denials, vi.String())
		case checks.Warn:
			warnings.add(violationWarning(vi))
		case checks.Audit:
			line := vi.Field + ": " + vi.Message
			if prev, ok := audit[vi.Check]; ok {
				line = prev + "; " + line
			}
			audit[vi.Check] = line
		}
	}

	name := objectName(&req, s)
	var resp admission.Response
	if len(denials) > 0 {
		// Violations come ordered by check ID: one check may fail at several fields.
		var ids []string
		for _, vi := range violations {
			if vi.Action == checks.Enforce && (len(ids) == 0 || ids[len(ids)-1] != vi.Check) {
				ids = append(ids, vi.Check)
			}
		}
		source := snap.Source
		if dec.Rule != "" {
			source += ", namespace rule " + strconv.Quote(dec.Rule)
		}
		msg := fmt.Sprintf("%s violates %d Bulwark %s (%s):\n%s", name, len(ids),
			plural(len(ids), "check", "checks"), source, joinLines(capDenials(denials)))
		resp = admission.Denied(msg)
		v.Log.Info("denied", "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace,
			"name", name, "user", req.UserInfo.Username, "operation", s.operation, "dryRun", req.DryRun != nil && *req.DryRun,
			"checks", ids)
		rec.Decision("validate", s.resource, s.operation, metrics.Denied, time.Since(start))
	} else {
		resp = admission.Allowed("")
		rec.Decision("validate", s.resource, s.operation, metrics.Allowed, time.Since(start))
	}
	resp.Warnings = warnings.list()
	if len(audit) > 0 {
		resp.AuditAnnotations = audit
	}
	return resp
}

// introduced keeps the violations a pods/ephemeralcontainers update brings, through which
// only ephemeral containers can be added: those the old pod did not already have, and those it
// had that grant every container of the pod something, which a new container shares. The
// rest of the pod was admitted (or predates Bulwark) and cannot change there, so its other
// violations do not count again; but a pod admitted with hostPID or a hostPath volume (in warn
// or audit mode, or before Bulwark) must not become the way to start a new container in the
// node's PID namespace or with the node's file system mounted.
func introduced(current, old []checks.Violation) []checks.Violation {
	seen := make(map[checks.Violation]bool, len(old))
	for _, v := range old {
		seen[v] = true
	}
	var out []checks.Violation
	for _, v := range current {
		if !seen[v] || inherited(v) {
			out = append(out, v)
		}
	}
	return out
}

// inherited reports whether a new container of the pod shares what v reports: a pod-wide
// check's violation outside the pod's containers.
func inherited(v checks.Violation) bool {
	if !checks.PodWide(v.Check) {
		return false
	}
	for _, prefix := range []string{"spec.containers[", "spec.initContainers[", "spec.ephemeralContainers["} {
		if strings.HasPrefix(v.Field, prefix) {
			return false
		}
	}
	return true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// maxDenialLines bounds the violations a denial lists: a pod with hundreds of containers would
// otherwise send back a message of hundreds of kilobytes.
const maxDenialLines = 50

// capDenials keeps the first maxDenialLines violations and says how many more there are.
func capDenials(lines []string) []string {
	if len(lines) <= maxDenialLines {
		return lines
	}
	out := append([]string{}, lines[:maxDenialLines]...)
	return append(out, fmt.Sprintf("... and %d more; run `bulwark scan` on the manifest to see them all", len(lines)-maxDenialLines))
}
