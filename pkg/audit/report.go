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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

// PolicyReports are wgpolicyk8s.io/v1alpha2 PolicyReports: the format Kyverno, Kubescape and
// Policy Reporter read today. Bulwark writes one per namespace, named ReportName.
var PolicyReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

const (
	// ReportName is the name of Bulwark's PolicyReport in each namespace.
	ReportName = "bulwark"
	// ManagedByLabel marks the reports Bulwark owns, so that stale ones can be found and deleted.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "bulwark"
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
)

// namespaceReport is the content of one namespace's report.
type namespaceReport struct {
	results []any
	// content hashes the results as they are added, without their timestamps.
	content   hash.Hash
	pass      int
	fail      int
	warn      int
	truncated int
}

// severity orders the actions: what the webhook would deny is high.
var severity = map[checks.Action]string{checks.Enforce: "high", checks.Warn: "medium", checks.Audit: "low"}

func (r *namespaceReport) add(o *Object, at time.Time) {
	failed := map[string]bool{}
	for _, v := range o.Violations {
		result := "warn"
		if v.Action == checks.Enforce {
			result = "fail"
		}
		if result == "fail" {
			r.fail++
		} else {
			r.warn++
		}
		failed[v.Check] = true
		if len(r.results) >= maxReportResults {
			r.truncated++
			continue
		}
		if r.content == nil {
			r.content = sha256.New()
		}
		fmt.Fprintf(r.content, "%q %q %q %q %q %q %q %q %q %q\n", v.Check, result, v.Action, v.Field, v.Message, v.Fix,
			o.APIVersion, o.GroupKind.Kind, o.Namespace+"/"+o.Name, o.UID)
		r.results = append(r.results, map[string]any{
			"source":   "bulwark",
			"policy":   "bulwark",
			"rule":     v.Check,
			"category": "Pod Security",
			"severity": severity[v.Action],
			"result":   result,
			"scored":   true,
			"message":  v.Message + ". Fix: " + v.Fix,
			"timestamp": map[string]any{
				"seconds": at.Unix(),
				"nanos":   int64(0),
			},
			"properties": map[string]any{"field": v.Field, "fix": v.Fix, "action": string(v.Action)},
			"resources": []any{map[string]any{
				"apiVersion": o.APIVersion, "kind": o.GroupKind.Kind,
				"name": o.Name, "namespace": o.Namespace, "uid": string(o.UID),
			}},
		})
	}
	if passed := o.Checked - len(failed); passed > 0 {
		r.pass += passed
	}
}

// reportsAbsent tells whether err means the PolicyReport API is not served.
func reportsAbsent(err error) bool {
	var discovery *apiutil.ErrResourceDiscoveryFailed
	return meta.IsNoMatchError(err) || errors.As(err, &discovery) || apierrors.IsNotFound(err)
}

// writeReports writes one PolicyReport per namespace that had evaluated objects and deletes
// Bulwark's reports in the other namespaces. It returns -1 and no error when the PolicyReport
// CRD is not installed.
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
	current := map[string]*unstructured.Unstructured{}
	for i := range existing.Items {
		item := &existing.Items[i]
		if item.GetName() == ReportName {
			current[item.GetNamespace()] = item
		}
	}
	var errs []error
	written := 0
	for ns, rep := range c.reports {
		u := rep.object(ns)
		if old, ok := current[ns]; ok {
			if old.GetAnnotations()[DigestAnnotation] == u.GetAnnotations()[DigestAnnotation] {
				written++
				continue
			}
			u.SetResourceVersion(old.GetResourceVersion())
			if err := r.o.Client.Update(ctx, u); err != nil {
				errs = append(errs, fmt.Errorf("updating PolicyReport %s/%s: %w", ns, ReportName, err))
				continue
			}
		} else if err := r.o.Client.Create(ctx, u); err != nil {
			if apierrors.IsNotFound(err) { // the namespace is being deleted
				continue
			}
			errs = append(errs, fmt.Errorf("creating PolicyReport %s/%s: %w", ns, ReportName, err))
			continue
		}
		written++
	}
	for ns, old := range current {
		if _, ok := c.reports[ns]; ok {
			continue
		}
		if err := r.o.Client.Delete(ctx, old, client.Preconditions{UID: ptrUID(old.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting PolicyReport %s/%s: %w", ns, ReportName, err))
		}
	}
	return written, errors.Join(errs...)
}

func ptrUID(u types.UID) *types.UID { return &u }

// object renders the report of namespace ns.
func (r *namespaceReport) object(ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"summary": map[string]any{
			"pass": int64(r.pass), "fail": int64(r.fail), "warn": int64(r.warn), "error": int64(0), "skip": int64(0),
		},
		"results": r.results,
	}}
	if r.results == nil {
		u.Object["results"] = []any{}
	}
	u.SetGroupVersionKind(PolicyReportGVK)
	u.SetNamespace(ns)
	u.SetName(ReportName)
	u.SetLabels(map[string]string{ManagedByLabel: managedBy})
	annotations := map[string]string{DigestAnnotation: r.digest()}
	if r.truncated > 0 {
		annotations[TruncatedAnnotation] = strconv.Itoa(r.truncated)
	}
	u.SetAnnotations(annotations)
	return u
}

// digest hashes what the report says, leaving out the results' timestamps.
func (r *namespaceReport) digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d %d\n", r.pass, r.fail, r.warn, r.truncated)
	if r.content != nil {
		h.Write(r.content.Sum(nil))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
