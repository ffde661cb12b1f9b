// Package helm tests the Helm chart in charts/bulwark with the real helm (v4, built by
// hack/tools.sh): helm lint --strict, golden helm template output, values.schema.json, the
// exact RBAC rules, Bulwark's own pod against its restricted profile, helm install,
// upgrade and uninstall into a real kube-apiserver and etcd (envtest), one release version
// everywhere, and a release published to an OCI registry on 127.0.0.1 and installed from it.
package helm

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

var update = flag.Bool("update", false, "rewrite the golden helm template output in testdata/")

// chartDir is the chart under test, relative to this package.
const chartDir = "../../charts/bulwark"

// The release every test installs or renders, unless it says otherwise.
const (
	releaseName      = "bulwark"
	releaseNamespace = "bulwark-system"
)

// helmCLI runs the helm binary with its own empty configuration, cache and data
// directories, so nothing from the user's helm setup leaks in or out.
type helmCLI struct {
	bin string
	env []string
}

// helmBinary returns the helm that hack/tools.sh builds next to kubectl.
func helmBinary(t *testing.T) string { return assetBinary(t, "helm") }

// assetBinary returns a tool hack/tools.sh builds into the directory KUBEBUILDER_ASSETS names
// (helm, promtool). It fails the test, naming the fix, when the tool is missing: these tests
// never skip.
func assetBinary(t *testing.T, name string) string {
	t.Helper()
	dir, err := framework.AssetsDir()
	if err != nil {
		t.Fatalf("%v (the Helm tests need %s too: hack/tools.sh %s)", err, name, name)
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found in %s: run hack/tools.sh %s (or make tools) to build it into the cache", name, dir, name)
	}
	return bin
}

// newHelm returns a helm runner; kubeconfig may be empty for commands that need no cluster.
func newHelm(t *testing.T, kubeconfig string) *helmCLI {
	t.Helper()
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"NO_COLOR=1",
	}
	if kubeconfig != "" {
		env = append(env, "KUBECONFIG="+kubeconfig)
	} else {
		// No cluster: a kubeconfig that does not exist, so nothing talks to a real one.
		env = append(env, "KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	}
	return &helmCLI{bin: helmBinary(t), env: env}
}

// run runs helm with args and returns its standard output; err carries standard error.
func (h *helmCLI) run(args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// mustRun is run that fails the test on error.
func (h *helmCLI) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// template renders the chart as release releaseName in releaseNamespace with extra helm
// flags (-f FILE, --set ...).
func (h *helmCLI) template(t *testing.T, flags ...string) string {
	t.Helper()
	args := append([]string{"template", releaseName, chartDir, "--namespace", releaseNamespace}, flags...)
	return h.mustRun(t, args...)
}

// object is one document of a rendered manifest.
type object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Source is the template it came from ("bulwark/templates/rbac.yaml").
	Source string
	YAML   []byte
}

func (o object) String() string { return o.Kind + " " + o.Name }

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (\S+)`)
)

// parseManifest splits helm's output into its objects.
func parseManifest(t *testing.T, manifest string) []object {
	t.Helper()
	var objs []object
	for _, doc := range docSeparator.Split(manifest, -1) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("rendered document does not parse: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue // comments only
		}
		o := object{
			APIVersion: meta.APIVersion, Kind: meta.Kind,
			Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, YAML: []byte(doc),
		}
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			o.Source = m[1]
		}
		objs = append(objs, o)
	}
	return objs
}

// find returns the one object of kind and name, failing the test when there is none.
func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %q in the rendered manifest (have %v)", kind, name, objs)
	return object{}
}

// decode decodes o strictly into a typed object: an unknown or misspelled field fails.
func decode(t *testing.T, o object, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.YAML, into); err != nil {
		t.Fatalf("%s (%s) does not decode strictly as its type: %v", o, o.Source, err)
	}
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	framework.Golden(t, filepath.Join("testdata", name), got, *update)
}
