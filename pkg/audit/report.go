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

// policyReport is the content of one report: the violations and the identity of their
// objects, rendered as results only when the report is written (object), so that an audit of
// many violating objects holds a few hundred bytes for each rather than its results' maps.
type policyReport struct {
	// scope is the report's object under ScopeResource, nil under ScopeNamespace.
	scope     *objectID
	results   []reportResult
	pass      int
	fail      int
	truncated int
}

// objectID is what a report keeps of an object: what names it in a scope or result.
type objectID struct {
	apiVersion, kind, namespace, name string
	uid                               types.UID
}

func idOf(o *Object) *objectID {
	return &objectID{apiVersion: o.APIVersion, kind: o.GroupKind.Kind, namespace: o.Namespace, name: o.Name, uid: o.UID}
}

// reportResult is one violation of a report and the object it is on.
type reportResult struct {
	v      checks.Violation
	object *objectID
}

// add adds o's results: one "fail" per violation, whatever the policy's action (kept in the
// result's properties), with the check's severity; the checks o passed are counted as passes.
func (r *policyReport) add(o *Object) {
	failed := map[string]bool{}
	id := r.scope
	for _, v := range o.Violations {
		r.fail++
		failed[v.Check] = true
		if len(r.results) >= maxReportResults {
			r.truncated++
			continue
		}
		if id == nil {
			id = idOf(o)
		}
		r.results = append(r.results, reportResult{v: v, object: id})
	}
	if passed := o.Checked - len(failed); passed > 0 {
		r.pass += passed
	}
}

// render returns the results as the report holds them, found at at, and a digest of their
// content without the timestamps (nil when there are none).
func (r *policyReport) render(at time.Time) ([]any, []byte) {
	results := make([]any, 0, len(r.results))
	var content hash.Hash
	for _, res := range r.results {
		const result = "fail"
		v, o := res.v, res.object
		if content == nil {
			content = sha256.New()
		}
		check, _ := checks.Get(v.Check)
		severity, category := string(check.Severity()), string(check.Category)
		fmt.Fprintf(content, "%q %q %q %q %q %q %q %q %q %q %q %q\n", v.Check, result, severity, category, v.Action, v.Field, v.Message, v.Fix,
			o.apiVersion, o.kind, o.namespace+"/"+o.name, o.uid)
		results = append(results, map[string]any{
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
			"resources":  []any{o.reference()},
		})
	}
	if content == nil {
		return results, nil
	}
	return results, content.Sum(nil)
}

// reference is the object as a PolicyReport's scope or result resource.
func (o *objectID) reference() map[string]any {
	return map[string]any{
		"apiVersion": o.apiVersion, "kind": o.kind,
		"name": o.name, "namespace": o.namespace, "uid": string(o.uid),
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
	current, err := r.existingReports(ctx)
	if err != nil {
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
	var errs []error
	written := 0
	for key, rep := range c.reports {
		u := rep.object(key, c.at)
		if old, ok := current[key]; ok {
			if old.digest == u.GetAnnotations()[DigestAnnotation] {
				written++
				continue
			}
			u.SetResourceVersion(old.resourceVersion)
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
		report := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: key.namespace, Name: key.name}}
		report.SetGroupVersionKind(PolicyReportGVK)
		if err := r.o.Client.Delete(ctx, report, client.Preconditions{UID: ptrUID(old.uid)}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting PolicyReport %s/%s: %w", key.namespace, key.name, err))
		}
	}
	return written, errors.Join(errs...)
}

// existingReport is what writeReports needs of a report in the cluster.
type existingReport struct {
	digest, resourceVersion string
	uid                     types.UID
}

// existingReports lists Bulwark's reports page by page, their metadata only: what a report
// says is compared by its digest annotation. It reads through Reader, straight from the
// apiserver (Client may be the manager's, whose cache would watch every report to list their
// metadata), and through Client when there is no Reader.
func (r *Runner) existingReports(ctx context.Context) (map[reportKey]existingReport, error) {
	var reader client.Reader = r.o.Client
	if r.o.Reader != nil {
		reader = r.o.Reader
	}
	pageSize := r.o.PageSize
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	current := map[reportKey]existingReport{}
	token := ""
	for {
		page := &metav1.PartialObjectMetadataList{}
		page.SetGroupVersionKind(PolicyReportGVK.GroupVersion().WithKind(PolicyReportGVK.Kind + "List"))
		if err := reader.List(ctx, page, client.MatchingLabels{ManagedByLabel: managedBy}, client.Limit(pageSize), client.Continue(token)); err != nil {
			return nil, err
		}
		for i := range page.Items {
			m := &page.Items[i].ObjectMeta
			current[reportKey{m.Namespace, m.Name}] = existingReport{digest: m.Annotations[DigestAnnotation], resourceVersion: m.ResourceVersion, uid: m.UID}
		}
		if token = page.GetContinue(); token == "" {
			return current, nil
		}
	}
}

func ptrUID(u types.UID) *types.UID { return &u }

// object renders the report named by key, its results found at at.
func (r *policyReport) object(key reportKey, at time.Time) *unstructured.Unstructured {
	results, content := r.render(at)
	u := &unstructured.Unstructured{Object: map[string]any{
		"summary": map[string]any{
			"pass": int64(r.pass), "fail": int64(r.fail), "warn": int64(0), "error": int64(0), "skip": int64(0),
		},
		"results": results,
	}}
	u.SetGroupVersionKind(PolicyReportGVK)
	u.SetNamespace(key.namespace)
	u.SetName(key.name)
	labels := map[string]string{ManagedByLabel: managedBy}
	if o := r.scope; o != nil {
		u.Object["scope"] = o.reference()
		labels[ResourceKindLabel] = o.kind
		if len(validation.IsValidLabelValue(o.name)) == 0 {
			labels[ResourceNameLabel] = o.name
		}
		if o.uid != "" {
			labels[ResourceUIDLabel] = string(o.uid)
			// The object owns its report: the garbage collector deletes the report with it,
			// even while Bulwark is not running.
			u.SetOwnerReferences([]metav1.OwnerReference{{
				APIVersion: o.apiVersion, Kind: o.kind, Name: o.name, UID: o.uid,
			}})
		}
	}
	u.SetLabels(labels)
	annotations := map[string]string{DigestAnnotation: r.digest(content)}
	if r.truncated > 0 {
		annotations[TruncatedAnnotation] = strconv.Itoa(r.truncated)
	}
	u.SetAnnotations(annotations)
	return u
}

// digest hashes what the report says, leaving out the results' timestamps: its counts and
// the digest of its results' content (render).
func (r *policyReport) digest(content []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d\n", r.pass, r.fail, r.truncated)
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))[:32]
}
