package integration

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

const ownNamespace = framework.PolicyNamespace

var policyKey = types.NamespacedName{Namespace: ownNamespace, Name: framework.PolicyConfigMap}

// basePolicy is the policy the server starts with and every test returns to: the nsa profile.
const basePolicy = framework.DefaultPolicy

// writePolicy replaces the policy document in the ConfigMap.
func writePolicy(t *testing.T, doc string) {
	t.Helper()
	cs, _ := clientWithWarnings(t)
	ctx := context.Background()
	cm, err := cs.CoreV1().ConfigMaps(ownNamespace).Get(ctx, policyKey.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{policy.ConfigMapKey: doc}
	if _, err := cs.CoreV1().ConfigMaps(ownNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// usePolicy puts doc in force and waits until the server reports its hash; the base policy is
// restored when the test ends. It returns how long the change took to apply.
func usePolicy(t *testing.T, doc string) time.Duration {
	t.Helper()
	snap, err := policy.Parse([]byte(doc), "test")
	if err != nil {
		t.Fatalf("test policy: %v", err)
	}
	start := time.Now()
	writePolicy(t, doc)
	waitForHash(t, snap.Hash)
	took := time.Since(start)
	t.Logf("policy %s in force %s after the ConfigMap update", snap.Hash, took.Round(time.Millisecond))
	t.Cleanup(func() {
		base, _ := policy.Parse([]byte(basePolicy), "base")
		writePolicy(t, basePolicy)
		waitForHash(t, base.Hash)
	})
	return took
}

func waitForHash(t *testing.T, hash string) {
	t.Helper()
	re := regexp.MustCompile(`bulwark_policy_info\{[^}]*hash="` + regexp.QuoteMeta(hash) + `"[^}]*\} 1`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if re.MatchString(scrape(t)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("policy %s not in force after 30s; metrics:\n%s", hash, framework.LinesWithPrefix(scrape(t), "bulwark_policy"))
}

func hostNetworkPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: podSpec(func(s *corev1.PodSpec) { s.HostNetwork = true })}
}

// dryRunPod creates pod with a server-side dry run and returns the error and the warnings.
func dryRunPod(t *testing.T, cs kubernetes.Interface, w *warnings, ns string, pod *corev1.Pod) (error, []string) {
	t.Helper()
	w.take()
	_, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err, w.take()
}

// TestPolicyReload: a valid change of the ConfigMap applies without a restart.
func TestPolicyReload(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ns := newNamespace(t, cs)
	if err, _ := dryRunPod(t, cs, w, ns, hostNetworkPod("before")); err == nil {
		t.Fatal("hostNetwork admitted under the base policy")
	}
	usePolicy(t, `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
checks:
  host-network: {action: warn}
`)
	err, warns := dryRunPod(t, cs, w, ns, hostNetworkPod("after"))
	if err != nil {
		t.Fatalf("hostNetwork denied after the policy made it warn: %v", err)
	}
	requireWarning(t, warns, "[host-network] spec.hostNetwork: ")
}

// TestPolicyInvalidKeepsLastGood: a broken ConfigMap leaves the last good policy in force,
// says why in an Event on the ConfigMap and a metric, and readiness holds.
func TestPolicyInvalidKeepsLastGood(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ns := newNamespace(t, cs)
	before := regexp.MustCompile(`bulwark_policy_reloads_total\{result="invalid"\} (\d+)`).FindStringSubmatch(scrape(t))
	writePolicy(t, "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nchecks:\n  host-network: {action: allow}\n")
	t.Cleanup(func() { writePolicy(t, basePolicy) })

	var event string
	deadline := time.Now().Add(30 * time.Second)
	for event == "" && time.Now().Before(deadline) {
		list, err := cs.EventsV1().Events(ownNamespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == "ConfigMap" && e.Regarding.Name == policyKey.Name && e.Reason == "PolicyInvalid" {
				event = e.Note
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if event == "" {
		t.Fatal("no PolicyInvalid Event on the ConfigMap")
	}
	if !strings.Contains(event, `checks.host-network.action: unknown action "allow"`) || !strings.Contains(event, "stays in force") {
		t.Errorf("event note does not name the error and the policy kept: %q", event)
	}
	after := regexp.MustCompile(`bulwark_policy_reloads_total\{result="invalid"\} (\d+)`).FindStringSubmatch(scrape(t))
	if after == nil || (before != nil && after[1] == before[1]) {
		t.Errorf("invalid reloads not counted: before %v, after %v", before, after)
	}
	if err, _ := dryRunPod(t, cs, w, ns, hostNetworkPod("still-denied")); err == nil || !strings.Contains(err.Error(), "[host-network]") {
		t.Errorf("the last good policy is not in force: %v", err)
	}
	resp, err := http.Get(readyzURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz = %d with an invalid policy ConfigMap, want 200", resp.StatusCode)
	}
}

// TestNamespaceModeLabel: an admin lowers one namespace with the bulwark.dev/mode label.
func TestNamespaceModeLabel(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ctx := context.Background()
	for _, tc := range []struct {
		mode    string
		denied  bool
		warning string
		mutated bool
	}{
		{"warn", false, "[host-network] spec.hostNetwork: ", true},
		{"audit", false, "", true},
		{"off", false, "", false},
		{"enforce-everything", true, "", true}, // not a mode: ignored, with a warning
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ns := newNamespace(t, cs)
			nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			nsObj.Labels["bulwark.dev/mode"] = tc.mode
			if _, err := cs.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			// The label reaches the webhook through its namespace cache.
			var err2 error
			var warns []string
			for i := 0; i < 50; i++ {
				err2, warns = dryRunPod(t, cs, w, ns, hostNetworkPod("p"))
				if (err2 != nil) == tc.denied {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if (err2 != nil) != tc.denied {
				t.Fatalf("mode %s: denied=%v (%v), want %v", tc.mode, err2 != nil, err2, tc.denied)
			}
			if tc.warning != "" {
				requireWarning(t, warns, tc.warning)
			}
			if tc.mode == "enforce-everything" {
				requireWarning(t, warns, "bulwark: ")
			}
			if !tc.denied {
				pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "minimal"}, Spec: podSpec(nil)}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.SeccompProfile != nil; got != tc.mutated {
					t.Errorf("mode %s: mutated=%v, want %v", tc.mode, got, tc.mutated)
				}
			}
		})
	}
}

// TestWorkloadExemptionExpiry: an exemption applies until its expiry date, then stops
// applying and says so.
func TestWorkloadExemptionExpiry(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ns := newNamespace(t, cs)
	exemption := func(expires time.Time) string {
		return fmt.Sprintf(`apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
exemptions:
  - name: legacy-monitoring
    reason: node metrics agent, replaced by TICKET-42
    namespace: %s
    kinds: [Pod]
    names: ["node-agent-*"]
    checks: [host-network]
    expires: %s
`, ns, expires.UTC().Format("2006-01-02"))
	}
	usePolicy(t, exemption(time.Now().AddDate(0, 0, 7)))
	if err, _ := dryRunPod(t, cs, w, ns, hostNetworkPod("node-agent-1")); err != nil {
		t.Fatalf("exempt workload denied: %v", err)
	}
	if err, _ := dryRunPod(t, cs, w, ns, hostNetworkPod("other")); err == nil {
		t.Fatal("a workload the exemption does not name was admitted")
	}

	usePolicy(t, exemption(time.Now().AddDate(0, 0, -2)))
	err, warns := dryRunPod(t, cs, w, ns, hostNetworkPod("node-agent-1"))
	if err == nil || !strings.Contains(err.Error(), "[host-network]") {
		t.Fatalf("expired exemption still applies: %v", err)
	}
	requireWarning(t, warns, `bulwark: exemption "legacy-monitoring" expired`)
	if !regexp.MustCompile(`bulwark_policy_expired_exemptions_total\{exemption="legacy-monitoring"\} [1-9]`).MatchString(scrape(t)) {
		t.Errorf("expired exemption not counted:\n%s", framework.LinesWithPrefix(scrape(t), "bulwark_policy"))
	}
}

// TestServiceAccountExemption: requests from an exempt service account are admitted; the same
// object from anyone else is not.
func TestServiceAccountExemption(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ctx := context.Background()
	ns := newNamespace(t, cs)
	// The service account may create pods (RBAC), as a deploy pipeline would.
	_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "ci", Name: "deployer"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	usePolicy(t, `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
exemptions:
  - name: ci-deployer
    reason: the platform pipeline deploys node-level agents
    serviceAccounts: ["ci/deployer"]
`)
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:ci:deployer", Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	cfg.WarningHandler = rest.NoWarnings{}
	asSA, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pod := hostNetworkPod("agent")
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	if _, err := asSA.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("exempt service account denied: %v", err)
	}
	if err, _ := dryRunPod(t, cs, w, ns, pod); err == nil {
		t.Error("the same pod from an admin was admitted")
	}
}

// TestNamespaceRules: a rule picks namespaces by label selector or name pattern and changes the
// actions there; the first matching rule wins, and the denial names the rule.
func TestNamespaceRules(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ctx := context.Background()
	usePolicy(t, `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
namespaces:
  rules:
    - name: payments-enforce-all
      selector: {matchLabels: {team: payments}}
      action: enforce
    - name: sandboxes-warn
      names: ["sandbox-*"]
      action: warn
`)
	payments := newNamespace(t, cs)
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, payments, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["team"] = "payments"
	if _, err := cs.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-alice"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	plain := newNamespace(t, cs)

	// A minimal pod: after mutation only read-only-root-filesystem (warn in nsa) is left.
	minimal := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "minimal"}, Spec: podSpec(nil)}
	var err2 error
	for i := 0; i < 50; i++ { // the label reaches the webhook through its namespace cache
		if err2, _ = dryRunPod(t, cs, w, payments, minimal); err2 != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err2 == nil || !strings.Contains(err2.Error(), `namespace rule "payments-enforce-all"`) ||
		!strings.Contains(err2.Error(), "[read-only-root-filesystem] spec.containers[0].securityContext.readOnlyRootFilesystem") {
		t.Errorf("team=payments: got %v, want a denial by the rule for read-only-root-filesystem", err2)
	}
	if err, _ := dryRunPod(t, cs, w, plain, minimal); err != nil {
		t.Errorf("unlabelled namespace: %v", err)
	}
	err, warns := dryRunPod(t, cs, w, "sandbox-alice", hostNetworkPod("p"))
	if err != nil {
		t.Errorf("sandbox-*: hostNetwork denied, want a warning: %v", err)
	}
	requireWarning(t, warns, "[host-network] spec.hostNetwork: ")
}

// TestWorkloadCannotExemptItself: the mode label and exemptions come from the namespace and the
// policy, which admins control; the same label or annotation on the workload does nothing.
func TestWorkloadCannotExemptItself(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ns := newNamespace(t, cs)
	pod := hostNetworkPod("sneaky")
	pod.Labels = map[string]string{"bulwark.dev/mode": "off"}
	pod.Annotations = map[string]string{"bulwark.dev/mode": "off", "bulwark.dev/exempt": "true"}
	if err, _ := dryRunPod(t, cs, w, ns, pod); err == nil || !strings.Contains(err.Error(), "[host-network]") {
		t.Errorf("a pod labelled bulwark.dev/mode=off: got %v, want the host-network denial", err)
	}
}
