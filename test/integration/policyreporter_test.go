package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

// reporterReport is a wgpolicyk8s.io/v1alpha2 PolicyReport as Policy Reporter
// (github.com/kyverno/policy-reporter, pkg/crd/api/policyreport/v1alpha2) decodes it: typed
// fields, properties a map of strings, the timestamp a protobuf Timestamp. What it maps into
// its views (pkg/database/model.go): the report's scope, or else each result's first resource,
// for the Kind and Name columns; each result's policy, rule, result, severity, category,
// source, message, properties and timestamp; the summary; and the report's source, the first
// result's.
type reporterReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Scope             *corev1.ObjectReference `json:"scope,omitempty"`
	Summary           struct {
		Pass, Fail, Warn, Error, Skip int
	} `json:"summary"`
	Results []reporterResult `json:"results"`
}

type reporterResult struct {
	Source     string                   `json:"source"`
	Policy     string                   `json:"policy"`
	Rule       string                   `json:"rule"`
	Resources  []corev1.ObjectReference `json:"resources"`
	Message    string                   `json:"message"`
	Result     string                   `json:"result"`
	Scored     bool                     `json:"scored"`
	Properties map[string]string        `json:"properties"`
	Timestamp  metav1.Timestamp         `json:"timestamp"`
	Category   string                   `json:"category"`
	Severity   string                   `json:"severity"`
}

// TestPolicyReportAsPolicyReporterReadsIt: the report of a violating Deployment in an
// audit-mode namespace, read through the fields Policy Reporter reads, shows up in its "fail"
// views with the checks' severities and the Deployment in its Kind and Name columns.
func TestPolicyReportAsPolicyReporterReadsIt(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	c, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := auditNamespace(t, cs)
	created := time.Now().Unix()
	dep, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: selector, Template: template(func(s *corev1.PodSpec) {
			s.HostPID = true
			s.Containers[0].Image = "registry.example/app:latest"
		})},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the webhook in audit mode must admit the Deployment: %v", err)
	}

	name := "bulwark-" + string(dep.UID)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(audit.PolicyReportGVK)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
		if err == nil {
			break
		}
		if client.IgnoreNotFound(err) != nil || time.Now().After(deadline) {
			t.Fatalf("PolicyReport %s/%s of Deployment web: %v", ns, name, err)
		}
	}
	raw, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	// A field of another type (a property that is not a string, a severity or a
	// timestamp of another shape) would fail Policy Reporter's typed client.
	var rep reporterReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("decoding the report as Policy Reporter does: %v\n%s", err, raw)
	}

	// Policy Reporter's Kind and Name columns, and its resource view: the scope.
	want := corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: ns, UID: dep.UID}
	if rep.Scope == nil || *rep.Scope != want {
		t.Errorf("scope %+v, want %+v", rep.Scope, want)
	}
	if l := rep.Labels; l[audit.ManagedByLabel] != "bulwark" || l[audit.ResourceKindLabel] != "Deployment" || l[audit.ResourceNameLabel] != "web" || l[audit.ResourceUIDLabel] != string(dep.UID) {
		t.Errorf("labels %v: want managed-by bulwark and the Deployment's kind, name and UID", l)
	}

	rules := map[string]reporterResult{}
	for _, r := range rep.Results {
		rules[r.Rule] = r
		// The report's source is its first result's; every result is Bulwark's.
		if r.Source != "bulwark" || r.Policy != "bulwark" {
			t.Errorf("%s: source %q policy %q, want bulwark, bulwark", r.Rule, r.Source, r.Policy)
		}
		// Violations are failures in an audit-mode namespace too, with the check's severity;
		// the action the webhook takes is a property.
		if want := string(checks.SeverityOf(r.Rule)); r.Result != "fail" || r.Severity != want {
			t.Errorf("%s: result %q severity %q, want fail, %s", r.Rule, r.Result, r.Severity, want)
		}
		if r.Properties["action"] != "audit" || r.Properties["field"] == "" || r.Properties["fix"] == "" {
			t.Errorf("%s: properties %v, want action audit, the field and the fix", r.Rule, r.Properties)
		}
		if !strings.Contains(r.Message, ". Fix: ") {
			t.Errorf("%s: message %q, want what is wrong and the fix", r.Rule, r.Message)
		}
		if len(r.Resources) != 1 || r.Resources[0] != want {
			t.Errorf("%s: resources %+v, want the Deployment", r.Rule, r.Resources)
		}
		if r.Timestamp.Seconds < created-1 || r.Timestamp.Seconds > time.Now().Unix() || !r.Scored {
			t.Errorf("%s: timestamp %d (created at %d), scored %v", r.Rule, r.Timestamp.Seconds, created, r.Scored)
		}
	}
	// The category is the check's section of docs/checks.md.
	for rule, want := range map[string]struct{ severity, category string }{
		"host-pid":  {"high", "Host isolation"},
		"image-tag": {"low", "Supply chain and credentials"},
	} {
		if r, ok := rules[rule]; !ok || r.Severity != want.severity || r.Category != want.category {
			t.Errorf("result of %s: %+v, want one with severity %s and category %q", rule, r, want.severity, want.category)
		}
	}
	if rules["host-pid"].Properties["field"] != "spec.template.spec.hostPID" {
		t.Errorf("host-pid field %q", rules["host-pid"].Properties["field"])
	}

	// The summary counts the failures listed and the checks passed.
	s := rep.Summary
	if s.Fail != len(rep.Results) || s.Warn != 0 || s.Error != 0 || s.Skip != 0 || s.Pass == 0 {
		t.Errorf("summary %+v: want fail %d (the results), pass > 0, the rest 0", s, len(rep.Results))
	}
}
