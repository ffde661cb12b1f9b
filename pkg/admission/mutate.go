package admission

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
)

// Mutator answers the mutating webhook: it adds the policy's missing securityContext and
// resource defaults as JSON Patch operations against the object the apiserver sent, and lists
// what it set as warnings.
type Mutator struct{ Options }

var _ admission.Handler = &Mutator{}

// NewMutator returns the mutating handler.
func NewMutator(o Options) *Mutator { return &Mutator{o} }

// Handle implements admission.Handler.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	rec := m.recorder()
	s, err := inspect(&req)
	if err != nil {
		rec.Decision("mutate", resourceLabel(&req), operationLabel(&req), metrics.Errored, time.Since(start))
		return admission.Errored(http.StatusBadRequest, err)
	}
	snap := m.Policy.Current()
	var opts *mutate.Options
	switch {
	case s.skip != "":
	case s.rbac != nil:
		s.skip = "RBAC objects are not mutated"
	case snap.Mutation == nil && snap.Mode == checks.Audit:
		s.skip = "the policy's mode is audit: nothing is changed"
	case snap.Mutation == nil:
		s.skip = "mutation is off in the policy"
	case s.gk.Kind == "Pod" && s.gk.Group == "" && !s.ephemeral && s.oldPod != nil:
		// A Pod's spec cannot change after creation; only new ephemeral containers can be added.
		s.skip = "pods are mutated on creation only"
	case !s.pod.HasTemplate:
		s.skip = "the object has no pod template"
	default:
		// Exempt requests are not changed, and an exemption from a check also turns off the
		// defaults that serve it.
		dec := m.resolve(ctx, &req, s, snap)
		switch {
		case dec.Exempt:
			s.skip = dec.Reason
		case dec.Mutation == nil:
			s.skip = "mutation is off for this request"
		default:
			opts = dec.Mutation
		}
	}
	if s.skip != "" {
		rec.Decision("mutate", s.resource, s.operation, metrics.Skipped, time.Since(start))
		return admission.Allowed(s.skip)
	}

	target := mutate.Target{}
	if s.ephemeral {
		target.EphemeralOnly = true
		target.Existing = map[string]bool{}
		if s.oldPod != nil {
			for _, c := range s.oldPod.Spec.EphemeralContainers {
				target.Existing[c.Name] = true
			}
		}
	}
	if m.Images != nil && (opts.RunAsNonRoot || opts.PinDigests) {
		target.Images = m.Images(ctx, req.Namespace, s.pod)
	}
	res, err := mutate.PatchPod(s.pod, opts, target)
	if err != nil {
		rec.Decision("mutate", s.resource, s.operation, metrics.Errored, time.Since(start))
		return admission.Errored(http.StatusBadRequest, err)
	}
	for _, c := range res.Changes {
		rec.Mutation(c.Default)
	}
	resp := admission.Patched("", res.Patch...)
	resp.Warnings = changeWarnings(res.Changes, res.Notes)
	rec.Decision("mutate", s.resource, s.operation, metrics.Allowed, time.Since(start))
	return resp
}

// changeWarnings lists the notes on defaults held back, first ("bulwark: image ... runs as
// root ..."), then what was set, one warning per securityContext, resources or spec, e.g.
// `bulwark set defaults in spec.template.spec.containers[0].securityContext: allowPrivilegeEscalation=false, capabilities.drop=[ALL]`.
func changeWarnings(changes []mutate.Change, notes []string) []string {
	if len(changes) == 0 && len(notes) == 0 {
		return nil
	}
	w := warningBudget{limit: maxMutationWarnings}
	for _, n := range notes {
		w.add("bulwark: " + n)
	}
	var owners []string
	byOwner := map[string][]string{}
	for _, c := range changes {
		owner, rest := splitOwner(c.Field)
		if _, ok := byOwner[owner]; !ok {
			owners = append(owners, owner)
		}
		byOwner[owner] = append(byOwner[owner], rest+"="+c.Value)
	}
	// Pod-level defaults first, then containers in document order.
	sort.SliceStable(owners, func(i, j int) bool {
		return !strings.Contains(owners[i], "[") && strings.Contains(owners[j], "[")
	})
	for _, o := range owners {
		// One warning per owner, continued on another when it would pass maxWarning.
		prefix := "bulwark set defaults in " + o + ": "
		line := ""
		for _, item := range byOwner[o] {
			if line != "" && len(prefix)+len(line)+len(", ")+len(item) > maxWarning {
				w.add(prefix + line)
				line = ""
			}
			if line != "" {
				line += ", "
			}
			line += item
		}
		w.add(prefix + line)
	}
	return w.list()
}

// splitOwner splits a field path after what it sets: a container's or the pod's
// securityContext or resources ("...containers[0].securityContext", "spec.securityContext"),
// or else the container or the pod spec itself.
func splitOwner(field string) (owner, rest string) {
	owner, rest = "the object", field
	found := false
	for _, list := range []string{".initContainers[", ".containers[", ".ephemeralContainers["} {
		if i := strings.Index(field, list); i >= 0 {
			if j := strings.Index(field[i:], "]."); j >= 0 {
				owner, rest, found = field[:i+j+1], field[i+j+2:], true
				break
			}
		}
	}
	if !found {
		if i := strings.LastIndex(field, "spec."); i >= 0 {
			owner, rest = field[:i+4], field[i+5:]
		}
	}
	for _, group := range []string{"securityContext.", "resources."} {
		if strings.HasPrefix(rest, group) {
			return owner + "." + strings.TrimSuffix(group, "."), rest[len(group):]
		}
	}
	return owner, rest
}
