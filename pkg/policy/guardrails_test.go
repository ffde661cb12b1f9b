package policy_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

func TestGuardrailsDefaults(t *testing.T) {
	g := mustParse(t, head).Guardrails()
	if g.Create || g.OnDelete != policy.OnDeleteRecreate {
		t.Errorf("create %v, onDelete %q; want off and recreate", g.Create, g.OnDelete)
	}
	l := g.LimitRange.Limits
	if len(l) != 1 || l[0].Type != corev1.LimitTypeContainer {
		t.Fatalf("LimitRange limits %+v, want one of type Container", l)
	}
	wantQuantity(t, "limitRange default cpu", l[0].Default[corev1.ResourceCPU], "500m")
	wantQuantity(t, "limitRange default memory", l[0].Default[corev1.ResourceMemory], "512Mi")
	wantQuantity(t, "limitRange defaultRequest cpu", l[0].DefaultRequest[corev1.ResourceCPU], "100m")
	wantQuantity(t, "limitRange max cpu", l[0].Max[corev1.ResourceCPU], "2")
	wantQuantity(t, "quota limits.cpu", g.ResourceQuota.Hard[corev1.ResourceLimitsCPU], "8")
	wantQuantity(t, "quota pods", g.ResourceQuota.Hard[corev1.ResourcePods], "50")
	np := g.NetworkPolicy
	if len(np.PodSelector.MatchLabels) != 0 || len(np.PolicyTypes) != 2 || len(np.Ingress) != 0 || len(np.Egress) != 1 {
		t.Errorf("NetworkPolicy %+v, want every pod isolated both ways with one egress rule (DNS)", np)
	}
	if p := np.Egress[0].Ports; len(p) != 2 || p[0].Port.IntValue() != 53 {
		t.Errorf("DNS egress ports %+v", p)
	}

	// The LimitRange follows the mutation's resource values, unless the section sets its own.
	g = mustParse(t, head+"mutation:\n  resources: {limits: {cpu: 1}}\nguardrails:\n  create: true\n  onDelete: report\n  limitRange: {default: {memory: 1Gi}}\n  resourceQuota: {hard: {cpu: 2, memory: 2Gi}}\n  networkPolicy: {allowDNS: false}\n").Guardrails()
	if !g.Create || g.OnDelete != policy.OnDeleteReport {
		t.Errorf("create %v, onDelete %q; want on and report", g.Create, g.OnDelete)
	}
	wantQuantity(t, "limitRange default cpu", g.LimitRange.Limits[0].Default[corev1.ResourceCPU], "1")
	wantQuantity(t, "limitRange default memory", g.LimitRange.Limits[0].Default[corev1.ResourceMemory], "1Gi")
	if len(g.ResourceQuota.Hard) != 2 {
		t.Errorf("quota %v: hard replaces the default as a whole", g.ResourceQuota.Hard)
	}
	if len(g.NetworkPolicy.Egress) != 0 {
		t.Errorf("allowDNS false still allows %+v", g.NetworkPolicy.Egress)
	}
}

func wantQuantity(t *testing.T, what string, got resource.Quantity, want string) {
	t.Helper()
	if got.Cmp(resource.MustParse(want)) != 0 {
		t.Errorf("%s = %s, want %s", what, got.String(), want)
	}
}

func TestGuardrailsErrors(t *testing.T) {
	for _, tc := range []struct{ name, section, want string }{
		{"onDelete", "onDelete: keep", `line 4: guardrails.onDelete: unknown value "keep" (want recreate or report)`},
		{"quota key", "resourceQuota: {hard: {cpu: 1, memory: 1Gi, 'bad key!': 1}}", `guardrails.resourceQuota.hard[bad key!]: not a resource name`},
		{"negative quota", "resourceQuota: {hard: {cpu: -1, memory: 1Gi}}", `guardrails.resourceQuota.hard.cpu: "-1" is not a quantity of zero or more`},
		{"quota that fails its check", "resourceQuota: {hard: {pods: 10, cpu: 4}}", "guardrails.resourceQuota: the ResourceQuota Bulwark would create fails its own check namespace-quota: no ResourceQuota (without scopes) caps the namespace's total memory"},
		{"limit range order", "limitRange: {defaultRequest: {cpu: 2}}", "guardrails.limitRange.defaultRequest.cpu: 2 is above default.cpu 500m"},
		{"default above max", "limitRange: {max: {memory: 256Mi}}", "guardrails.limitRange.default.memory: 512Mi (taken from mutation.resources.limits.memory) is above max.memory 256Mi"},
		{"bad quantity", "limitRange: {max: {cpu: lots}}", `guardrails.limitRange.max.cpu: "lots" is not a positive quantity`},
		{"unknown field", "limitRange: {min: {cpu: 1}}", `unknown field "guardrails.limitRange.min"`},
		{"nothing to create", "create: true\nprofile: restricted", "guardrails.create: creation is on, but the checks the guardrails serve (namespace-limit-range, namespace-network-policy, namespace-quota) are all off in this policy (profile restricted)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(head+"guardrails:\n  "+tc.section+"\n"), "src")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an error with %q", err, tc.want)
			}
		})
	}
}

func TestGuardrailsInForce(t *testing.T) {
	doc := head + `guardrails: {create: true}
checks:
  namespace-limit-range: {action: off}
namespaces:
  exempt: [kube-system, platform]
exemptions:
- name: team-a-network
  reason: the team runs its own Cilium policies
  namespace: team-a
  checks: [namespace-network-policy]
`
	s := mustParse(t, doc)
	inForce := func(ns string, labels map[string]string) string {
		dec := s.Resolve(policy.Request{Namespace: ns, NamespaceLabels: labels, OwnNamespace: "bulwark-system", Kind: "Namespace", Name: ns, Now: beforeExpiry})
		var out []string
		for _, id := range []string{"namespace-quota", "namespace-limit-range", "namespace-network-policy"} {
			if s.Guardrails().InForce(&dec, id) {
				out = append(out, id)
			}
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		ns     string
		labels map[string]string
		want   string
	}{
		{"team-b", nil, "namespace-quota,namespace-network-policy"},
		{"team-a", nil, "namespace-quota"},
		{"platform", nil, ""},
		{"bulwark-system", nil, ""},
		{"team-c", map[string]string{policy.ModeLabel: "audit"}, ""},
		{"team-d", map[string]string{policy.ModeLabel: "warn"}, ""},
	} {
		if got := inForce(tc.ns, tc.labels); got != tc.want {
			t.Errorf("%s %v: guardrails in force %q, want %q", tc.ns, tc.labels, got, tc.want)
		}
	}
	off := mustParse(t, head)
	dec := off.Resolve(policy.Request{Namespace: "team-b", Kind: "Namespace", Name: "team-b"})
	if off.Guardrails().InForce(&dec, "namespace-quota") {
		t.Error("a guardrail is in force while creation is off")
	}
}
