package guardrails

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bulwark-k8s/bulwark/internal/eventnote"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Reasons of the Events the keeper records.
const (
	ReasonCreated   = "GuardrailCreated"
	ReasonRecreated = "GuardrailRecreated"
	ReasonUpdated   = "GuardrailUpdated"
	ReasonDeleted   = "GuardrailDeleted"
	ReasonChanged   = "GuardrailChanged"
	ReasonNameTaken = "GuardrailNameTaken"
	ReasonFailed    = "GuardrailFailed"
)

// Options configure a Keeper.
type Options struct {
	// Policy is the policy in force; a change applies to every namespace within PolicyPoll.
	Policy       policy.Source
	OwnNamespace string
	Metrics      metrics.GuardrailRecorder
	// PolicyPoll is how often the policy in force is compared with the one last applied
	// (default 2s).
	PolicyPoll time.Duration
	Log        logr.Logger
}

// Keeper keeps the guardrails of every namespace. It is one per process: what it remembers
// (the guardrails it saw, the deletions and changes it reported) carries over from one term
// of leadership to the next, and its controller is added to each term's manager.
type Keeper struct {
	o      Options
	mu     sync.Mutex
	memory map[memoKey]*memo
	// changed counts the remembered guardrails with changed set, by kind.
	changed map[string]int
}

type memoKey struct{ namespace, kind string }

// memo is what the keeper remembers of one guardrail.
type memo struct {
	existed  bool   // seen or created by this process
	deleted  bool   // its deletion reported (onDelete: report): not created again
	reported string // the resourceVersion of the object whose change or name was last reported
	changed  bool   // it differs from what Bulwark wrote
}

// NewKeeper returns a Keeper; AddToManager runs it.
func NewKeeper(o Options) *Keeper {
	if o.PolicyPoll <= 0 {
		o.PolicyPoll = 2 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NopGuardrails{}
	}
	return &Keeper{o: o, memory: map[memoKey]*memo{}, changed: map[string]int{}}
}

// CacheConfig returns how the leader's cache holds the guardrail kinds: only Bulwark's
// objects (by label), so that a cluster's other quotas and policies take no memory.
func CacheConfig() map[client.Object]cache.ByObject {
	sel := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedBy})
	out := map[client.Object]cache.ByObject{}
	for _, k := range Kinds {
		out[k.New()] = cache.ByObject{Label: sel}
	}
	return out
}

// AddToManager adds the keeper's controller to mgr, whose cache must hold the guardrail
// kinds as CacheConfig says. It reconciles a namespace when it appears or changes, when one
// of Bulwark's guardrails in it changes, when the policy in force changes, and at start.
func (k *Keeper) AddToManager(mgr manager.Manager) error {
	r := &reconciler{
		Keeper: k, cache: mgr.GetClient(), live: mgr.GetAPIReader(), write: mgr.GetClient(),
		events: mgr.GetEventRecorder("bulwark"),
	}
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.GetNamespace()}}}
	})
	ours := builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
		k := KindOf(obj)
		return k != nil && obj.GetName() == k.Name
	}))
	b := ctrl.NewControllerManagedBy(mgr).Named("guardrails").
		For(&corev1.Namespace{}).
		WatchesRawSource(source.Func(r.pollPolicy)).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(true), SkipNameValidation: ptr.To(true)})
	for _, kind := range Kinds {
		b = b.Watches(kind.New(), toNamespace, ours)
	}
	return b.Complete(r)
}

// reconciler is the keeper with one term's clients.
type reconciler struct {
	*Keeper
	cache  client.Reader // the term's cache
	live   client.Reader // the apiserver, for what the cache may not have seen yet
	write  client.Writer
	events recorder.EventRecorder
}

// pollPolicy enqueues every namespace whenever the policy in force changes, until ctx ends.
func (r *reconciler) pollPolicy(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	last := r.o.Policy.Current()
	go func() {
		t := time.NewTicker(r.o.PolicyPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur := r.o.Policy.Current()
			if cur == last {
				continue
			}
			last = cur
			var list corev1.NamespaceList
			if err := r.cache.List(ctx, &list); err != nil {
				r.o.Log.Error(err, "listing namespaces after a policy change")
				continue
			}
			r.o.Log.Info("policy changed; bringing the guardrails of every namespace in line", "hash", cur.Hash, "namespaces", len(list.Items))
			for _, ns := range list.Items {
				q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: ns.Name}})
			}
		}
	}()
	return nil
}

// Reconcile brings the guardrails of one namespace in line with the policy.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	snap := r.o.Policy.Current()
	g := snap.Guardrails()
	var ns corev1.Namespace
	if err := r.cache.Get(ctx, req.NamespacedName, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ns.DeletionTimestamp != nil {
		r.forget(ns.Name)
		return reconcile.Result{}, nil
	}
	dec := snap.Resolve(policy.Request{
		Namespace: ns.Name, NamespaceLabels: ns.Labels, OwnNamespace: r.o.OwnNamespace, Kind: "Namespace", Name: ns.Name,
	})
	var errs []error
	for _, kind := range Kinds {
		if !g.InForce(&dec, kind.Check) {
			r.remember(ns.Name, kind, func(m *memo) { m.changed = false })
			r.publish(kind)
			continue
		}
		if err := r.keep(ctx, &ns, kind, g); err != nil {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", kind.Kind, ns.Name, kind.Name, err))
		}
	}
	return reconcile.Result{}, errors.Join(errs...)
}

// step is what the keeper does about one guardrail.
type step int

const (
	keepAsIs      step = iota
	create             // the namespace has none
	recreate           // someone deleted it, onDelete: recreate
	update             // Bulwark's object, to the policy's template
	reportDeleted      // someone deleted it, onDelete: report
	reportChanged      // someone changed it since Bulwark wrote it
	reportTaken        // an object of the name that is not Bulwark's
)

// plan decides what to do about guardrail kind in a namespace, from the object found there
// (nil: none) and what the keeper remembers of it. It returns what changed, for reportChanged.
func plan(kind *Kind, g *policy.Guardrails, found client.Object, m memo) (step, []string) {
	if found == nil {
		switch {
		case !m.existed:
			return create, nil
		case g.OnDelete == policy.OnDeleteRecreate:
			return recreate, nil
		case !m.deleted:
			return reportDeleted, nil
		}
		return keepAsIs, nil
	}
	reported := m.reported == found.GetResourceVersion()
	if !Managed(found) {
		if reported {
			return keepAsIs, nil
		}
		return reportTaken, nil
	}
	if changes := kind.Changes(found); len(changes) > 0 {
		if reported {
			return keepAsIs, nil
		}
		return reportChanged, changes
	}
	if !kind.current(found, g) {
		return update, nil
	}
	return keepAsIs, nil
}

// keep plans and takes the step for one guardrail.
func (r *reconciler) keep(ctx context.Context, ns *corev1.Namespace, kind *Kind, g *policy.Guardrails) error {
	found, err := r.find(ctx, r.cache, ns.Name, kind)
	if err != nil {
		return err
	}
	m := r.recall(ns.Name, kind)
	if found == nil && m.existed {
		// Just created, or deleted: the cache may lag behind the apiserver, and an object
		// whose label someone removed has left the cache.
		if found, err = r.find(ctx, r.live, ns.Name, kind); err != nil {
			return err
		}
	}
	s, changes := plan(kind, g, found, m)
	log := r.o.Log.WithValues("namespace", ns.Name, "kind", kind.Kind, "name", kind.Name)
	switch s {
	case create, recreate:
		obj := kind.Build(g, ns.Name)
		if err := r.write.Create(ctx, obj); err != nil {
			if apierrors.IsAlreadyExists(err) {
				// An object of that name the cache does not hold: someone else's, without
				// Bulwark's label. Look at it and plan again.
				if found, err = r.find(ctx, r.live, ns.Name, kind); err != nil || found == nil {
					return err
				}
				r.remember(ns.Name, kind, func(m *memo) { m.existed = true })
				s, changes = plan(kind, g, found, r.recall(ns.Name, kind))
				return r.report(ns, kind, g, found, s, changes, log)
			}
			return r.failed(ns, obj, kind, "Create", err)
		}
		reason, kindOf, action := ReasonCreated, corev1.EventTypeNormal, metrics.GuardrailCreated
		msg := fmt.Sprintf("created %s %s from the policy's guardrails", kind.Kind, kind.Name)
		if s == recreate {
			reason, kindOf, action = ReasonRecreated, corev1.EventTypeWarning, metrics.GuardrailRecreated
			msg = fmt.Sprintf("%s %s was deleted; created it again (guardrails.onDelete: recreate). To keep the namespace without it, exempt the namespace from %s with a reason and an expiry", kind.Kind, kind.Name, kind.Check)
		}
		r.wrote(obj, kind, kindOf, reason, "Create", action, msg, log)
	case update:
		obj := found.DeepCopyObject().(client.Object)
		kind.write(obj, g)
		if err := r.write.Update(ctx, obj); err != nil {
			if apierrors.IsConflict(err) {
				return err // the next event brings the newer object
			}
			return r.failed(ns, obj, kind, "Update", err)
		}
		r.wrote(obj, kind, corev1.EventTypeNormal, ReasonUpdated, "Update", metrics.GuardrailUpdated,
			fmt.Sprintf("updated %s %s to the policy's changed guardrails", kind.Kind, kind.Name), log)
	default:
		return r.report(ns, kind, g, found, s, changes, log)
	}
	return nil
}

// wrote records a write of obj: what the keeper remembers, the metrics, an Event on obj and a
// log line.
func (r *reconciler) wrote(obj client.Object, kind *Kind, eventType, reason, action, metric, msg string, log logr.Logger) {
	r.remember(obj.GetNamespace(), kind, func(m *memo) { *m = memo{existed: true} })
	r.publish(kind)
	r.o.Metrics.GuardrailAction(kind.Kind, metric)
	r.events.Eventf(obj, nil, eventType, reason, action, "%s", msg)
	log.Info(msg)
}

// report records what plan found about an object it does not write: a deletion, a change, a
// name taken, or nothing to do.
func (r *reconciler) report(ns *corev1.Namespace, kind *Kind, g *policy.Guardrails, found client.Object, s step, changes []string, log logr.Logger) error {
	switch s {
	case keepAsIs:
		r.remember(ns.Name, kind, func(m *memo) {
			m.existed = true
			m.changed = found != nil && Managed(found) && len(kind.Changes(found)) > 0
		})
	case reportDeleted:
		r.remember(ns.Name, kind, func(m *memo) { m.deleted, m.changed = true, false })
		r.o.Metrics.GuardrailAction(kind.Kind, metrics.GuardrailDeletedReported)
		msg := fmt.Sprintf("%s %s was deleted; guardrails.onDelete is report, so Bulwark does not create it again while this replica leads. To keep the namespace without it, exempt the namespace from %s with a reason and an expiry", kind.Kind, kind.Name, kind.Check)
		// On the namespace, the deleted object being related: Events about one object with the
		// same reason are merged into one series, whatever their notes.
		r.events.Eventf(ns, kind.Build(g, ns.Name), corev1.EventTypeWarning, ReasonDeleted, "Report", "%s", msg)
		log.Info(msg)
	case reportChanged:
		r.remember(ns.Name, kind, func(m *memo) {
			*m = memo{existed: true, reported: found.GetResourceVersion(), changed: true}
		})
		r.o.Metrics.GuardrailAction(kind.Kind, metrics.GuardrailChangedReported)
		msg := fmt.Sprintf("%s %s differs from what Bulwark wrote: %s. Bulwark leaves the change in place and reports it; undo it, or delete the object for Bulwark to create it afresh",
			kind.Kind, kind.Name, strings.Join(changes, "; "))
		r.events.Eventf(found, nil, corev1.EventTypeWarning, ReasonChanged, "Report", "%s", eventnote.Fit(msg, "..."))
		log.Info(msg)
	case reportTaken:
		r.remember(ns.Name, kind, func(m *memo) { *m = memo{existed: true, reported: found.GetResourceVersion()} })
		msg := fmt.Sprintf("%s %s is not Bulwark's (it lacks the label %s=%s); Bulwark leaves it as it is and creates no %s in this namespace",
			kind.Kind, kind.Name, ManagedByLabel, ManagedBy, kind.Kind)
		r.events.Eventf(found, nil, corev1.EventTypeWarning, ReasonNameTaken, "Report", "%s", msg)
		log.Info(msg)
	}
	r.publish(kind)
	return nil
}

// failed reports a write the apiserver refused, and returns it for a retry.
func (r *reconciler) failed(ns *corev1.Namespace, obj client.Object, kind *Kind, action string, err error) error {
	r.o.Metrics.GuardrailAction(kind.Kind, metrics.GuardrailFailed)
	hint := ""
	if apierrors.IsForbidden(err) {
		hint = " Bulwark's service account may not write it: install the chart with policy.guardrails.create true, which grants the rights"
	}
	r.events.Eventf(ns, obj, corev1.EventTypeWarning, ReasonFailed, action,
		"%s", eventnote.Fit(fmt.Sprintf("cannot %s %s %s: %v.%s", strings.ToLower(action), kind.Kind, kind.Name, err, hint), "..."))
	return err
}

// find reads the guardrail of kind in namespace through reader; nil when there is none.
func (r *reconciler) find(ctx context.Context, reader client.Reader, namespace string, kind *Kind) (client.Object, error) {
	obj := kind.New()
	err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: kind.Name}, obj)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}

func (k *Keeper) recall(namespace string, kind *Kind) memo {
	k.mu.Lock()
	defer k.mu.Unlock()
	if m := k.memory[memoKey{namespace, kind.Kind}]; m != nil {
		return *m
	}
	return memo{}
}

func (k *Keeper) remember(namespace string, kind *Kind, change func(*memo)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := memoKey{namespace, kind.Kind}
	m := k.memory[key]
	if m == nil {
		m = &memo{}
		k.memory[key] = m
	}
	was := m.changed
	change(m)
	switch {
	case m.changed && !was:
		k.changed[kind.Kind]++
	case was && !m.changed:
		k.changed[kind.Kind]--
	}
}

// forget drops what the keeper remembers of a namespace that is gone or going.
func (k *Keeper) forget(namespace string) {
	k.mu.Lock()
	for _, kind := range Kinds {
		key := memoKey{namespace, kind.Kind}
		if m := k.memory[key]; m != nil && m.changed {
			k.changed[kind.Kind]--
		}
		delete(k.memory, key)
	}
	k.mu.Unlock()
	for _, kind := range Kinds {
		k.publish(kind)
	}
}

// publish sets bulwark_guardrails_changed for kind.
func (k *Keeper) publish(kind *Kind) {
	k.mu.Lock()
	n := k.changed[kind.Kind]
	k.mu.Unlock()
	k.o.Metrics.GuardrailsChanged(kind.Kind, n)
}
