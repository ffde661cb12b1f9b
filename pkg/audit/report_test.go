package audit

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

// TestWriteReportsFollowsScope: switching scope replaces the other scope's reports; an
// unchanged report is left alone; a clean object's report is deleted.
func TestWriteReportsFollowsScope(t *testing.T) {
	scheme := runtime.NewScheme()
	scheme.AddKnownTypeWithName(PolicyReportGVK, &unstructured.Unstructured{})
	scheme.AddKnownTypeWithName(PolicyReportGVK.GroupVersion().WithKind("PolicyReportList"), &unstructured.UnstructuredList{})
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	ctx := context.Background()
	web := &Object{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, APIVersion: "apps/v1", Namespace: "shop", Name: "web", UID: "u-web", Checked: 20,
		Violations: []checks.Violation{{Check: "host-pid", Action: checks.Audit, Field: "spec.template.spec.hostPID", Message: "m", Fix: "f"}}}
	clean := *web
	clean.Violations = nil

	reports := func() map[string]*unstructured.Unstructured {
		t.Helper()
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(PolicyReportGVK.GroupVersion().WithKind("PolicyReportList"))
		if err := c.List(ctx, list, client.MatchingLabels{ManagedByLabel: managedBy}); err != nil {
			t.Fatal(err)
		}
		out := map[string]*unstructured.Unstructured{}
		for i := range list.Items {
			out[list.Items[i].GetNamespace()+"/"+list.Items[i].GetName()] = &list.Items[i]
		}
		return out
	}
	audit := func(scope ReportScope, objs ...*Object) {
		t.Helper()
		r := NewRunner(RunnerOptions{Client: c, ReportScope: scope, Log: logr.Discard()})
		col := newCollector(time.Now(), scope)
		for _, o := range objs {
			col.add(o)
		}
		if _, err := r.writeReports(ctx, col); err != nil {
			t.Fatal(err)
		}
	}
	names := func(m map[string]*unstructured.Unstructured) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}

	audit(ScopeNamespace, web)
	if got := names(reports()); !slices.Equal(got, []string{"shop/bulwark"}) {
		t.Fatalf("namespace scope: reports %v, want shop/bulwark", got)
	}
	audit(ScopeResource, web)
	got := reports()
	if !slices.Equal(names(got), []string{"shop/bulwark-u-web"}) {
		t.Fatalf("resource scope: reports %v, want only shop/bulwark-u-web", names(got))
	}
	rep := got["shop/bulwark-u-web"]
	scope, _, _ := unstructured.NestedStringMap(rep.Object, "scope")
	if scope["kind"] != "Deployment" || scope["name"] != "web" || scope["uid"] != "u-web" || scope["apiVersion"] != "apps/v1" {
		t.Errorf("scope %v", scope)
	}
	if l := rep.GetLabels(); l[ResourceKindLabel] != "Deployment" || l[ResourceNameLabel] != "web" || l[ResourceUIDLabel] != "u-web" {
		t.Errorf("labels %v", l)
	}
	if refs := rep.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != "u-web" || refs[0].Kind != "Deployment" {
		t.Errorf("ownerReferences %v, want the Deployment", refs)
	}
	// The same findings an audit later: the report is not written again.
	audit(ScopeResource, web)
	if again := reports()["shop/bulwark-u-web"]; again == nil || again.GetResourceVersion() != rep.GetResourceVersion() {
		t.Errorf("unchanged report rewritten: resourceVersion %s, then %v", rep.GetResourceVersion(), again)
	}
	audit(ScopeResource, &clean)
	if got := names(reports()); len(got) != 0 {
		t.Errorf("after the fix: reports %v, want none", got)
	}
}

// TestReportDigestStable: a report's digest depends on what it says only, computed as earlier
// versions computed it, so that reports they wrote are left alone when nothing changed.
func TestReportDigestStable(t *testing.T) {
	web := &Object{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, APIVersion: "apps/v1", Namespace: "shop", Name: "web", UID: "u-web", Checked: 20,
		Violations: []checks.Violation{
			{Check: "host-pid", Action: checks.Audit, Field: "spec.template.spec.hostPID", Message: "m", Fix: "f"},
			{Check: "image-tag", Action: checks.Warn, Field: "spec.template.spec.containers[0].image", Message: "m2", Fix: "f2"},
		}}
	ok := &Object{GroupKind: schema.GroupKind{Kind: "Pod"}, APIVersion: "v1", Namespace: "shop", Name: "ok", UID: "u-ok", Checked: 20}
	want := map[ReportScope]map[string]string{
		ScopeResource:  {"bulwark-u-web": "1ff16d3fded6fc392422499545c11dee"},
		ScopeNamespace: {ReportName: "817b0f12890dbc56f435437c20004cb0"},
	}
	for _, scope := range ReportScopes {
		at := time.Unix(1700000000, 0)
		c := newCollector(at, scope)
		c.add(web)
		c.add(ok)
		got := map[string]string{}
		for k, r := range c.reports {
			// The time the results were found is not part of the digest.
			if later := r.object(k, at.Add(time.Hour)).GetAnnotations()[DigestAnnotation]; later != r.object(k, at).GetAnnotations()[DigestAnnotation] {
				t.Errorf("%s %s: the digest changes with the time", scope, k.name)
			}
			got[k.name] = r.object(k, at).GetAnnotations()[DigestAnnotation]
		}
		if !reflect.DeepEqual(got, want[scope]) {
			t.Errorf("%s: digests %v, want %v", scope, got, want[scope])
		}
	}
}
