package audit

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/guardrails"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// NamespaceKind is the kind the namespace checks report on: a namespace is one object of the
// audit, cluster-scoped, whose reports and Events belong to the namespace itself.
var NamespaceKind = schema.GroupKind{Kind: "Namespace"}

// GuardrailResources are what the namespace checks read besides the namespaces: the audit
// lists them in every namespace (its RBAC grants list on them).
var GuardrailResources = []schema.GroupResource{
	{Resource: "resourcequotas"}, {Resource: "limitranges"}, {Group: "networking.k8s.io", Resource: "networkpolicies"},
}

// home is the namespace an object's reports and per-namespace counts belong to: its own; for
// a Namespace, the namespace itself; for another cluster-scoped object (a ClusterRole), default,
// where its Events go too.
func (o *Object) home() string {
	switch {
	case o.GroupKind == NamespaceKind:
		return o.Name
	case o.Namespace == "":
		return metav1.NamespaceDefault
	}
	return o.Namespace
}

// guardrailObjects are the quotas, limit ranges and network policies of the audited namespaces.
type guardrailObjects struct {
	quotas   map[string][]corev1.ResourceQuota
	limits   map[string][]corev1.LimitRange
	policies map[string][]networkingv1.NetworkPolicy
}

// namespaces audits every namespace (or o.Namespace) with the namespace checks: it reads the
// guardrail objects of the cluster page by page, then each namespace. A reader that may not
// read them (a user scanning one namespace) skips the namespace checks, saying why in
// Stats.NamespacesSkipped, rather than fail the audit.
func (r *run) namespaces(ctx context.Context) error {
	err := r.readNamespaces(ctx)
	if apierrors.IsForbidden(err) {
		r.stats.NamespacesSkipped = err.Error()
		return nil
	}
	return err
}

func (r *run) readNamespaces(ctx context.Context) error {
	g := guardrailObjects{quotas: map[string][]corev1.ResourceQuota{}, limits: map[string][]corev1.LimitRange{}, policies: map[string][]networkingv1.NetworkPolicy{}}
	if err := r.list(ctx, "resourcequotas", func() client.ObjectList { return &corev1.ResourceQuotaList{} }, func(obj runtime.Object) error {
		q := obj.(*corev1.ResourceQuota)
		g.quotas[q.Namespace] = append(g.quotas[q.Namespace], *q)
		return nil
	}, nil); err != nil {
		return err
	}
	if err := r.list(ctx, "limitranges", func() client.ObjectList { return &corev1.LimitRangeList{} }, func(obj runtime.Object) error {
		l := obj.(*corev1.LimitRange)
		g.limits[l.Namespace] = append(g.limits[l.Namespace], *l)
		return nil
	}, nil); err != nil {
		return err
	}
	if err := r.list(ctx, "networkpolicies", func() client.ObjectList { return &networkingv1.NetworkPolicyList{} }, func(obj runtime.Object) error {
		p := obj.(*networkingv1.NetworkPolicy)
		g.policies[p.Namespace] = append(g.policies[p.Namespace], *p)
		return nil
	}, nil); err != nil {
		return err
	}
	if r.o.Namespace != "" {
		var ns corev1.Namespace
		if err := r.o.Reader.Get(ctx, types.NamespacedName{Name: r.o.Namespace}, &ns); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("reading namespace %q: %w", r.o.Namespace, err)
		}
		return r.namespace(&ns, &g)
	}
	return r.list(ctx, "namespaces", func() client.ObjectList { return &corev1.NamespaceList{} }, func(obj runtime.Object) error {
		return r.namespace(obj.(*corev1.Namespace), &g)
	}, nil)
}

// namespace evaluates one namespace, Bulwark's guardrails that someone changed included.
func (r *run) namespace(ns *corev1.Namespace, g *guardrailObjects) error {
	out := &Object{GroupKind: NamespaceKind, APIVersion: "v1", Name: ns.Name, UID: ns.UID}
	return r.judge(out, ns.Labels, checks.Namespaces, func(dec policy.Decision) []checks.Violation {
		quotas, limits, policies := g.quotas[ns.Name], g.limits[ns.Name], g.policies[ns.Name]
		changed := slices.Concat(guardrails.ChangedIn(limits), guardrails.ChangedIn(quotas), guardrails.ChangedIn(policies))
		return dec.Checks.EvaluateNamespace(&checks.Namespace{
			Name: ns.Name, Labels: ns.Labels,
			ResourceQuotas: quotas, LimitRanges: limits, NetworkPolicies: policies, Changed: changed,
		})
	})
}
