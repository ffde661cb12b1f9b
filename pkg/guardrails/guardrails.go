// Package guardrails keeps a LimitRange, a ResourceQuota and a default-deny NetworkPolicy in
// every namespace, made from the policy's templates. Per-pod limits do not stop resource
// theft: a miner allowed 500m per pod starts forty pods, and only a namespace's quota caps
// them all; a pod that may reach every other pod is one foothold away from the whole
// cluster. The admission checks guard each pod; these objects guard each namespace.
//
// # Whose object it is
//
// Each guardrail has a fixed name (bulwark-limits, bulwark-quota, bulwark-default-deny), the
// label app.kubernetes.io/managed-by=bulwark, and, in the annotation bulwark.dev/applied-spec,
// the spec Bulwark last wrote. That annotation is how a change by someone else is told from
// a change of the policy's template: an object whose spec still matches the annotation is
// Bulwark's to update to a new template; one whose spec no longer matches was changed by
// someone, is reported (an Event on it, bulwark_guardrails_changed, and a result of the
// namespace check in the audit) and left as it is, since the change may be the platform
// team's deliberate exception. An object of that name without the label is someone else's,
// reported and never touched.
//
// # Deletions
//
// A guardrail deleted while the leader runs is created afresh (onDelete: recreate), or only
// reported (onDelete: report). The leader remembers the deletion in memory: a new leader
// cannot tell a deleted guardrail from one never created, and creates it. A namespace that
// is to go without a guardrail for good is exempted from the check the guardrail serves, with
// a reason and an expiry, as any exemption; once a guardrail is no longer in force in a
// namespace, Bulwark leaves the object it created there and stops keeping it.
package guardrails

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// The marks of Bulwark's guardrails.
const (
	ManagedByLabel    = "app.kubernetes.io/managed-by"
	ManagedBy         = "bulwark"
	AppliedAnnotation = "bulwark.dev/applied-spec"
)

// Kind is one kind of guardrail: the object, its name, and the namespace check it serves.
type Kind struct {
	Kind  string // "ResourceQuota"
	Name  string // the object's name in every namespace
	Check string // the namespace check it serves
	// New returns an empty object of the kind.
	New func() client.Object
	// spec returns a pointer to an object's spec.
	spec func(client.Object) any
	// template returns the spec the policy gives the kind.
	template func(*policy.Guardrails) any
}

// Kinds are the guardrails, in the order they are created.
var Kinds = []*Kind{
	{
		Kind: "LimitRange", Name: "bulwark-limits", Check: "namespace-limit-range",
		New:      func() client.Object { return &corev1.LimitRange{} },
		spec:     func(o client.Object) any { return &o.(*corev1.LimitRange).Spec },
		template: func(g *policy.Guardrails) any { return &g.LimitRange },
	},
	{
		Kind: "ResourceQuota", Name: "bulwark-quota", Check: "namespace-quota",
		New:      func() client.Object { return &corev1.ResourceQuota{} },
		spec:     func(o client.Object) any { return &o.(*corev1.ResourceQuota).Spec },
		template: func(g *policy.Guardrails) any { return &g.ResourceQuota },
	},
	{
		Kind: "NetworkPolicy", Name: "bulwark-default-deny", Check: "namespace-network-policy",
		New:      func() client.Object { return &networkingv1.NetworkPolicy{} },
		spec:     func(o client.Object) any { return &o.(*networkingv1.NetworkPolicy).Spec },
		template: func(g *policy.Guardrails) any { return &g.NetworkPolicy },
	},
}

// Build returns the guardrail of kind k the policy gives namespace: its template, marked as
// Bulwark's.
func (k *Kind) Build(g *policy.Guardrails, namespace string) client.Object {
	obj := k.New()
	obj.SetNamespace(namespace)
	obj.SetName(k.Name)
	k.write(obj, g)
	return obj
}

// write sets obj's spec to the template, and marks obj as Bulwark's with that spec applied.
func (k *Kind) write(obj client.Object, g *policy.Guardrails) {
	// A copy through JSON: the template's maps and lists belong to the policy, and a client
	// decodes the apiserver's answer into the object it wrote.
	applied, _ := json.Marshal(k.template(g))
	spec := reflect.ValueOf(k.spec(obj)).Elem()
	spec.Set(reflect.Zero(spec.Type()))
	_ = json.Unmarshal(applied, k.spec(obj))
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedBy
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AppliedAnnotation] = string(applied)
	obj.SetAnnotations(ann)
}

// Managed reports whether obj is one of Bulwark's guardrails.
func Managed(obj metav1.Object) bool { return obj.GetLabels()[ManagedByLabel] == ManagedBy }

// KindOf returns the guardrail kind obj is, by its Go type, or nil.
func KindOf(obj client.Object) *Kind {
	for _, k := range Kinds {
		if reflect.TypeOf(k.New()) == reflect.TypeOf(obj) {
			return k
		}
	}
	return nil
}

// Changes returns what differs between the spec Bulwark last wrote on obj (its annotation)
// and obj's spec, one "field: was -> now" per difference; nil when obj is not Bulwark's or is
// unchanged. Quantities compare by value ("1" equals "1000m"). A removed annotation is a
// change too: what Bulwark wrote can no longer be told from what someone else did.
func (k *Kind) Changes(obj client.Object) []string {
	if !Managed(obj) {
		return nil
	}
	raw, ok := obj.GetAnnotations()[AppliedAnnotation]
	if !ok {
		return []string{fmt.Sprintf("metadata.annotations[%s]: removed", AppliedAnnotation)}
	}
	applied := reflect.New(reflect.TypeOf(k.spec(obj)).Elem()).Interface()
	if err := json.Unmarshal([]byte(raw), applied); err != nil {
		return []string{fmt.Sprintf("metadata.annotations[%s]: not the spec Bulwark wrote (%v)", AppliedAnnotation, err)}
	}
	if equality.Semantic.DeepEqual(applied, k.spec(obj)) {
		return nil
	}
	var was, now any
	_ = json.Unmarshal([]byte(raw), &was)
	cur, _ := json.Marshal(k.spec(obj))
	_ = json.Unmarshal(cur, &now)
	out := diff("spec", was, now, nil)
	if len(out) == 0 { // equal as JSON, different as values: name the spec
		out = []string{"spec"}
	}
	return out
}

// current reports whether obj holds the policy's template as Bulwark wrote it.
func (k *Kind) current(obj client.Object, g *policy.Guardrails) bool {
	return equality.Semantic.DeepEqual(k.spec(obj), k.template(g))
}

// maxChanges bounds the differences named for one object.
const maxChanges = 5

// diff appends the paths at which a and b (generic JSON values) differ, with both values.
func diff(path string, a, b any, out []string) []string {
	if len(out) > maxChanges {
		return out
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			out = diff(path+"."+k, am[k], bm[k], out)
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			out = diff(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return out
	}
	if len(out) == maxChanges {
		return append(out, "...")
	}
	return append(out, fmt.Sprintf("%s: %s -> %s", path, show(a), show(b)))
}

// show writes a JSON value for a change: compact JSON, or "(none)".
func show(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// ChangedIn returns the changed guardrails among objs, for the namespace checks.
func ChangedIn[T any, P interface {
	*T
	client.Object
}](objs []T) []checks.Changed {
	k := KindOf(P(new(T))) // one kind for the whole list
	if k == nil {
		return nil
	}
	var out []checks.Changed
	for i := range objs {
		obj := P(&objs[i])
		if obj.GetName() != k.Name {
			continue
		}
		if ch := k.Changes(obj); len(ch) > 0 {
			out = append(out, checks.Changed{Kind: k.Kind, Name: obj.GetName(), Changes: ch})
		}
	}
	return out
}
