// Package e2e runs the bulwark binary as `make run` does (a separate process behind a real
// kube-apiserver) and drives it with the real kubectl, asserting what a developer sees.
package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

var update = flag.Bool("update", false, "rewrite the golden kubectl transcripts in testdata/")

// repoRoot is where kubectl runs, so file names in its messages read as in the README.
const repoRoot = "../.."

var (
	local  *framework.Local
	logs   framework.LogBuffer
	binary string // the bulwark executable under test
)

func TestMain(m *testing.M) {
	flag.Parse()
	framework.Main(m, "e2e", func(s *framework.Suite) error {
		var err error
		if binary, err = s.BuildBulwark(); err != nil {
			return err
		}
		local, err = framework.StartLocal(framework.LocalOptions{
			Binary: binary, Kubeconfig: filepath.Join(s.Dir, "kubeconfig"), Logs: &logs, ServeArgs: serveArgs,
		})
		if err != nil {
			return fmt.Errorf("%v\nbulwark logs:\n%s", err, logs.String())
		}
		// Bulwark's logs once it has stopped, when a test or the stop failed.
		s.Defer(func() error {
			if s.Failed() {
				fmt.Fprintf(os.Stderr, "bulwark logs:\n%s", logs.String())
			}
			return nil
		})
		s.Defer(func() error {
			if err := local.Stop(); err != nil {
				return fmt.Errorf("stopping: %w", err)
			}
			return nil
		})
		return nil
	})
}

// kubectl runs the control plane's kubectl v1.37.1 from the repository root and returns its
// combined output (warnings go to stderr, as a developer sees them interleaved).
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(local.Assets, "kubectl"), append([]string{"--kubeconfig", local.Kubeconfig}, args...)...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	framework.Golden(t, filepath.Join("testdata", name), got, *update)
}

// TestKubectlDenials applies the denied samples and pins the exact text kubectl prints.
func TestKubectlDenials(t *testing.T) {
	for _, tc := range []struct{ file, golden string }{
		{"config/samples/workloads/denied-hostnetwork-pod.yaml", "denied-hostnetwork-pod.txt"},
		{"config/samples/workloads/denied-privileged-deployment.yaml", "denied-privileged-deployment.txt"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, err := kubectl(t, "apply", "-f", tc.file)
			if err == nil {
				t.Fatalf("kubectl apply succeeded:\n%s", out)
			}
			if !strings.Contains(out, `Error from server (Forbidden): error when creating "`+tc.file+`": admission webhook "validate.bulwark.dev" denied the request: `) {
				t.Errorf("not a Forbidden denial from Bulwark:\n%s", out)
			}
			golden(t, tc.golden, out)
		})
	}
}

// TestKubectlSamples applies every sample into a namespace created for it: denied-* samples are
// refused, admitted-* are created, and a server-side dry run behaves as the real apply.
func TestKubectlSamples(t *testing.T) {
	if out, err := kubectl(t, "create", "namespace", "team-a"); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "config/samples/workloads/*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(repoRoot, f)
		base := filepath.Base(f)
		t.Run(base, func(t *testing.T) {
			dry, dryErr := kubectl(t, "apply", "-n", "team-a", "--dry-run=server", "-f", rel)
			out, err := kubectl(t, "apply", "-n", "team-a", "-f", rel)
			switch {
			case strings.HasPrefix(base, "denied-"):
				if err == nil || dryErr == nil {
					t.Errorf("admitted:\n%s\ndry run:\n%s", out, dry)
				}
				if !strings.Contains(dry, "denied the request") {
					t.Errorf("dry run not denied by the webhook:\n%s", dry)
				}
			case strings.HasPrefix(base, "admitted-"):
				if err != nil || dryErr != nil {
					t.Errorf("refused: %v\n%s\ndry run: %v\n%s", err, out, dryErr, dry)
				}
				if !regexp.MustCompile(`(?m) created( \(server dry run\))?$`).MatchString(dry) || !regexp.MustCompile(`(?m) created$`).MatchString(out) {
					t.Errorf("not created:\n%s\ndry run:\n%s", out, dry)
				}
			default:
				t.Fatalf("sample %s is neither denied-* nor admitted-*", base)
			}
		})
	}
}

// TestKubectlMinimalDeployment shows the defaults arriving as warnings and in the stored object.
func TestKubectlMinimalDeployment(t *testing.T) {
	if out, err := kubectl(t, "create", "namespace", "team-b"); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, out)
	}
	out, err := kubectl(t, "apply", "-n", "team-b", "-f", "config/samples/workloads/admitted-minimal-deployment.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Warning: bulwark set defaults in spec.template.spec.securityContext: seccompProfile.type=RuntimeDefault, runAsNonRoot=true") {
		t.Errorf("kubectl shows no mutation warning:\n%s", out)
	}
	js, err := kubectl(t, "get", "-n", "team-b", "deployments", "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	var list struct {
		Items []struct {
			Spec struct {
				Template struct {
					Spec struct {
						SecurityContext map[string]any   `json:"securityContext"`
						Containers      []map[string]any `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(js), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("decoding %s: %v", js, err)
	}
	pod := list.Items[0].Spec.Template.Spec
	if got := fmt.Sprint(pod.SecurityContext); got != "map[runAsNonRoot:true seccompProfile:map[type:RuntimeDefault]]" {
		t.Errorf("stored pod securityContext = %s", got)
	}
	for _, c := range pod.Containers {
		if got := fmt.Sprint(c["securityContext"]); !strings.Contains(got, "allowPrivilegeEscalation:false") || !strings.Contains(got, "drop:[ALL]") {
			t.Errorf("container %v securityContext = %s", c["name"], got)
		}
	}
}

// TestDenialLogLine: the process logs one JSON line per denial, with the request UID.
func TestDenialLogLine(t *testing.T) {
	if _, err := kubectl(t, "apply", "-f", "config/samples/workloads/denied-hostnetwork-pod.yaml"); err == nil {
		t.Fatal("admitted")
	}
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil || e["msg"] != "denied" || e["dryRun"] == true {
			continue
		}
		n++
		if uid, _ := e["uid"].(string); !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(uid) {
			t.Errorf("denial without a request UID: %s", line)
		}
		if e["level"] != "info" || e["logger"] == nil {
			t.Errorf("denial line lacks level or logger: %s", line)
		}
	}
	if n == 0 {
		t.Errorf("no denial lines in the logs:\n%s", logs.String())
	}
}

// TestKubectlPolicyConfigMap: a platform engineer applies a sample policy with kubectl and it
// is in force at the next request, without a restart; a broken one is refused with an Event.
func TestKubectlPolicyConfigMap(t *testing.T) {
	for _, ns := range []string{"sandbox-bob", "plain-ns"} {
		if out, err := kubectl(t, "create", "namespace", ns); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	pod := "config/samples/workloads/denied-hostnetwork-pod.yaml"
	if out, err := kubectl(t, "apply", "-n", "sandbox-bob", "--dry-run=server", "-f", pod); err == nil {
		t.Fatalf("admitted under the default policy:\n%s", out)
	}
	out, err := kubectl(t, "apply", "-f", "config/samples/policies/mixed-teams.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() {
		// Back to the default policy for the other tests.
		restore := filepath.Join(t.TempDir(), "default.yaml")
		doc := "    " + strings.ReplaceAll(strings.TrimSpace(framework.DefaultPolicy), "\n", "\n    ")
		_ = os.WriteFile(restore, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+framework.PolicyConfigMap+
			", namespace: "+framework.PolicyNamespace+"}\ndata:\n  policy.yaml: |\n"+doc+"\n"), 0o644)
		if out, err := kubectl(t, "apply", "-f", restore); err != nil {
			t.Errorf("restoring the default policy: %v\n%s", err, out)
		}
	})
	// mixed-teams warns only in sandbox-* namespaces: the same Pod is admitted there now.
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		last, err = kubectl(t, "apply", "-n", "sandbox-bob", "--dry-run=server", "-f", pod)
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the new policy is not in force after 30s:\n%s", last)
	}
	if !strings.Contains(last, "Warning: [host-network] spec.hostNetwork:") {
		t.Errorf("no host-network warning under the sandbox rule:\n%s", last)
	}
	if out, err := kubectl(t, "apply", "-n", "plain-ns", "--dry-run=server", "-f", pod); err == nil {
		t.Errorf("admitted outside the sandbox rule:\n%s", out)
	}

	// A broken policy: kubectl succeeds (it is just a ConfigMap), the webhook keeps the last
	// good policy and says why in an Event.
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: `+framework.PolicyConfigMap+`, namespace: `+framework.PolicyNamespace+`}
data:
  policy.yaml: |
    apiVersion: bulwark.dev/v1alpha1
    kind: Policy
    profile: nsa
    checks:
      host-network: {action: maybe}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl(t, "apply", "-f", broken); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var events string
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(events, "PolicyInvalid") {
		events, _ = kubectl(t, "get", "events", "-n", framework.PolicyNamespace, "-o", "custom-columns=REASON:.reason,MESSAGE:.message")
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(events, "PolicyInvalid") || !strings.Contains(events, `unknown action "maybe"`) {
		t.Errorf("no PolicyInvalid event naming the error:\n%s", events)
	}
	if out, err := kubectl(t, "apply", "-n", "sandbox-bob", "--dry-run=server", "-f", pod); err != nil {
		t.Errorf("the last good policy (mixed-teams) is not in force:\n%s", out)
	}
}

// TestServeStartupPolicyErrors: a missing or invalid policy at start-up stops bulwark serve
// with a message that says which, instead of serving a default.
func TestServeStartupPolicyErrors(t *testing.T) {
	if out, err := kubectl(t, "create", "configmap", "-n", framework.PolicyNamespace, "broken-policy",
		"--from-literal=policy.yaml=apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: strict\n"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, tc := range []struct{ configMap, want string }{
		{framework.PolicyNamespace + "/absent", "policy ConfigMap bulwark-system/absent not found"},
		{framework.PolicyNamespace + "/broken-policy", `profile: unknown profile "strict"`},
		{"no-slash", "--policy-configmap: want NAMESPACE/NAME"},
	} {
		cmd := exec.Command(binary, "serve", "--kubeconfig", local.Kubeconfig, "--policy-configmap", tc.configMap,
			"--port", "0", "--metrics-bind-address", "0", "--health-probe-bind-address", "0")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: serve started", tc.configMap)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: output lacks %q:\n%s", tc.configMap, tc.want, out)
		}
	}
}

// TestKubectlRBAC: binding system:anonymous is refused through kubectl with the check, the
// field and the fix; a cluster-admin binding is admitted with a warning. Both texts are pinned.
func TestKubectlRBAC(t *testing.T) {
	if out, err := kubectl(t, "create", "namespace", "rbac-a"); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, out)
	}
	const denied = "config/samples/rbac/denied-anonymous-rolebinding.yaml"
	out, err := kubectl(t, "apply", "-n", "rbac-a", "-f", denied)
	if err == nil {
		t.Fatalf("kubectl apply of %s succeeded:\n%s", denied, out)
	}
	if !strings.Contains(out, `admission webhook "rbac.bulwark.dev" denied the request: RoleBinding "public-status" violates 1 Bulwark check`) {
		t.Errorf("not a denial from Bulwark's RBAC webhook:\n%s", out)
	}
	golden(t, "denied-anonymous-rolebinding.txt", out)
	if out, err := kubectl(t, "get", "rolebinding", "-n", "rbac-a", "public-status"); err == nil {
		t.Errorf("the denied RoleBinding exists:\n%s", out)
	}

	const warned = "config/samples/rbac/warned-cluster-admin-binding.yaml"
	out, err = kubectl(t, "apply", "-f", warned)
	if err != nil {
		t.Fatalf("kubectl apply of %s: %v\n%s", warned, err, out)
	}
	t.Cleanup(func() { _, _ = kubectl(t, "delete", "-f", warned) })
	golden(t, "warned-cluster-admin-binding.txt", out)
}
