package policy

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
)

// GuardrailsSpec is the guardrails section of a policy: the LimitRange, ResourceQuota and
// default-deny NetworkPolicy the leader creates in every namespace where the matching
// namespace check is in force, and how it keeps them.
type GuardrailsSpec struct {
	// Create turns the creation on (off by default: the namespace checks then only report
	// the namespaces that lack a guardrail).
	Create *bool `json:"create,omitempty"`
	// OnDelete is what happens when someone deletes a guardrail Bulwark created: recreate
	// (default) or report.
	OnDelete string `json:"onDelete,omitempty"`
	// LimitRange is the template of the LimitRange (check namespace-limit-range).
	LimitRange *LimitRangeTemplate `json:"limitRange,omitempty"`
	// ResourceQuota is the template of the ResourceQuota (check namespace-quota).
	ResourceQuota *ResourceQuotaTemplate `json:"resourceQuota,omitempty"`
	// NetworkPolicy is the template of the default-deny NetworkPolicy (check
	// namespace-network-policy).
	NetworkPolicy *NetworkPolicyTemplate `json:"networkPolicy,omitempty"`
}

// LimitRangeTemplate sets the LimitRange's limit of type Container.
type LimitRangeTemplate struct {
	// Default is the limit a container without one gets (default: mutation.resources.limits).
	Default *CPUMemory `json:"default,omitempty"`
	// DefaultRequest is the request a container without one gets (default:
	// mutation.resources.requests).
	DefaultRequest *CPUMemory `json:"defaultRequest,omitempty"`
	// Max is the highest limit a container may set (default: cpu 2, memory 4Gi).
	Max *CPUMemory `json:"max,omitempty"`
}

// ResourceQuotaTemplate sets the ResourceQuota.
type ResourceQuotaTemplate struct {
	// Hard is the quota's spec.hard, replacing the default as a whole (requests.cpu 4,
	// limits.cpu 8, requests.memory 8Gi, limits.memory 16Gi, pods 50).
	Hard map[string]Quantity `json:"hard,omitempty"`
}

// NetworkPolicyTemplate sets the default-deny NetworkPolicy.
type NetworkPolicyTemplate struct {
	// AllowDNS lets every pod send DNS queries (port 53, UDP and TCP) to kube-system (default
	// true); all other traffic in and out of the namespace's pods is denied.
	AllowDNS *bool `json:"allowDNS,omitempty"`
}

// OnDelete values.
const (
	OnDeleteRecreate = "recreate"
	OnDeleteReport   = "report"
)

// Guardrails is the compiled guardrails section.
type Guardrails struct {
	Create   bool
	OnDelete string
	// The specs of the objects Bulwark creates.
	LimitRange    corev1.LimitRangeSpec
	ResourceQuota corev1.ResourceQuotaSpec
	NetworkPolicy networkingv1.NetworkPolicySpec

	// template keeps the section with every default spelled out, for Effective.
	template GuardrailsSpec
}

// Guardrails returns the policy's guardrails (never nil).
func (s *Snapshot) Guardrails() *Guardrails { return &s.guardrails }

// defaultQuota is spec.hard of the ResourceQuota a policy that sets none creates: room for a
// team's services, not for a node's worth of miners.
var defaultQuota = map[string]Quantity{
	"requests.cpu": "4", "limits.cpu": "8", "requests.memory": "8Gi", "limits.memory": "16Gi", "pods": "50",
}

// compileGuardrails builds the guardrails from the section (nil: every default), the
// container defaults of LimitRange coming from the mutation's resource values. A template
// that the namespace check it serves would flag is a problem: Bulwark would report the
// objects it creates itself.
func compileGuardrails(spec *GuardrailsSpec, m *mutate.Options, ps *problems) Guardrails {
	if spec == nil {
		spec = &GuardrailsSpec{}
	}
	g := Guardrails{OnDelete: OnDeleteRecreate}
	before := len(ps.list)
	if spec.Create != nil {
		g.Create = *spec.Create
	}
	switch spec.OnDelete {
	case "":
	case OnDeleteRecreate, OnDeleteReport:
		g.OnDelete = spec.OnDelete
	default:
		ps.add("guardrails.onDelete", "unknown value %q (want recreate or report)", spec.OnDelete)
	}

	lr := LimitRangeTemplate{
		Default:        &CPUMemory{CPU: Quantity(m.Limits.CPU.String()), Memory: Quantity(m.Limits.Memory.String())},
		DefaultRequest: &CPUMemory{CPU: Quantity(m.Requests.CPU.String()), Memory: Quantity(m.Requests.Memory.String())},
		Max:            &CPUMemory{CPU: "2", Memory: "4Gi"},
	}
	if t := spec.LimitRange; t != nil {
		lr.Default = lr.Default.with(t.Default)
		lr.DefaultRequest = lr.DefaultRequest.with(t.DefaultRequest)
		lr.Max = lr.Max.with(t.Max)
	}
	g.LimitRange = compileLimitRange(&lr, spec.LimitRange, ps)

	hard := defaultQuota
	if t := spec.ResourceQuota; t != nil && t.Hard != nil {
		hard = t.Hard
	}
	g.ResourceQuota = compileQuota(hard, ps)

	dns := true
	if t := spec.NetworkPolicy; t != nil && t.AllowDNS != nil {
		dns = *t.AllowDNS
	}
	g.NetworkPolicy = defaultDeny(dns)

	on := g.Create
	g.template = GuardrailsSpec{
		Create: &on, OnDelete: g.OnDelete, LimitRange: &lr,
		ResourceQuota: &ResourceQuotaTemplate{Hard: hard}, NetworkPolicy: &NetworkPolicyTemplate{AllowDNS: &dns},
	}

	// Bulwark's own objects pass the checks they serve (once their quantities are valid).
	if len(ps.list) > before {
		return g
	}
	all := map[string]checks.Action{}
	for _, c := range checks.All() {
		if c.Target == checks.Namespaces {
			all[c.ID] = checks.Enforce
		}
	}
	settings, _ := checks.Compile(all, checks.Params{})
	fields := map[string]string{"LimitRange": "guardrails.limitRange", "ResourceQuota": "guardrails.resourceQuota", "NetworkPolicy": "guardrails.networkPolicy"}
	for _, v := range settings.EvaluateNamespace(&checks.Namespace{
		LimitRanges:     []corev1.LimitRange{{Spec: g.LimitRange}},
		ResourceQuotas:  []corev1.ResourceQuota{{Spec: g.ResourceQuota}},
		NetworkPolicies: []networkingv1.NetworkPolicy{{Spec: g.NetworkPolicy}},
	}) {
		ps.add(fields[v.Field], "the %s Bulwark would create fails its own check %s: %s", v.Field, v.Check, v.Message)
	}

	return g
}

// sets reports whether c sets the quantity of r.
func (c *CPUMemory) sets(r corev1.ResourceName) bool {
	switch {
	case c == nil:
		return false
	case r == corev1.ResourceCPU:
		return c.CPU != ""
	}
	return c.Memory != ""
}

// with returns c with the quantities o sets replaced.
func (c *CPUMemory) with(o *CPUMemory) *CPUMemory {
	out := *c
	if o != nil {
		if o.CPU != "" {
			out.CPU = o.CPU
		}
		if o.Memory != "" {
			out.Memory = o.Memory
		}
	}
	return &out
}

// compileLimitRange builds the LimitRange's spec, one limit of type Container, from t (written,
// the section as the document wrote it, or nil). Each quantity must be positive, and
// defaultRequest <= default <= max, as the API requires; an order is reported only where the
// section sets one of the two, since values taken from the mutation section are checked there.
func compileLimitRange(t, written *LimitRangeTemplate, ps *problems) corev1.LimitRangeSpec {
	const field = "guardrails.limitRange"
	list := func(name string, c *CPUMemory) corev1.ResourceList {
		out := corev1.ResourceList{}
		for r, v := range map[corev1.ResourceName]Quantity{corev1.ResourceCPU: c.CPU, corev1.ResourceMemory: c.Memory} {
			q, err := resource.ParseQuantity(string(v))
			if err != nil || q.Sign() <= 0 {
				ps.add(field+"."+name+"."+string(r), "%q is not a positive quantity", v)
				continue
			}
			out[r] = q
		}
		return out
	}
	l := corev1.LimitRangeItem{
		Type:           corev1.LimitTypeContainer,
		Default:        list("default", t.Default),
		DefaultRequest: list("defaultRequest", t.DefaultRequest),
		Max:            list("max", t.Max),
	}
	if written == nil {
		written = &LimitRangeTemplate{}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := l.DefaultRequest[r]
		def, hasDef := l.Default[r]
		maxQ, hasMax := l.Max[r]
		if hasReq && hasDef && (written.DefaultRequest.sets(r) || written.Default.sets(r)) && req.Cmp(def) > 0 {
			ps.add(field+".defaultRequest."+string(r), "%s is above default.%s %s", req.String(), r, def.String())
		}
		if hasDef && hasMax && def.Cmp(maxQ) > 0 {
			from := ""
			if !written.Default.sets(r) {
				from = " (taken from mutation.resources.limits." + string(r) + ")"
			}
			ps.add(field+".default."+string(r), "%s%s is above max.%s %s", def.String(), from, r, maxQ.String())
		}
	}
	return corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{l}}
}

// compileQuota builds the ResourceQuota's spec from spec.hard: each key a resource name, each
// value a quantity of zero or more.
func compileQuota(hard map[string]Quantity, ps *problems) corev1.ResourceQuotaSpec {
	const field = "guardrails.resourceQuota.hard"
	out := corev1.ResourceList{}
	for _, name := range sortedKeys(hard) {
		if errs := validation.IsQualifiedName(strings.TrimPrefix(name, "count/")); len(errs) > 0 {
			ps.add(join(field, name), "not a resource name: %s", strings.Join(errs, "; "))
			continue
		}
		q, err := resource.ParseQuantity(string(hard[name]))
		if err != nil || q.Sign() < 0 {
			ps.add(join(field, name), "%q is not a quantity of zero or more", hard[name])
			continue
		}
		out[corev1.ResourceName(name)] = q
	}
	return corev1.ResourceQuotaSpec{Hard: out}
}

// defaultDeny is the NetworkPolicy that isolates every pod of its namespace in both
// directions, letting DNS queries out to kube-system when dns is set.
func defaultDeny(dns bool) networkingv1.NetworkPolicySpec {
	spec := networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
	}
	if dns {
		udp, tcp, port := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
		spec.Egress = []networkingv1.NetworkPolicyEgressRule{{
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: metav1.NamespaceSystem},
			}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}, {Protocol: &tcp, Port: &port}},
		}}
	}
	return spec
}

// checkServed reports creation turned on while every check a guardrail serves is off: no
// guardrail would ever be created (the restricted and baseline profiles leave them off).
func (g *Guardrails) checkServed(s *checks.Settings, profile string, ps *problems) {
	if !g.Create {
		return
	}
	var ids []string
	for _, c := range checks.All() {
		if c.Target != checks.Namespaces {
			continue
		}
		if s.Action(c.ID) != checks.Off {
			return
		}
		ids = append(ids, c.ID)
	}
	if profile == "" {
		profile = NSA
	}
	ps.add("guardrails.create", "creation is on, but the checks the guardrails serve (%s) are all off in this policy (profile %s), so none would be created: give them an action, e.g. audit",
		strings.Join(ids, ", "), profile)
}

// InForce reports whether the guardrail serving check is kept in the namespace of
// dec: creation is on, and there the namespace is not exempt, neither the policy's mode nor
// the namespace's mode label lowers the actions (warn and audit report a missing guardrail
// instead of creating it), and the check is neither off nor exempted.
func (g *Guardrails) InForce(dec *Decision, check string) bool {
	if !g.Create || dec.Exempt || dec.Mode != "" {
		return false
	}
	if _, ok := dec.ExemptChecks[check]; ok {
		return false
	}
	return dec.Checks.Action(check) != checks.Off
}

// String describes the guardrails for the start-up log.
func (g *Guardrails) String() string {
	if !g.Create {
		return "off"
	}
	return fmt.Sprintf("create (onDelete %s)", g.OnDelete)
}
