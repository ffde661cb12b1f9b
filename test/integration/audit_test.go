package integration

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/go-logr/logr"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// auditInterval is the audit interval of the server under test.
const auditInterval = 2 * time.Second

// auditNamespace creates a namespace whose violations the webhook only audits, so that
// violating workloads are admitted and left for the audit to find.
func auditNamespace(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	ns := newNamespace(t, cs)
	n, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels[policy.ModeLabel] = "audit"
	if _, err := cs.CoreV1().Namespaces().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The label reaches the webhook through its namespace cache: wait until a violating pod
	// is admitted (dry run).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := cs.CoreV1().Pods(ns).Create(context.Background(), hostNetworkPod("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return ns
		}
		if time.Now().After(deadline) {
			t.Fatalf("the label %s=audit on %s has not reached the webhook after 10s: %v", policy.ModeLabel, ns, err)
		}
	}
}

// reportResults returns the results of Bulwark's PolicyReports in ns as "Kind/name rule
// result severity field" lines and the reports, nil when there is none.
func reportResults(t *testing.T, c client.Client, ns string) ([]string, []unstructured.Unstructured) {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(audit.PolicyReportGVK.GroupVersion().WithKind("PolicyReportList"))
	if err := c.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{audit.ManagedByLabel: "bulwark"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	out := []string{}
	for _, u := range list.Items {
		results, _, _ := unstructured.NestedSlice(u.Object, "results")
		for _, r := range results {
			m := r.(map[string]any)
			res := m["resources"].([]any)[0].(map[string]any)
			props := m["properties"].(map[string]any)
			out = append(out, fmt.Sprintf("%s/%s %s %s %s %s", res["kind"], res["name"], m["rule"], m["result"], m["severity"], props["field"]))
		}
	}
	return out, list.Items
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestAuditFindsAndClears: violating workloads admitted in audit mode are found by the
// audit loop of the running server and reported in a PolicyReport, the metrics and an Event;
// fixing or deleting them clears their entries.
func TestAuditFindsAndClears(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	c, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := auditNamespace(t, cs)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: selector, Template: template(func(s *corev1.PodSpec) { s.HostPID = true })},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the webhook in audit mode must admit the Deployment: %v", err)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, hostNetworkPod("bare"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fine"}, Spec: podSpec(nil)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// In this audit-mode namespace the webhook admits a binding to the anonymous user, with an
	// audit annotation; the audit reports it.
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "open"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:anonymous"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Violations are failures whatever the action (audit, in this namespace), with the
	// check's severity.
	// The namespace itself has no quota, limit range or default-deny policy: its report, in the
	// namespace, names the namespace checks.
	want := []string{
		"Deployment/web host-pid fail high spec.template.spec.hostPID",
		"Pod/bare host-network fail high spec.hostNetwork",
		"Namespace/" + ns + " namespace-limit-range fail low LimitRange",
		"Namespace/" + ns + " namespace-network-policy fail low NetworkPolicy",
		"Namespace/" + ns + " namespace-quota fail low ResourceQuota",
		"RoleBinding/open anonymous-binding fail high subjects[0].name",
	}
	var got []string
	var reports []unstructured.Unstructured
	start := time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got, reports = reportResults(t, c, ns); containsAll(got, want...) {
			break
		}
	}
	if !containsAll(got, want...) {
		t.Fatalf("PolicyReports in %s, results:\n%s\nwant among them:\n%s\nserver logs:\n%s", ns, strings.Join(got, "\n"), strings.Join(want, "\n"), framework.LinesWithPrefix(serverLogs.String(), `{"level":"error"`))
	}
	t.Logf("violations reported %s after the objects were created (interval %s)", time.Since(start).Round(time.Millisecond), auditInterval)
	for _, line := range got {
		if strings.Contains(line, "Pod/fine") && strings.Contains(line, "host-") {
			t.Errorf("the compliant pod is reported: %s", line)
		}
	}
	// One report per violating object (the default scope), scoped to it.
	scopes := map[string]bool{}
	for _, report := range reports {
		kind, _, _ := unstructured.NestedString(report.Object, "scope", "kind")
		name, _, _ := unstructured.NestedString(report.Object, "scope", "name")
		scopes[kind+"/"+name] = true
		summary, _, _ := unstructured.NestedMap(report.Object, "summary")
		if fail, _ := summary["fail"].(int64); fail < 1 {
			t.Errorf("%s summary %v: want fail >= 1", report.GetName(), summary)
		}
		if pass, _ := summary["pass"].(int64); pass == 0 && kind != "Namespace" {
			t.Errorf("%s summary %v: want passed checks counted", report.GetName(), summary)
		}
	}
	if !scopes["Deployment/web"] || !scopes["Pod/bare"] || !scopes["Namespace/"+ns] || !scopes["RoleBinding/open"] {
		t.Errorf("PolicyReports scoped to %v, want Deployment/web, Pod/bare, Namespace/%s and RoleBinding/open among them", scopes, ns)
	}

	// Metrics: one violating object per check, by namespace.
	series := regexp.MustCompile(`bulwark_audit_violations\{action="audit",check="host-pid",namespace="` + ns + `"\} 1\n`)
	if m := scrape(t); !series.MatchString(m) {
		t.Errorf("no host-pid series for %s in:\n%s\naudit logs:\n%s", ns, framework.LinesWithPrefix(m, "bulwark_audit"), framework.LinesWithPrefix(serverLogs.String(), `{"level":"info","ts"`))
	}

	// One Event on the Deployment, however many audits have run since.
	time.Sleep(2 * auditInterval)
	events := policyViolationEvents(t, cs, ns, "web")
	if len(events) != 1 {
		t.Fatalf("PolicyViolation Events on Deployment web: %d, want 1 (deduplicated across audits)", len(events))
	}
	if e := events[0]; e.Type != corev1.EventTypeWarning || e.Action != "Audit" || !strings.Contains(e.Note, "[host-pid] spec.template.spec.hostPID") || e.Series != nil {
		t.Errorf("Event: type %s action %s series %v note %q", e.Type, e.Action, e.Series, e.Note)
	}
	// The Namespace, cluster-scoped, has its Event in default, as the kubelet's on a Node.
	nsEvents := policyViolationEvents(t, cs, metav1.NamespaceDefault, ns)
	if len(nsEvents) != 1 || nsEvents[0].Regarding.Kind != "Namespace" || !strings.Contains(nsEvents[0].Note, "[namespace-quota]") {
		t.Errorf("PolicyViolation Events on Namespace %s: %+v, want one naming [namespace-quota]", ns, nsEvents)
	}

	// Fix the Deployment, delete the pod: their entries go.
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.HostPID = false
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "bare", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, _ = reportResults(t, c, ns)
		if !strings.Contains(strings.Join(got, "\n"), "host-") {
			break
		}
	}
	if s := strings.Join(got, "\n"); strings.Contains(s, "host-pid") || strings.Contains(s, "host-network") {
		t.Fatalf("fixed and deleted objects still reported:\n%s", s)
	}
	if m := scrape(t); series.MatchString(m) {
		t.Errorf("host-pid series for %s still exported after the fix:\n%s", ns, framework.LinesWithPrefix(m, "bulwark_audit_violations"))
	}

	// The deleted pod's report is gone, not only emptied.
	_, reports = reportResults(t, c, ns)
	for _, report := range reports {
		if name, _, _ := unstructured.NestedString(report.Object, "scope", "name"); name == "bare" {
			t.Errorf("PolicyReport %s of the deleted pod bare is kept", report.GetName())
		}
	}
}

func policyViolationEvents(t *testing.T, cs kubernetes.Interface, ns, name string) []eventsv1.Event {
	t.Helper()
	list, err := cs.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == audit.ReasonPolicyViolation && e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// countingRecorder keeps what a Runner publishes.
type countingRecorder struct {
	mu         sync.Mutex
	runs       int
	violations map[metrics.AuditViolations]int
}

func (r *countingRecorder) AuditFinished(string, time.Duration) {}
func (r *countingRecorder) AuditPublished(_ time.Time, _ map[metrics.AuditObjects]int, v map[metrics.AuditViolations]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs++
	r.violations = v
}

func (r *countingRecorder) get() (int, map[metrics.AuditViolations]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs, r.violations
}

// TestAuditRerunsOnPolicyChange: with an interval of an hour, the only thing that can start a
// second audit is the policy change, and its results follow the new policy.
func TestAuditRerunsOnPolicyChange(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := auditNamespace(t, cs)
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, hostNetworkPod("bare"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reader, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nsa, _ := policy.FromProfile(policy.NSA)
	holder := policy.NewHolder(nsa)
	rec := &countingRecorder{}
	runner := audit.NewRunner(audit.RunnerOptions{
		Reader: reader, Policy: holder, OwnNamespace: ownNamespace, Interval: time.Hour,
		PolicyChangeDelay: 500 * time.Millisecond, Metrics: rec, Log: logr.Discard(),
	})
	go func() { _ = runner.Start(ctx) }()
	key := metrics.AuditViolations{Namespace: ns, Check: "host-network", Action: "audit"}
	waitRuns := func(n int) map[metrics.AuditViolations]int {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if runs, v := rec.get(); runs >= n {
				return v
			}
		}
		runs, _ := rec.get()
		t.Fatalf("%d audits after 20s, want %d", runs, n)
		return nil
	}
	if v := waitRuns(1); v[key] != 1 {
		t.Fatalf("first audit: %v = %d, want 1", key, v[key])
	}
	changed, err := policy.Parse([]byte("apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: nsa\nnamespaces:\n  exempt: [kube-system, "+ns+"]\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	holder.Store(changed)
	if v := waitRuns(2); v[key] != 0 {
		t.Errorf("audit after the policy exempting %s: %v = %d, want 0", ns, key, v[key])
	}
	time.Sleep(2 * time.Second)
	if runs, _ := rec.get(); runs != 2 {
		t.Errorf("%d audits, want exactly 2 (one at start, one for the change)", runs)
	}
}
