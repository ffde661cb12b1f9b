// Package audit evaluates what already runs in a cluster with the policy in force: every Pod
// and every object that carries a pod template, page by page, then every namespace with its
// quotas, limit ranges and network policies (the namespace checks), then the Roles,
// ClusterRoles and their bindings (the access-control checks). `bulwark serve` runs it on a
// schedule (Runner) and reports through metrics, Events and PolicyReports; `bulwark scan
// --cluster` runs it once from a kubeconfig.
package audit

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Object is one evaluated object of the cluster.
type Object struct {
	GroupKind  schema.GroupKind
	APIVersion string // "apps/v1"
	Namespace  string
	Name       string
	UID        types.UID
	// Exempt says why the policy exempts the object; it is then not evaluated.
	Exempt string
	// Violations of the checks in force for the object, after the policy's namespace rules,
	// mode label and exemptions, ordered by check.
	Violations []checks.Violation
	// Notes are what the webhook would tell the developer besides violations, such as an
	// exemption that has expired.
	Notes []string
	// Checked is the number of checks evaluated on the object (those in force for it).
	Checked int
	// Pod is the object's pod template and Mutation the defaults the mutating webhook would
	// add to it (nil when mutation is off for the object), for an evaluated object with a
	// template; both nil otherwise. They are the audit's own, valid while the object is
	// visited: read only.
	Pod      *podspec.Pod
	Mutation *mutate.Options
}

// Options configure one audit.
type Options struct {
	// Reader lists the objects; it should read from the apiserver (the manager's API reader, or
	// a client built from a kubeconfig), not from a cache of every pod.
	Reader client.Reader
	Policy *policy.Snapshot
	// OwnNamespace is Bulwark's namespace, always exempt.
	OwnNamespace string
	// Namespace limits the audit to one namespace; "" audits all.
	Namespace string
	// PageSize is the number of objects asked for per list call (default 500).
	PageSize int64
	// Now is the clock for exemption expiry (default time.Now).
	Now func() time.Time
	// NamespaceLabels returns a namespace's labels, nil when the namespace is gone. The default
	// reads the Namespace through Reader, once per namespace and audit.
	NamespaceLabels func(ctx context.Context, name string) (map[string]string, error)
	// Progress, when set, is called after every page.
	Progress func(Progress)
}

// Progress tells how far the audit is through one kind.
type Progress struct {
	Kind string
	// Done objects of Kind have been read; Total is Done plus what the apiserver says remains
	// (an estimate, 0 when it does not say).
	Done, Total int
}

// Stats counts the objects of one audit by kind ("Deployment").
type Stats struct {
	Evaluated map[string]int // evaluated, with or without violations
	Violating map[string]int // evaluated with at least one violation
	Exempt    map[string]int // exempt by the policy, not evaluated
	// Owned objects are controlled by an object already audited (the pods of a Deployment's
	// ReplicaSet, the Jobs of a CronJob): they are counted against it, not evaluated again.
	Owned map[string]int
	// NamespacesSkipped says why the namespace checks did not run (the reader may not list
	// namespaces or their quotas, limit ranges and network policies); empty when they ran.
	NamespacesSkipped string
	// RBACSkipped says why the Roles, ClusterRoles and their bindings were not audited (the
	// reader may not list them); empty when they were.
	RBACSkipped string
}

func newStats() Stats {
	return Stats{Evaluated: map[string]int{}, Violating: map[string]int{}, Exempt: map[string]int{}, Owned: map[string]int{}}
}

// Totals are the counts of Stats over every kind.
type Totals struct{ Evaluated, Violating, Exempt, Owned int }

// Totals sums the counts over every kind.
func (s Stats) Totals() Totals {
	sum := func(m map[string]int) int {
		n := 0
		for _, v := range m {
			n += v
		}
		return n
	}
	return Totals{Evaluated: sum(s.Evaluated), Violating: sum(s.Violating), Exempt: sum(s.Exempt), Owned: sum(s.Owned)}
}

// Total is the number of objects read.
func (s Stats) Total() int {
	t := s.Totals()
	return t.Evaluated + t.Exempt + t.Owned
}

// Kinds lists the kinds an audit reads, in the order it reads them: owners first, so that an
// object is Owned when its controller was read before it.
func Kinds() []podspec.Kind { return podspec.OwnersFirst() }

// defaultPageSize is the number of objects asked for per list call when none is set.
const defaultPageSize = 500

// Run audits the cluster: it lists every kind page by page and calls visit with each object
// it evaluated or found exempt, in listing order. Objects controlled by one already audited
// are only counted (Stats.Owned). Memory stays bounded by a page of objects plus the UIDs of
// the controllers. visit must not keep the Object's Violations past the call if it modifies them.
func Run(ctx context.Context, o Options, visit func(*Object) error) (Stats, error) {
	if o.Reader == nil || o.Policy == nil {
		return Stats{}, fmt.Errorf("audit: no reader or no policy")
	}
	if o.PageSize <= 0 {
		o.PageSize = defaultPageSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NamespaceLabels == nil {
		o.NamespaceLabels = namespaceReader(o.Reader)
	}
	r := run{o: o, stats: newStats(), audited: map[types.UID]struct{}{}, visit: visit, now: o.Now()}
	for _, k := range podspec.OwnersFirst() {
		if err := r.kind(ctx, k); err != nil {
			return r.stats, err
		}
	}
	if err := r.namespaces(ctx); err != nil {
		return r.stats, err
	}
	if err := r.rbac(ctx); err != nil {
		return r.stats, err
	}
	return r.stats, nil
}

type run struct {
	o       Options
	stats   Stats
	audited map[types.UID]struct{} // controllers audited (or owned) so far
	visit   func(*Object) error
	now     time.Time
}

func (r *run) kind(ctx context.Context, k podspec.Kind) error {
	return r.list(ctx, k.Plural(), func() client.ObjectList { return k.NewList() },
		func(obj runtime.Object) error { return r.object(ctx, k, obj) },
		func(done, total int) {
			if r.o.Progress != nil {
				r.o.Progress(Progress{Kind: k.Kind, Done: done, Total: total})
			}
		})
}

// list reads what newList lists page by page (in o.Namespace when set) and hands each object to each; progress, when set, is told after every page how
// many were read and about how many there are. what names the list in errors ("CronJobs",
// "resourcequotas").
func (r *run) list(ctx context.Context, what string, newList func() client.ObjectList, each func(runtime.Object) error, progress func(done, total int)) error {
	opts := []client.ListOption{client.Limit(r.o.PageSize)}
	if r.o.Namespace != "" {
		opts = append(opts, client.InNamespace(r.o.Namespace))
	}
	done, token := 0, ""
	for {
		list := newList()
		page := opts
		if token != "" {
			page = append(append([]client.ListOption{}, opts...), client.Continue(token))
		}
		if err := r.o.Reader.List(ctx, list, page...); err != nil {
			if apierrors.IsResourceExpired(err) {
				return fmt.Errorf("listing %s: the list expired before the audit read it all (%d read); the next audit starts over: %w", what, done, err)
			}
			return fmt.Errorf("listing %s: %w", what, err)
		}
		err := meta.EachListItem(list, func(obj runtime.Object) error {
			done++
			return each(obj)
		})
		if err != nil {
			return err
		}
		token = list.GetContinue()
		if progress != nil {
			total := done
			if rem := list.GetRemainingItemCount(); rem != nil && token != "" {
				total += int(*rem)
			}
			progress(done, total)
		}
		if token == "" {
			return nil
		}
	}
}

func (r *run) object(ctx context.Context, k podspec.Kind, obj runtime.Object) error {
	pod, ok := podspec.FromObject(obj)
	if !ok {
		return fmt.Errorf("listing %s: unexpected %T in the list", k.Plural(), obj)
	}
	m := &pod.Object
	if ref := controllerOf(m); ref != nil {
		if _, ok := r.audited[ref.UID]; ok {
			r.stats.Owned[k.Kind]++
			if k.Controls {
				r.audited[m.UID] = struct{}{}
			}
			return nil
		}
	}
	if k.Controls {
		r.audited[m.UID] = struct{}{}
	}
	labels, err := r.o.NamespaceLabels(ctx, m.Namespace)
	if err != nil {
		return fmt.Errorf("reading namespace %q: %w", m.Namespace, err)
	}
	out := &Object{
		GroupKind: pod.GroupKind, APIVersion: pod.TypeMeta.APIVersion,
		Namespace: m.Namespace, Name: m.Name, UID: m.UID,
	}
	var evaluate func(policy.Decision) []checks.Violation
	if pod.HasTemplate {
		evaluate = func(dec policy.Decision) []checks.Violation {
			out.Pod, out.Mutation = pod, dec.Mutation
			return dec.Checks.Evaluate(pod)
		}
	}
	return r.judge(out, labels, checks.Pods, evaluate)
}

// judge resolves the policy for out (its identity set, labels its namespace's) as an admission
// request for it would be. Unless the policy exempts it, evaluate (nil: nothing to evaluate)
// gives its violations, and it is counted as evaluated against the checks of target, and
// violating if any apply. Then visit has it.
func (r *run) judge(out *Object, labels map[string]string, target checks.Target, evaluate func(policy.Decision) []checks.Violation) error {
	kind := out.GroupKind.Kind
	namespace := out.Namespace
	if out.GroupKind == NamespaceKind {
		namespace = out.Name
	}
	dec := r.o.Policy.Resolve(policy.Request{
		Namespace: namespace, NamespaceLabels: labels, OwnNamespace: r.o.OwnNamespace,
		Kind: kind, Name: out.Name, Now: r.now,
	})
	out.Notes = dec.Warnings
	switch {
	case dec.Exempt:
		out.Exempt = dec.Reason
		r.stats.Exempt[kind]++
	case evaluate == nil:
		r.stats.Evaluated[kind]++
	default:
		out.Violations = dec.Apply(evaluate(dec))
		out.Checked = dec.Checks.ActiveCount(target)
		r.stats.Evaluated[kind]++
		if len(out.Violations) > 0 {
			r.stats.Violating[kind]++
		}
	}
	return r.visit(out)
}

func controllerOf(m *metav1.ObjectMeta) *metav1.OwnerReference {
	for i := range m.OwnerReferences {
		if c := m.OwnerReferences[i].Controller; c != nil && *c {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// namespaceReader reads namespaces through r, once each.
func namespaceReader(r client.Reader) func(context.Context, string) (map[string]string, error) {
	seen := map[string]map[string]string{}
	return func(ctx context.Context, name string) (map[string]string, error) {
		if l, ok := seen[name]; ok {
			return l, nil
		}
		var ns corev1.Namespace
		if err := r.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
		seen[name] = ns.Labels
		return ns.Labels, nil
	}
}
