package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/bulwark-k8s/bulwark/internal/eventnote"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Event reasons on the policy ConfigMap.
const (
	ReasonPolicyLoaded  = "PolicyLoaded"
	ReasonPolicyInvalid = "PolicyInvalid"
	ReasonPolicyMissing = "PolicyMissing"
)

// ConfigMapSource names the policy ConfigMap in messages and in the info metric.
func ConfigMapSource(key types.NamespacedName) string {
	return "ConfigMap " + key.String()
}

// LoadConfigMap reads and compiles the policy in the ConfigMap key, straight from the API:
// the policy `bulwark serve` starts with. A missing ConfigMap, a missing policy.yaml key or an
// invalid document is an error that says which.
func LoadConfigMap(ctx context.Context, c client.Reader, key types.NamespacedName) (*policy.Snapshot, error) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, key, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("policy %s not found: create it, or start with --profile or --policy-file", ConfigMapSource(key))
		}
		return nil, fmt.Errorf("reading policy %s: %w", ConfigMapSource(key), err)
	}
	return parseConfigMap(&cm, key)
}

// missingKeyError is parseConfigMap's error for a ConfigMap without the policy key under
// data or binaryData: the policy is missing, not invalid.
type missingKeyError struct{ error }

func parseConfigMap(cm *corev1.ConfigMap, key types.NamespacedName) (*policy.Snapshot, error) {
	data, ok := cm.Data[policy.ConfigMapKey]
	if _, binary := cm.BinaryData[policy.ConfigMapKey]; !ok && binary {
		return nil, fmt.Errorf("policy %s holds %q under binaryData, not data: a policy is UTF-8 text, and kubectl create configmap --from-file puts a file that is not valid UTF-8 under binaryData (save it as UTF-8)",
			ConfigMapSource(key), policy.ConfigMapKey)
	}
	if !ok {
		return nil, missingKeyError{fmt.Errorf("policy %s has no data key %q", ConfigMapSource(key), policy.ConfigMapKey)}
	}
	return policy.Parse([]byte(data), ConfigMapSource(key))
}

// policyReloader keeps the holder on the content of the policy ConfigMap. A valid change is
// put in force at once; an invalid one, or a deleted ConfigMap, leaves the last good policy in
// force and is logged, counted and recorded as an Event on the ConfigMap.
type policyReloader struct {
	key     types.NamespacedName
	reader  client.Reader // the manager's cache, scoped to this one ConfigMap
	holder  *policy.Holder
	events  recorder.EventRecorder
	metrics metrics.PolicyRecorder
	log     logr.Logger

	mu         sync.Mutex
	generation int64
	lastError  string // the last failure reported, so an unchanged bad state is not reported again
}

func (r *policyReloader) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.NamespacedName != r.key {
		return reconcile.Result{}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	current := r.holder.Current()
	var cm corev1.ConfigMap
	if err := r.reader.Get(ctx, r.key, &cm); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		r.fail(nil, metrics.ReloadMissing, ReasonPolicyMissing,
			fmt.Sprintf("policy %s was deleted; the last good policy (hash %s) stays in force", ConfigMapSource(r.key), current.Hash))
		return reconcile.Result{}, nil
	}
	snap, err := parseConfigMap(&cm, r.key)
	if err != nil {
		reason, result := ReasonPolicyInvalid, metrics.ReloadInvalid
		if errors.As(err, new(missingKeyError)) {
			reason, result = ReasonPolicyMissing, metrics.ReloadMissing
		}
		r.fail(&cm, result, reason, fmt.Sprintf("%v\nThe last good policy (hash %s) stays in force.", err, current.Hash))
		return reconcile.Result{}, nil
	}
	r.lastError = ""
	if snap.Hash == current.Hash {
		r.metrics.Reload(metrics.ReloadUnchanged)
		return reconcile.Result{}, nil
	}
	r.holder.Store(snap)
	r.generation++
	r.metrics.Reload(metrics.ReloadSuccess)
	r.metrics.Loaded(snap.Source, snap.Hash, r.generation, time.Now())
	r.log.Info("policy loaded", "source", snap.Source, "hash", snap.Hash, "previousHash", current.Hash,
		"generation", r.generation, "resourceVersion", cm.ResourceVersion)
	r.events.Eventf(&cm, nil, corev1.EventTypeNormal, ReasonPolicyLoaded, "Reload",
		"policy (hash %s, generation %d) is in force", snap.Hash, r.generation)
	return reconcile.Result{}, nil
}

// fail reports a policy that could not be loaded. cm is nil when the ConfigMap is gone: the
// Event then names it without a uid, so that it is listed with the namespace's Events.
func (r *policyReloader) fail(cm *corev1.ConfigMap, result, reason, msg string) {
	r.metrics.Reload(result)
	if msg == r.lastError {
		return
	}
	r.lastError = msg
	r.log.Error(nil, "policy not loaded", "source", ConfigMapSource(r.key), "reason", reason, "error", msg)
	if cm == nil {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: r.key.Namespace, Name: r.key.Name}}
	}
	r.events.Eventf(cm, nil, corev1.EventTypeWarning, reason, "Reload", "%s", eventnote.Fit(msg, "\n... (the full list is in Bulwark's log)"))
}
