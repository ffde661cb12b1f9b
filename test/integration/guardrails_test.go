package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/guardrails"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// guardrailPolicy keeps guardrails only in the namespaces labelled guardrails-test, so that
// the other tests' namespaces are left alone.
const guardrailPolicy = `apiVersion: bulwark.dev/v1alpha1
kind: Policy
namespaces:
  rules:
  - name: only-guardrail-tests
    selector: {matchExpressions: [{key: guardrails-test, operator: DoesNotExist}]}
    checks:
      namespace-quota: {action: off}
      namespace-limit-range: {action: off}
      namespace-network-policy: {action: off}
guardrails:
  create: true
`

// guardrailRecorder keeps what the keeper publishes.
type guardrailRecorder struct {
	mu      sync.Mutex
	actions map[string]int
	changed map[string]int
}

func (r *guardrailRecorder) GuardrailAction(kind, action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions[kind+"/"+action]++
}

func (r *guardrailRecorder) GuardrailsChanged(kind string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changed[kind] = n
}

func (r *guardrailRecorder) get(key string, changed bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if changed {
		return r.changed[key]
	}
	return r.actions[key]
}

// TestGuardrails runs the keeper against the apiserver: it creates the guardrails where they
// are in force, reports a change and leaves it, recreates a deleted guardrail, follows a
// changed template, reports a deletion under onDelete: report, never touches an object of
// its name that is not its own, and the audit reports the change.
func TestGuardrails(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snap, err := policy.Parse([]byte(guardrailPolicy), "test")
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(snap)
	rec := &guardrailRecorder{actions: map[string]int{}, changed: map[string]int{}}
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Cache:                  cache.Options{ByObject: guardrails.CacheConfig()},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:                 logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	keeper := guardrails.NewKeeper(guardrails.Options{Policy: holder, OwnNamespace: ownNamespace, Metrics: rec, PolicyPoll: 200 * time.Millisecond, Log: logr.Discard()})
	if err := keeper.AddToManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	guarded := map[string]string{"guardrails-test": "yes"}
	createNS := func(name string, labels map[string]string) {
		t.Helper()
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	createNS("guard-off", nil)
	createNS("guard-a", guarded)
	createNS("guard-b", guarded)

	for _, ns := range []string{"guard-a", "guard-b"} {
		waitFor(t, ns+": the three guardrails", func() string {
			return missingGuardrails(ctx, cs, ns)
		})
	}
	q, _ := cs.CoreV1().ResourceQuotas("guard-a").Get(ctx, "bulwark-quota", metav1.GetOptions{})
	if pods := q.Spec.Hard[corev1.ResourcePods]; pods.Value() != 50 || q.Labels[guardrails.ManagedByLabel] != "bulwark" {
		t.Errorf("bulwark-quota: pods %s, labels %v; want the default 50 and Bulwark's label", pods.String(), q.Labels)
	}
	np, _ := cs.NetworkingV1().NetworkPolicies("guard-a").Get(ctx, "bulwark-default-deny", metav1.GetOptions{})
	if len(np.Spec.PolicyTypes) != 2 || len(np.Spec.Ingress) != 0 {
		t.Errorf("bulwark-default-deny: %+v, want default deny both ways", np.Spec)
	}
	waitFor(t, "an Event GuardrailCreated on guard-a", func() string {
		return eventAbout(ctx, cs, "guard-a", "bulwark-quota", guardrails.ReasonCreated, "created ResourceQuota bulwark-quota")
	})
	time.Sleep(time.Second) // guard-off was queued before guard-a
	if m := missingGuardrails(ctx, cs, "guard-off"); m != "LimitRange, ResourceQuota, NetworkPolicy missing" {
		t.Errorf("guard-off, where the checks are off: %s", m)
	}

	// A change by someone is reported, not undone.
	q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("100")
	if _, err := cs.CoreV1().ResourceQuotas("guard-a").Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an Event GuardrailChanged on the edited quota", func() string {
		return eventAbout(ctx, cs, "guard-a", "bulwark-quota", guardrails.ReasonChanged, "spec.hard.pods: 50 -> 100")
	})
	waitFor(t, "bulwark_guardrails_changed{kind=ResourceQuota} 1", func() string {
		if n := rec.get("ResourceQuota", true); n != 1 {
			return fmt.Sprintf("it is %d", n)
		}
		return ""
	})
	if q, _ = cs.CoreV1().ResourceQuotas("guard-a").Get(ctx, "bulwark-quota", metav1.GetOptions{}); q.Spec.Hard.Pods().Value() != 100 {
		t.Errorf("the edited quota was undone: pods %s", q.Spec.Hard.Pods().String())
	}
	stats, err := audit.Run(ctx, audit.Options{Reader: mgr.GetAPIReader(), Policy: snap, OwnNamespace: ownNamespace, Namespace: "guard-a"}, func(o *audit.Object) error {
		if o.GroupKind != audit.NamespaceKind {
			return nil
		}
		var got []string
		for _, v := range o.Violations {
			got = append(got, v.Check+": "+v.Message)
		}
		if len(got) != 1 || !strings.Contains(got[0], "namespace-quota: Bulwark's ResourceQuota bulwark-quota was changed since Bulwark wrote it: spec.hard.pods: 50 -> 100") {
			t.Errorf("the audit of guard-a found %q, want the changed quota only", got)
		}
		return nil
	})
	if err != nil || stats.Evaluated["Namespace"] != 1 {
		t.Errorf("audit of guard-a: %+v, %v", stats, err)
	}

	// A deletion is undone.
	lr, _ := cs.CoreV1().LimitRanges("guard-a").Get(ctx, "bulwark-limits", metav1.GetOptions{})
	if err := cs.CoreV1().LimitRanges("guard-a").Delete(ctx, "bulwark-limits", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bulwark-limits recreated", func() string {
		again, err := cs.CoreV1().LimitRanges("guard-a").Get(ctx, "bulwark-limits", metav1.GetOptions{})
		switch {
		case err != nil:
			return err.Error()
		case again.UID == lr.UID:
			return "not deleted yet"
		}
		return ""
	})
	waitFor(t, "an Event GuardrailRecreated", func() string {
		return eventAbout(ctx, cs, "guard-a", "bulwark-limits", guardrails.ReasonRecreated, "LimitRange bulwark-limits was deleted; created it again")
	})

	// A new template: Bulwark's objects follow it, the edited one keeps its edit; deletions
	// are now reported only.
	changed, err := policy.Parse([]byte(guardrailPolicy+"  onDelete: report\n  resourceQuota: {hard: {requests.cpu: 2, limits.cpu: 4, requests.memory: 4Gi, limits.memory: 8Gi, pods: 30}}\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	holder.Store(changed)
	waitFor(t, "guard-b's quota at the new template", func() string {
		q, err := cs.CoreV1().ResourceQuotas("guard-b").Get(ctx, "bulwark-quota", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if n := q.Spec.Hard.Pods().Value(); n != 30 {
			return fmt.Sprintf("pods %d", n)
		}
		return ""
	})
	if q, _ = cs.CoreV1().ResourceQuotas("guard-a").Get(ctx, "bulwark-quota", metav1.GetOptions{}); q.Spec.Hard.Pods().Value() != 100 {
		t.Errorf("the edited quota was overwritten by the new template: pods %s", q.Spec.Hard.Pods().String())
	}
	if err := cs.NetworkingV1().NetworkPolicies("guard-b").Delete(ctx, "bulwark-default-deny", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an Event GuardrailDeleted on guard-b", func() string {
		return eventAbout(ctx, cs, "default", "guard-b", guardrails.ReasonDeleted, "guardrails.onDelete is report")
	})
	time.Sleep(time.Second)
	if _, err := cs.NetworkingV1().NetworkPolicies("guard-b").Get(ctx, "bulwark-default-deny", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("with onDelete report, the deleted NetworkPolicy is back (%v)", err)
	}
	if n := rec.get("NetworkPolicy/"+metrics.GuardrailDeletedReported, false); n != 1 {
		t.Errorf("deleted_reported counted %d times, want 1", n)
	}

	// An object of the name that is not Bulwark's is reported and left alone.
	createNS("guard-c", map[string]string{"guardrails-test": "yes", policy.ModeLabel: "audit"})
	theirs := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "bulwark-quota", Namespace: "guard-c"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("7")}}}
	if _, err := cs.CoreV1().ResourceQuotas("guard-c").Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, _ := cs.CoreV1().Namespaces().Get(ctx, "guard-c", metav1.GetOptions{})
	delete(ns.Labels, policy.ModeLabel) // now in force
	if _, err := cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an Event GuardrailNameTaken on guard-c's quota", func() string {
		return eventAbout(ctx, cs, "guard-c", "bulwark-quota", guardrails.ReasonNameTaken, "is not Bulwark's")
	})
	if q, _ = cs.CoreV1().ResourceQuotas("guard-c").Get(ctx, "bulwark-quota", metav1.GetOptions{}); q.Spec.Hard.Pods().Value() != 7 || guardrails.Managed(q) {
		t.Errorf("someone else's bulwark-quota was touched: %+v", q)
	}
	if missingGuardrails(ctx, cs, "guard-c") != "" {
		t.Errorf("guard-c: %s", missingGuardrails(ctx, cs, "guard-c"))
	}
}

// missingGuardrails names the guardrails namespace lacks, "" when it has all three.
func missingGuardrails(ctx context.Context, cs kubernetes.Interface, namespace string) string {
	var missing []string
	if _, err := cs.CoreV1().LimitRanges(namespace).Get(ctx, "bulwark-limits", metav1.GetOptions{}); err != nil {
		missing = append(missing, "LimitRange")
	}
	if _, err := cs.CoreV1().ResourceQuotas(namespace).Get(ctx, "bulwark-quota", metav1.GetOptions{}); err != nil {
		missing = append(missing, "ResourceQuota")
	}
	if _, err := cs.NetworkingV1().NetworkPolicies(namespace).Get(ctx, "bulwark-default-deny", metav1.GetOptions{}); err != nil {
		missing = append(missing, "NetworkPolicy")
	}
	if len(missing) == 0 {
		return ""
	}
	return strings.Join(missing, ", ") + " missing"
}

// eventAbout returns "" once namespace holds an Event with reason about the object named
// regarding whose note contains note, else what it holds.
func eventAbout(ctx context.Context, cs kubernetes.Interface, namespace, regarding, reason, note string) string {
	list, err := cs.EventsV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var seen []string
	for _, e := range list.Items {
		if e.Regarding.Name == regarding && e.Reason == reason && strings.Contains(e.Note, note) {
			return ""
		}
		seen = append(seen, eventLine(&e))
	}
	return "events: " + strings.Join(seen, "; ")
}

func eventLine(e *eventsv1.Event) string { return e.Reason + " " + e.Regarding.Name + ": " + e.Note }

// waitFor polls cond (which returns "" when it holds) for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = cond(); last == "" {
			return
		}
	}
	t.Fatalf("waiting for %s: %s", what, last)
}
