package policy

import (
	"encoding/json"
	"slices"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
)

// Effective returns the policy as one complete document, every default spelled out: the
// profile, the mode, every check with its action and the parameters it declares, the mutation section
// with every default and the resource values, the exempt namespaces, the rules and
// exemptions as written, and the guardrails. Parsing it gives the same policy. The document is the caller's to
// change.
func (s *Snapshot) Effective() *Document {
	mode := string(checks.Enforce)
	if s.Mode != "" {
		mode = string(s.Mode)
	}
	d := &Document{APIVersion: APIVersion, Kind: Kind, Profile: s.Profile, Mode: mode, Checks: map[string]CheckOverride{}}
	params := s.Checks.Params()
	for _, id := range checks.IDs() {
		o := CheckOverride{Action: ActionValue(s.Checks.Action(id))}
		c, _ := checks.Get(id)
		for _, p := range c.Params {
			if o.Params == nil {
				o.Params = map[string][]string{}
			}
			o.Params[p.Name] = slices.Clone(*p.Values(&params))
		}
		d.Checks[id] = o
	}
	on := s.mutationOn
	m := s.mutation
	defaults := map[string]bool{}
	for _, name := range mutate.Names() {
		defaults[name] = m.Enabled(name)
	}
	d.Mutation = &MutationSpec{
		Enabled:  &on,
		Defaults: defaults,
		Resources: &ResourceDefaults{
			Requests: &CPUMemory{CPU: Quantity(m.Requests.CPU.String()), Memory: Quantity(m.Requests.Memory.String())},
			Limits:   &CPUMemory{CPU: Quantity(m.Limits.CPU.String()), Memory: Quantity(m.Limits.Memory.String())},
		},
	}
	if m.RunAsUser > 0 {
		uid := m.RunAsUser
		d.Mutation.RunAsUser = &uid
	}
	var written Document
	_ = json.Unmarshal(s.document, &written) // a copy of what compile accepted
	d.Namespaces = &NamespacesSpec{Exempt: append([]string{}, s.exemptList...)}
	if written.Namespaces != nil {
		d.Namespaces.Rules = written.Namespaces.Rules
	}
	d.Exemptions = written.Exemptions
	raw, _ := json.Marshal(s.guardrails.template)
	d.Guardrails = &GuardrailsSpec{}
	_ = json.Unmarshal(raw, d.Guardrails) // a copy: the document is the caller's
	return d
}

// RuleNames returns the names of the namespace rules, in order.
func (s *Snapshot) RuleNames() []string {
	out := make([]string, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.name
	}
	return out
}

// ExemptionNames returns the names of the exemptions, in order.
func (s *Snapshot) ExemptionNames() []string {
	out := make([]string, len(s.exemptions))
	for i, e := range s.exemptions {
		out[i] = e.name
	}
	return out
}
