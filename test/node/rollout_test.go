package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// beforeNS holds what the cluster runs before Bulwark is installed.
const beforeNS = "before"

// runBeforeInstall starts the matrix's workloads on the node before Bulwark is installed, as
// a cluster runs them on the day of the install; every one of them runs.
func runBeforeInstall(t *testing.T, cs *kubernetes.Clientset) {
	got := runMatrix(t, cs, beforeNS, localImages)
	checkMatrix(t, got, allRunning)
}

// restartedWorkloads are the matrix's workloads that make new pods when theirs are deleted,
// as on a node drain or a new node; batch's Job has completed and makes none, and the CronJob
// makes its next Job on its schedule (nextCronJobRun).
var restartedWorkloads = []string{"root-web", "nonroot-web", "named-user", "writes-root-fs", "binds-80", "node-agent"}

// restart deletes the pods of the workload name in ns and returns what became of their
// replacements: "Running" or why not, with the last lines the container wrote if it crashed.
func restart(t *testing.T, cs *kubernetes.Clientset, ns, name string) string {
	if out, err := kubectl("delete", "pods", "-n", ns, "-l", "app="+name, "--grace-period=1", "--wait=true"); err != nil {
		t.Fatalf("deleting the pods of %s: %v\n%s", name, err, out)
	}
	return withLogs(ns, "app="+name, waitRunning(cs, ns, name))
}

// nextCronJobRun creates the CronJob name's next Job, as its schedule would, and returns what
// became of its pod.
func nextCronJobRun(t *testing.T, cs *kubernetes.Clientset, ns, name string) string {
	job := name + "-next"
	if out, err := kubectl("create", "job", "-n", ns, job, "--from=cronjob/"+name); err != nil {
		return "the Job from the CronJob was refused: " + errorLine(out)
	}
	return withLogs(ns, "job-name="+job, waitRunningSelector(cs, ns, "job-name="+job))
}

// withLogs adds to a state other than "Running" the last lines of the crashed containers of
// the pods that selector matches.
func withLogs(ns, selector, state string) string {
	if state == "Running" || !strings.Contains(state, "CrashLoopBackOff") {
		return state
	}
	out, _ := kubectl("logs", "-n", ns, "-l", selector, "--previous", "--tail=5", "--all-containers")
	return state + "\n  its last lines: " + strings.TrimSpace(out)
}

// keepsRunningAfterInstall: with the chart's default values, every workload that ran before
// the install makes new pods that run, the node agent sharing the node's network too, and the
// CronJob's next Job runs.
func keepsRunningAfterInstall(t *testing.T, cs *kubernetes.Clientset) {
	for _, name := range restartedWorkloads {
		if got := restart(t, cs, beforeNS, name); got != "Running" {
			t.Errorf("%s, after the install: %s; want Running", name, got)
		}
	}
	if got := nextCronJobRun(t, cs, beforeNS, "nightly"); got != "Running" {
		t.Errorf("nightly's next Job, after the install: %s; want Running", got)
	}
}

// scanCluster runs bulwark scan --cluster on namespace "before" with the policy in file at
// the given mode, and returns its exit code and output.
func scanCluster(t *testing.T, file, mode string) (int, string) {
	cmd := exec.Command(bulwarkBinary, "scan", "--cluster", "--kubeconfig", node.Kubeconfig, "-n", beforeNS,
		"--policy", file, "--mode", mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("bulwark scan: %v\n%s", err, out)
	}
	return 0, string(out)
}

// rolloutToEnforce is the roll-out's last step as the README shows it: bulwark scan --cluster
// --mode enforce names what enforcing would refuse (the node agent), an exemption with an
// expiry lets the agent in, and the policy moves to enforce. The agent's new pods run while
// the exemption holds; once it has expired they are refused, and the scan says so.
func rolloutToEnforce(t *testing.T, cs *kubernetes.Clientset) {
	t.Cleanup(func() { deleteNamespace(cs, beforeNS) })
	dir, err := os.MkdirTemp("", "bulwark-rollout-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	current := filepath.Join(dir, "current.yaml")
	if err := os.WriteFile(current, []byte("apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: nsa\nmode: audit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := scanCluster(t, current, "enforce")
	if code != 1 || !strings.Contains(out, `DaemonSet "before/node-agent"`) || !strings.Contains(out, "[host-network]") {
		t.Fatalf("bulwark scan --mode enforce with the installed policy: exit %d; want 1, naming the node agent's host-network:\n%s", code, out)
	}
	t.Logf("what enforcing would refuse, before the exemption:\n%s", out)

	// The exemption expires soon enough for this test to see it.
	expires := time.Now().UTC().Add(75 * time.Second).Truncate(time.Second)
	pol := map[string]any{
		"apiVersion": "bulwark.dev/v1alpha1", "kind": "Policy", "profile": "nsa", "mode": "enforce",
		"exemptions": []any{map[string]any{
			"name":      "node-agent",
			"reason":    "reads the node's logs on its network until it moves to kube-system, OPS-101",
			"expires":   expires.Format(time.RFC3339),
			"namespace": beforeNS, "kinds": []string{"DaemonSet"}, "names": []string{"node-agent"},
			"checks": []string{"host-network", "host-path"},
		}},
	}
	next := filepath.Join(dir, "next.yaml")
	values := filepath.Join(dir, "values.yaml")
	for file, v := range map[string]any{next: pol, values: map[string]any{"policy": pol}} {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := scanCluster(t, next, "enforce"); code != 0 {
		t.Fatalf("bulwark scan with the exemption: exit %d, want 0:\n%s", code, out)
	}
	if out, err := helm(t, "upgrade", release, "charts/bulwark", "--namespace", bulwarkNS, "--reuse-values", "-f", values, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("helm upgrade to mode enforce: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "the policy in mode enforce", func(context.Context) string {
		if err := waitDenied(); err != nil {
			return err.Error()
		}
		return ""
	})
	if got := restart(t, cs, beforeNS, "node-agent"); got != "Running" {
		t.Errorf("node-agent, exempt until %s: %s; want Running", expires.Format(time.RFC3339), got)
	}
	if left := time.Until(expires); left < 5*time.Second {
		t.Fatalf("the exemption expired (%s) before its pods were seen: the steps above took too long for this test's expiry", expires.Format(time.RFC3339))
	}

	time.Sleep(time.Until(expires) + 2*time.Second)
	if out, err := kubectl("delete", "pods", "-n", beforeNS, "-l", "app=node-agent", "--grace-period=1", "--wait=true"); err != nil {
		t.Fatalf("deleting the node agent's pod: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "the node agent's new pod refused once the exemption has expired", func(context.Context) string {
		if msg := failedCreate(cs, beforeNS); strings.Contains(msg, "[host-network]") {
			return ""
		}
		return "no FailedCreate naming host-network yet: " + firstLine(failedCreate(cs, beforeNS))
	})
	code, out = scanCluster(t, next, "enforce")
	if code != 1 || !strings.Contains(out, `exemption "node-agent" expired`) {
		t.Errorf("bulwark scan after the expiry: exit %d; want 1, saying the exemption expired:\n%s", code, out)
	}
}

// waitAnswered checks that the apiserver reaches Bulwark: with failurePolicy Fail, a server-side
// dry run succeeds only when both webhooks answered.
func waitAnswered() error {
	out, err := kubectl("apply", "--dry-run=server", "-f", repoRoot+"/config/samples/workloads/denied-hostnetwork-pod.yaml")
	if err != nil {
		return fmt.Errorf("a server-side dry run failed: %v\n%s", err, out)
	}
	return nil
}
