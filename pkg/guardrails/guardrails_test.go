package guardrails

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

func guardrailsOf(t *testing.T, section string) *policy.Guardrails {
	t.Helper()
	s, err := policy.Parse([]byte("apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nguardrails:\n"+section), "test")
	if err != nil {
		t.Fatal(err)
	}
	return s.Guardrails()
}

func kind(name string) *Kind {
	for _, k := range Kinds {
		if k.Kind == name {
			return k
		}
	}
	panic(name)
}

// TestBuiltGuardrailsPassTheirChecks: what Bulwark creates is what the namespace checks ask
// for, and carries its marks.
func TestBuiltGuardrailsPassTheirChecks(t *testing.T) {
	g := guardrailsOf(t, "  create: true\n")
	ns := &checks.Namespace{Name: "team"}
	for _, k := range Kinds {
		obj := k.Build(g, "team")
		if obj.GetNamespace() != "team" || obj.GetName() != k.Name || !Managed(obj) || obj.GetAnnotations()[AppliedAnnotation] == "" {
			t.Errorf("%s: %s/%s labels %v annotations %v", k.Kind, obj.GetNamespace(), obj.GetName(), obj.GetLabels(), obj.GetAnnotations())
		}
		if ch := k.Changes(obj); ch != nil {
			t.Errorf("%s: a fresh guardrail has changes %q", k.Kind, ch)
		}
		switch o := obj.(type) {
		case *corev1.LimitRange:
			ns.LimitRanges = append(ns.LimitRanges, *o)
		case *corev1.ResourceQuota:
			ns.ResourceQuotas = append(ns.ResourceQuotas, *o)
		case *networkingv1.NetworkPolicy:
			ns.NetworkPolicies = append(ns.NetworkPolicies, *o)
		}
	}
	all := map[string]checks.Action{}
	for _, k := range Kinds {
		all[k.Check] = checks.Enforce
	}
	s, err := checks.Compile(all, checks.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if vs := s.EvaluateNamespace(ns); len(vs) > 0 {
		t.Errorf("the guardrails fail their checks: %+v", vs)
	}
}

func TestChanges(t *testing.T) {
	g := guardrailsOf(t, "  create: true\n")
	rq := kind("ResourceQuota")
	obj := rq.Build(g, "team").(*corev1.ResourceQuota)

	// The apiserver writes quantities in their canonical form: the same values are no change.
	obj.Spec.Hard[corev1.ResourceLimitsCPU] = resource.MustParse("8000m")
	if ch := rq.Changes(obj); ch != nil {
		t.Errorf("8000m for 8 is a change: %q", ch)
	}
	obj.Spec.Hard[corev1.ResourcePods] = resource.MustParse("100")
	delete(obj.Spec.Hard, corev1.ResourceLimitsMemory)
	ch := rq.Changes(obj)
	want := []string{"spec.hard.limits.memory: 16Gi -> (none)", "spec.hard.pods: 50 -> 100"}
	if strings.Join(ch, "|") != strings.Join(want, "|") {
		t.Errorf("changes %q, want %q", ch, want)
	}
	got := ChangedIn([]corev1.ResourceQuota{*obj, {}})
	if len(got) != 1 || got[0].Kind != "ResourceQuota" || got[0].Name != "bulwark-quota" {
		t.Errorf("ChangedIn = %+v", got)
	}

	// Without the annotation, Bulwark's spec cannot be told from another's: a change.
	delete(obj.Annotations, AppliedAnnotation)
	if ch := rq.Changes(obj); len(ch) != 1 || !strings.Contains(ch[0], "removed") {
		t.Errorf("an object without the applied spec: changes %q, want the annotation named", ch)
	}
	// Another's object: nothing to compare with.
	delete(obj.Labels, ManagedByLabel)
	if ch := rq.Changes(obj); ch != nil {
		t.Errorf("an object without Bulwark's label has changes %q", ch)
	}
}

func TestPlan(t *testing.T) {
	onRecreate := guardrailsOf(t, "  create: true\n")
	onReport := guardrailsOf(t, "  create: true\n  onDelete: report\n")
	raised := guardrailsOf(t, "  create: true\n  resourceQuota: {hard: {cpu: 4, memory: 8Gi, pods: 10}}\n")
	rq := kind("ResourceQuota")
	mine := func(g *policy.Guardrails, rv string) client.Object {
		o := rq.Build(g, "team")
		o.SetResourceVersion(rv)
		return o
	}
	edited := mine(onRecreate, "7").(*corev1.ResourceQuota)
	edited.Spec.Hard[corev1.ResourcePods] = resource.MustParse("500")
	taken := &corev1.ResourceQuota{}
	taken.Name, taken.Namespace, taken.ResourceVersion = "bulwark-quota", "team", "3"

	for _, tc := range []struct {
		name  string
		g     *policy.Guardrails
		found client.Object
		m     memo
		want  step
	}{
		{"none yet", onRecreate, nil, memo{}, create},
		{"none yet, report mode", onReport, nil, memo{}, create},
		{"deleted, recreate", onRecreate, nil, memo{existed: true}, recreate},
		{"deleted, report", onReport, nil, memo{existed: true}, reportDeleted},
		{"deleted and reported", onReport, nil, memo{existed: true, deleted: true}, keepAsIs},
		{"in line", onRecreate, mine(onRecreate, "5"), memo{existed: true}, keepAsIs},
		{"template changed", raised, mine(onRecreate, "5"), memo{existed: true}, update},
		{"changed by someone", raised, edited, memo{existed: true}, reportChanged},
		{"change already reported", onRecreate, edited, memo{existed: true, reported: "7"}, keepAsIs},
		{"name taken", onRecreate, taken, memo{}, reportTaken},
		{"name taken, reported", onRecreate, taken, memo{reported: "3"}, keepAsIs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changes := plan(rq, tc.g, tc.found, tc.m)
			if got != tc.want {
				t.Errorf("plan = %d, want %d", got, tc.want)
			}
			if (got == reportChanged) != (len(changes) > 0) {
				t.Errorf("step %d with changes %q", got, changes)
			}
		})
	}
}
