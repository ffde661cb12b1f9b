package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// kubeconfigFor is a kubeconfig whose current context "dev" points at server.
func kubeconfigFor(server string) string {
	return `apiVersion: v1
kind: Config
clusters:
  - name: dev
    cluster: {server: "` + server + `"}
users:
  - name: dev
    user: {token: not-a-real-token}
contexts:
  - name: dev
    context: {cluster: dev, user: dev}
current-context: dev
`
}

// closedPort is a port on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestScanClusterUsageErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	kc := writeFile(t, dir, "kubeconfig", kubeconfigFor("https://127.0.0.1:1"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cluster and a PATH", []string{"scan", "--cluster", good}, `bulwark scan: --cluster scans the cluster and takes no PATH, got "` + good + `": scan files or the cluster, not both`},
		{"PATH before --cluster", []string{"scan", good, "--cluster", "--kubeconfig", kc}, "--cluster scans the cluster and takes no PATH"},
		{"--namespace without --cluster", []string{"scan", "--namespace", "shop", good}, "bulwark scan: --namespace is a flag of --cluster: add --cluster to scan the cluster"},
		{"-n without --cluster", []string{"scan", "-n", "shop", good}, "bulwark scan: -n is a flag of --cluster"},
		{"--kubeconfig without --cluster", []string{"scan", "--kubeconfig", kc, good}, "bulwark scan: --kubeconfig is a flag of --cluster"},
		{"--context without --cluster", []string{"scan", "--context", "dev"}, "bulwark scan: --context is a flag of --cluster"},
		{"--bulwark-namespace without --cluster", []string{"scan", "--bulwark-namespace", "sec", good}, "--bulwark-namespace is a flag of --cluster"},
		{"unknown output", []string{"scan", "--cluster", "--kubeconfig", kc, "--output", "xml"}, `-o: want text, json or sarif, got "xml"`},
		{"unknown profile", []string{"scan", "--cluster", "--kubeconfig", kc, "--profile", "strict"}, `unknown profile "strict"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tc.args...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

func TestScanClusterHelp(t *testing.T) {
	code, out, errOut := runCLI(t, "", "scan", "--help")
	if code != exitOK || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, w := range []string{
		"bulwark scan --cluster [--namespace NS] [--kubeconfig PATH] [--context NAME]",
		"-cluster\n", "-kubeconfig string", "-context string", "-namespace string", "-n string", "-output string",
		"-bulwark-namespace string", `(default "bulwark-system")`, "read 3000 Pods", "a list forbidden",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("scan --help lacks %q:\n%s", w, errOut)
		}
	}
	if _, out, _ := runCLI(t, "", "help"); !strings.Contains(out, "bulwark scan    --cluster") {
		t.Errorf("bulwark help lacks scan --cluster:\n%s", out)
	}
}

// TestScanClusterUnreachable: the message names the context, the server and the kubeconfig,
// and the kind being listed; no report is written.
func TestScanClusterUnreachable(t *testing.T) {
	dir := t.TempDir()
	server := "https://127.0.0.1:" + strconv.Itoa(closedPort(t))
	kc := writeFile(t, dir, "kubeconfig", kubeconfigFor(server))
	for _, output := range []string{"text", "json"} {
		code, out, errOut := runCLI(t, "", "scan", "--cluster", "--kubeconfig", kc, "-o", output)
		if code != exitUsage || out != "" {
			t.Errorf("-o %s: exit %d, stdout %q; want exit 2 and nothing on stdout", output, code, out)
		}
		for _, want := range []string{
			`bulwark scan: context "dev" (server ` + server + `, kubeconfig ` + kc + `): listing CronJobs: `,
			"connection refused",
			"bulwark scan: no report: the scan did not read every object\n",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("-o %s: stderr lacks %q:\n%s", output, want, errOut)
			}
		}
		if strings.HasPrefix(errOut, "read ") || strings.Contains(errOut, "\nread ") {
			t.Errorf("-o %s: a kind reported as read:\n%s", output, errOut)
		}
	}
}

func TestScanClusterBadKubeconfig(t *testing.T) {
	dir := t.TempDir()
	kc := writeFile(t, dir, "kubeconfig", kubeconfigFor("https://127.0.0.1:1"))
	garbage := writeFile(t, dir, "garbage", "clusters: [this is not\n")
	missing := filepath.Join(dir, "missing")
	noCurrent := writeFile(t, dir, "no-current", strings.Replace(kubeconfigFor("https://127.0.0.1:1"), "current-context: dev", "", 1))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, tc := range []struct {
		name string
		env  string // $KUBECONFIG
		args []string
		want string
	}{
		{"not YAML", "", []string{"--kubeconfig", garbage}, "bulwark scan: kubeconfig " + garbage + ": "},
		{"missing file", "", []string{"--kubeconfig", missing}, "bulwark scan: kubeconfig " + missing + ": stat " + missing + ": no such file or directory"},
		{"unknown context", "", []string{"--kubeconfig", kc, "--context", "prod"}, `bulwark scan: kubeconfig ` + kc + `, context "prod": context "prod" does not exist`},
		{"unknown context from $KUBECONFIG", kc, []string{"--context", "prod"}, `bulwark scan: kubeconfig ` + kc + `, context "prod": `},
		{"no kubeconfig at all", missing, nil, "bulwark scan: no kubeconfig found at " + missing + ": give one with --kubeconfig"},
		{"no current context", "", []string{"--kubeconfig", noCurrent}, "bulwark scan: kubeconfig " + noCurrent + " sets no current context: pick one with --context (dev)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			t.Setenv("HOME", dir) // no ~/.kube/config
			code, out, errOut := runCLI(t, "", append([]string{"scan", "--cluster"}, tc.args...)...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

// TestNamespaceLabelsForbidden: a user who may not get namespaces gets one warning, and the
// scan goes on with unknown labels.
func TestNamespaceLabelsForbidden(t *testing.T) {
	gets := 0
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).
		WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"tier": "web"}}}).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gets++
			if key.Name == "secret" {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, key.Name, nil)
			}
			return c.Get(ctx, key, obj, opts...)
		}}).Build()
	var warnings []string
	labels := namespaceLabels(c, func(s string) { warnings = append(warnings, s) })
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if l, err := labels(ctx, "shop"); err != nil || l["tier"] != "web" {
			t.Errorf("shop: %v %v", l, err)
		}
		if l, err := labels(ctx, "gone"); err != nil || l != nil {
			t.Errorf("a namespace that is gone: %v %v", l, err)
		}
	}
	if gets != 2 || len(warnings) != 0 {
		t.Errorf("%d gets (want 2: once per namespace), warnings %q", gets, warnings)
	}
	for _, ns := range []string{"secret", "shop", "other"} {
		if l, err := labels(ctx, ns); err != nil || (ns != "shop" && l != nil) {
			t.Errorf("%s after Forbidden: %v %v", ns, l, err)
		}
	}
	if gets != 3 {
		t.Errorf("%d gets, want 3: none after Forbidden", gets)
	}
	want := `bulwark scan: warning: namespace labels unknown, namespace rules that select namespaces by label and the bulwark.dev/mode label were not applied: namespaces "secret" is forbidden`
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
		t.Errorf("warnings %q, want one starting %q", warnings, want)
	}
}
