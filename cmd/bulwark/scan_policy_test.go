package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScanAndMutateApplyThePolicy: scan and mutate resolve the policy per object as the
// webhook does, as far as a manifest tells: exempt namespaces, name-matched namespace rules and
// workload exemptions apply; an expired exemption does not, and says so.
func TestScanAndMutateApplyThePolicy(t *testing.T) {
	dir := t.TempDir()
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
	lastWeek := time.Now().UTC().AddDate(0, 0, -7).Format("2006-01-02")
	policyFile := filepath.Join(dir, "policy.yaml")
	write(t, policyFile, `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
namespaces:
  exempt: [kube-system, monitoring]
  rules:
    - name: payments-strict
      names: ["payments-*"]
      action: enforce
exemptions:
  - name: legacy-agent
    reason: replaced in TICKET-7
    namespace: ops
    kinds: [DaemonSet]
    names: ["agent"]
    checks: [host-network, run-as-non-root]
    expires: `+tomorrow+`
  - name: old-debugger
    reason: was needed for an incident
    namespace: ops
    kinds: [Pod]
    names: ["debugger"]
    checks: [host-network]
    expires: `+lastWeek+`
`)
	manifests := filepath.Join(dir, "m.yaml")
	write(t, manifests, `apiVersion: v1
kind: Pod
metadata: {name: exporter, namespace: monitoring}
spec:
  hostNetwork: true
  containers: [{name: c, image: registry.example.com/c:1}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ops}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostNetwork: true
      containers: [{name: c, image: registry.example.com/c:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: debugger, namespace: ops}
spec:
  hostNetwork: true
  containers: [{name: c, image: registry.example.com/c:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: payments-eu}
spec:
  containers: [{name: c, image: registry.example.com/c:1}]
`)
	var out, errb bytes.Buffer
	code := run([]string{"scan", "--policy", policyFile, manifests}, strings.NewReader(""), &out, &errb)
	if code != exitDenied {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitDenied, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		`Pod "monitoring/exporter": exempt: namespace "monitoring" is exempt`,
		`DaemonSet "ops/agent": admitted with warnings`,
		`Pod "ops/debugger": denied`,
		`note: bulwark: exemption "old-debugger" expired`,
		`enforce [host-network] spec.hostNetwork`,
		`Pod "payments-eu/api": denied`,
		`enforce [read-only-root-filesystem] spec.containers[0].securityContext.readOnlyRootFilesystem`,
		`4 objects scanned: 2 denied, 1 with warnings, 0 skipped (no pod template), 1 exempt`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scan output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "[host-network] spec.template.spec.hostNetwork") || strings.Contains(text, "[run-as-non-root] spec.template") {
		t.Errorf("the DaemonSet's exempted checks are reported:\n%s", text)
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"mutate", "--policy", policyFile, manifests}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("mutate exit %d: %s", code, errb.String())
	}
	docs := strings.Split(out.String(), "---\n")
	if len(docs) != 4 {
		t.Fatalf("mutate printed %d documents, want 4:\n%s", len(docs), out.String())
	}
	if strings.Contains(docs[0], "seccompProfile") {
		t.Errorf("the Pod in an exempt namespace was mutated:\n%s", docs[0])
	}
	if !strings.Contains(docs[1], "seccompProfile") || strings.Contains(docs[1], "runAsNonRoot") {
		t.Errorf("the exempted DaemonSet should get every default but runAsNonRoot (it is exempt from run-as-non-root):\n%s", docs[1])
	}
	if !strings.Contains(errb.String(), `not mutated: namespace "monitoring" is exempt`) {
		t.Errorf("stderr does not say why the exempt Pod was left alone:\n%s", errb.String())
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestScanMode: a policy in audit denies nothing, and --mode enforce shows what enforcing the
// same policy would deny, as the roll-out's next step.
func TestScanMode(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	write(t, policyFile, "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: nsa\nmode: audit\n")
	manifests := filepath.Join(dir, "m.yaml")
	write(t, manifests, `apiVersion: v1
kind: Pod
metadata: {name: sniffer, namespace: apps}
spec:
  hostNetwork: true
  containers: [{name: c, image: registry.example.com/c:1}]
`)
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, exitOK, "audit"},
		{[]string{"--mode", "warn"}, exitOK, "warn"},
		{[]string{"--mode", "enforce"}, exitDenied, "enforce"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		args := append([]string{"scan", "--policy", policyFile, "-o", "json"}, tc.args...)
		code := run(append(args, manifests), strings.NewReader(""), &out, &errb)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out.String(), errb.String())
		}
		if want := `"action": "` + tc.contains + `"`; !strings.Contains(out.String(), `"check": "host-network"`) || !strings.Contains(out.String(), want) {
			t.Errorf("%v: the report does not show host-network with %s:\n%s", tc.args, want, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"scan", "--mode", "off", manifests}, strings.NewReader(""), &out, &errb); code != exitUsage ||
		!strings.Contains(errb.String(), `bulwark scan: --mode: "off" is not a mode`) {
		t.Errorf("--mode off: exit %d, stderr %q", code, errb.String())
	}
}
