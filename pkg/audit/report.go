package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

// PolicyReports are wgpolicyk8s.io/v1alpha2 PolicyReports: the format Kyverno, Kubescape and
// Policy Reporter read today. Bulwark writes one per violating workload (ScopeResource, the
// default, as Kyverno does) or one per namespace (ScopeNamespace).
var PolicyReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

// ReportScope is what one PolicyReport covers.
type ReportScope string

const (
	// ScopeResource writes one report per violating object, named ResourceReportName, whose
	// scope is that object: Policy Reporter's Kind and Name columns show it. An object
	// without violations has no report.
	ScopeResource ReportScope = "resource"
	// ScopeNamespace writes one report named ReportName per namespace with evaluated
	// objects, without scope; each result names its object in resources.
	ScopeNamespace ReportScope = "namespace"
)

// ReportScopes lists the valid scopes, the default first.
var ReportScopes = []ReportScope{ScopeResource, ScopeNamespace}

// Valid reports whether s is one of ReportScopes.
func (s ReportScope) Valid() bool { return s == ScopeResource || s == ScopeNamespace }

const (
	// ReportName is the name of Bulwark's PolicyReport in each namespace (ScopeNamespace).
	ReportName = "bulwark"
	// ManagedByLabel marks the reports Bulwark owns, so that stale ones can be found and deleted.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "bulwark"
	// ResourceKindLabel, ResourceNameLabel and ResourceUIDLabel name the object of a report of
	// ScopeResource (the name label only when the name fits a label value).
	ResourceKindLabel = "bulwark.dev/resource-kind"
	ResourceNameLabel = "bulwark.dev/resource-name"
	ResourceUIDLabel  = "bulwark.dev/resource-uid"
	// DigestAnnotation holds a digest of the report's content without its timestamps: an audit
	// that finds the same results leaves the report alone (its timestamps then say when each
	// result was first found).
	DigestAnnotation = "bulwark.dev/content-digest"
	// TruncatedAnnotation holds the number of results left out of a report to keep it within
	// the size of an object (its summary still counts them).
	TruncatedAnnotation = "bulwark.dev/truncated-results"
	// maxReportResults bounds the results of one report (about 500 bytes each; etcd takes
	// objects up to 1.5 MiB).
	maxReportResults = 1000
	// Source is the results' source, the engine Policy Reporter groups them by.
	Source = "bulwark"
)

// ResourceReportName names the report of an object under ScopeResource: "bulwark-" and its
// UID (Kyverno names its own report of the object by the bare UID, so the two never clash),
// or, for an object without a UID, a digest of its kind and name. Either is a valid DNS
// subdomain of at most 44 characters.
func ResourceReportName(o *Object) string {
	if o.UID != "" {
		return "bulwark-" + string(o.UID)
	}
	sum := sha256.Sum256([]byte(o.GroupKind.String() + "/" + o.Namespace + "/" + o.Name))
	return "bulwark-" + hex.EncodeToString(sum[:])[:16]
}

// reportKey identifies a report: its namespace and name.
type reportKey struct{ namespace, name string }

// policyReport is the content of one report.
type policyReport struct {
	// scope is the report's object under ScopeResource, nil under ScopeNamespace.
	scope   *Object
	results []any
	// content hashes the results as they are added, without their timestamps.
	content   hash.Hash
	pass      int
	fail      int
	truncated int
}

// add adds o's results: one "fail" per violation, whatever the policy's action (kept in the
// result's properties), with the check's severity; the checks o passed are counted as passes.
func (r *policyReport) add(o *Object, at time.Time) {
	failed := map[string]bool{}
	for _, v := range o.Violations {
		const result = "fail"
		r.fail++
		failed[v.Check] = true
		if len(r.results) >= maxReportResults {
			r.truncated++
			continue
		}
		if r.content == nil {
			r.content = sha256.New()
		}
		check, _ := checks.Get(v.Check)
		severity, category := string(check.Severity()), string(check.Category)
		fmt.Fprintf(r.content, "%q %q %q %q %q %q %q %q %q %q %q %q\n", v.Check, result, severity, category, v.Action, v.Field, v.Message, v.Fix,
			o.APIVersion, o.GroupKind.Kind, o.Namespace+"/"+o.Name, o.UID)
		r.results = append(r.results, map[string]any{
			"source":   Source,
			"policy":   "bulwark",
			"rule":     v.Check,
			"category": category,
			"severity": severity,
			"result":   result,
			"scored":   true,
			"message":  v.Message + ". Fix: " + v.Fix,
			"timestamp": map[string]any{
				"seconds": at.Unix(),
				"nanos":   int64(0),
			},
			"properties": map[string]any{"field": v.Field, "fix": v.Fix, "action": string(v.Action)},
			"resources":  []any{objectReference(o)},
		})
	}
	if passed := o.Checked - len(failed); passed > 0 {
		r.pass += passed
	}
}

// objectReference is o as a PolicyReport's scope or result resource.
func objectReference(o *Object) map[string]any {
	return map[string]any{
		"apiVersion": o.APIVersion, "kind": o.GroupKind.Kind,
		"name": o.Name, "namespace": o.Namespace, "uid": string(o.UID),
	}
}

// reportsAbsent tells whether err means the PolicyReport API is not served.
func reportsAbsent(err error) bool {
	var discovery *apiutil.ErrResourceDiscoveryFailed
	return meta.IsNoMatchError(err) || errors.As(err, &discovery) || apierrors.IsNotFound(err)
}

// writeReports writes the collected reports and deletes Bulwark's other reports: those of
// namespaces or objects with nothing left to report (gone, exempt, or, under ScopeResource,
// clean), and those of the other scope. It returns -1 and no error when the PolicyReport CRD
// is not installed.
func (r *Runner) writeReports(ctx context.Context, c *collector) (int, error) {
	existing := &unstructured.UnstructuredList{}
	existing.SetGroupVersionKind(PolicyReportGVK.GroupVersion().WithKind(PolicyReportGVK.Kind + "List"))
	if err := r.o.Client.List(ctx, existing, client.MatchingLabels{ManagedByLabel: managedBy}); err != nil {
		if reportsAbsent(err) {
			if !r.reportsMissing {
				r.o.Log.Info("the PolicyReport CRD (wgpolicyk8s.io/v1alpha2) is not installed; audit results go to metrics and Events only")
				r.reportsMissing = true
			}
			return -1, nil
		}
		return 0, fmt.Errorf("listing PolicyReports: %w", err)
	}
	r.reportsMissing = false
	current := make(map[reportKey]*unstructured.Unstructured, len(existing.Items))
	for i := range existing.Items {
		item := &existing.Items[i]
		current[reportKey{item.GetNamespace(), item.GetName()}] = item
	}
	var errs []error
	written := 0
	for key, rep := range c.reports {
		u := rep.object(key)
		if old, ok := current[key]; ok {
			if old.GetAnnotations()[DigestAnnotation] == u.GetAnnotations()[DigestAnnotation] {
				written++
				continue
			}
			u.SetResourceVersion(old.GetResourceVersion())
			if err := r.o.Client.Update(ctx, u); err != nil {
				errs = append(errs, fmt.Errorf("updating PolicyReport %s/%s: %w", key.namespace, key.name, err))
				continue
			}
		} else if err := r.o.Client.Create(ctx, u); err != nil {
			if apierrors.IsNotFound(err) { // the namespace is being deleted
				continue
			}
			errs = append(errs, fmt.Errorf("creating PolicyReport %s/%s: %w", key.namespace, key.name, err))
			continue
		}
		written++
	}
	for key, old := range current {
		if _, ok := c.reports[key]; ok {
			continue
		}
		if err := r.o.Client.Delete(ctx, old, client.Preconditions{UID: ptrUID(old.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting PolicyReport %s/%s: %w", key.namespace, key.name, err))
		}
	}
	return written, errors.Join(errs...)
}

func ptrUID(u types.UID) *types.UID { return &u }

// object renders the report named by key.
func (r *policyReport) object(key reportKey) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"summary": map[string]any{
			"pass": int64(r.pass), "fail": int64(r.fail), "warn": int64(0), "error": int64(0), "skip": int64(0),
		},
		"results": r.results,
	}}
	if r.results == nil {
		u.Object["results"] = []any{}
	}
	u.SetGroupVersionKind(PolicyReportGVK)
	u.SetNamespace(key.namespace)
	u.SetName(key.name)
	labels := map[string]string{ManagedByLabel: managedBy}
	if o := r.scope; o != nil {
		u.Object["scope"] = objectReference(o)
		labels[ResourceKindLabel] = o.GroupKind.Kind
		if len(validation.IsValidLabelValue(o.Name)) == 0 {
			labels[ResourceNameLabel] = o.Name
		}
		if o.UID != "" {
			labels[ResourceUIDLabel] = string(o.UID)
			// The object owns its report: the garbage collector deletes the report with it,
			// even while Bulwark is not running.
			u.SetOwnerReferences([]metav1.OwnerReference{{
				APIVersion: o.APIVersion, Kind: o.GroupKind.Kind, Name: o.Name, UID: o.UID,
			}})
		}
	}
	u.SetLabels(labels)
	annotations := map[string]string{DigestAnnotation: r.digest()}
	if r.truncated > 0 {
		annotations[TruncatedAnnotation] = strconv.Itoa(r.truncated)
	}
	u.SetAnnotations(annotations)
	return u
}

// digest hashes what the report says, leaving out the results' timestamps.
func (r *policyReport) digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d\n", r.pass, r.fail, r.truncated)
	if r.content != nil {
		h.Write(r.content.Sum(nil))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
