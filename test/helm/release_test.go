package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository, relative to this package.
const repoRoot = "../.."

// chartMeta is what Chart.yaml says of the release and the clusters it claims.
type chartMeta struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	AppVersion  string `json:"appVersion"`
	KubeVersion string `json:"kubeVersion"`
}

func readChartMeta(t *testing.T) chartMeta {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m chartMeta
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	return m
}

// defaultImage is the image the chart runs when no value names another.
func defaultImage(t *testing.T) string {
	t.Helper()
	return "ghcr.io/bulwark-k8s/bulwark:" + readChartMeta(t).AppVersion
}

// makeRun runs make in the repository root with a clean make environment (nothing inherited
// from an outer make or from the variables the Makefile lets the environment set) plus env,
// and returns its output; args are targets and VAR=value settings.
func makeRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = repoRoot
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GO", "BIN", "VERSION", "IMG", "REGISTRY",
			"IMAGES", "CHARTS", "HELM", "HELM_FLAGS", "LDFLAGS", "GO_BUILD_ENV", "GO_BUILD_FLAGS":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// argAfter is the word after flag in a command line make -n printed.
func argAfter(t *testing.T, line, flag string) string {
	t.Helper()
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == flag {
			return f[i+1]
		}
	}
	t.Fatalf("no %s in %q", flag, line)
	return ""
}

// TestOneVersion: a release has one version. The Makefile's release is "v" + the chart's
// version, the chart's appVersion is that release, and so is the image the chart runs by
// default, the image `make docker-build` and `make image-push` publish for it, the
// Dockerfile's default VERSION and the image config/ deploys; the README installs that chart
// version from the registry `make chart-push` publishes to, and the changelog's first section
// is about it.
func TestOneVersion(t *testing.T) {
	chart := readChartMeta(t)
	release := strings.TrimSpace(makeRun(t, nil, "-s", "release-version"))
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(release) {
		t.Fatalf("make release-version: %q, want v + a semantic version", release)
	}
	if release != "v"+chart.Version {
		t.Errorf("make release-version %q, Chart.yaml version %q: want v + the chart's version", release, chart.Version)
	}
	if chart.AppVersion != release {
		t.Errorf("Chart.yaml appVersion %q, want the release %q", chart.AppVersion, release)
	}

	// The images: the one `make image-push` and `make docker-build` publish for the release
	// and the one the chart runs by default are the same reference.
	published := argAfter(t, makeRun(t, nil, "-n", "image-push", "VERSION="+release), "--to")
	if built := argAfter(t, makeRun(t, nil, "-n", "docker-build", "VERSION="+release), "-t"); built != published {
		t.Errorf("make docker-build tags %q, make image-push pushes %q", built, published)
	}
	if !strings.HasSuffix(published, ":"+release) {
		t.Errorf("make image-push pushes %q, want the tag %s", published, release)
	}
	var d appsv1.Deployment
	decode(t, find(t, parseManifest(t, newHelm(t, "").template(t)), "Deployment", "bulwark"), &d)
	if got := d.Spec.Template.Spec.Containers[0].Image; got != published {
		t.Errorf("the chart runs %q by default, make image-push publishes %q", got, published)
	}
	if got := defaultImage(t); got != published {
		t.Errorf("defaultImage %q, make image-push publishes %q", got, published)
	}

	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^ARG VERSION=(\S+)$`).FindSubmatch(dockerfile); m == nil || string(m[1]) != release {
		t.Errorf("Dockerfile: ARG VERSION default %q, want the release %q", m, release)
	}
	manager, err := os.ReadFile(filepath.Join(repoRoot, "config/manager/manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^\s+image: (\S+)$`).FindSubmatch(manager); m == nil || string(m[1]) != published {
		t.Errorf("config/manager/manager.yaml: image %q, want %q", m, published)
	}

	// The chart: where make chart-push publishes it is where the README installs it from.
	push := makeRun(t, nil, "-n", "chart-push", "HELM=helm")
	if want := "helm push .local/charts/bulwark-" + chart.Version + ".tgz "; !strings.Contains(push, want) {
		t.Errorf("make -n chart-push: %q, want %q", push, want)
	}
	ref := strings.Fields(push)[3] + "/" + chart.Name
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "helm install bulwark " + ref + " --version " + chart.Version; !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not say %q", want)
	}
	changelog, err := os.ReadFile(filepath.Join(repoRoot, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^## (.*)$`).FindSubmatch(changelog); m == nil || !strings.Contains(string(m[1]), chart.Version) {
		t.Errorf("CHANGELOG.md: the first section %q does not name %s", m, chart.Version)
	}
}

// testedKube is the Kubernetes minor version the tests run: hack/tools.sh's KUBE_VERSION.
func testedKube(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "hack/tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^KUBE_VERSION=\$\{KUBE_VERSION:-v(1\.\d+)\.\d+\}$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("hack/tools.sh: no KUBE_VERSION=${KUBE_VERSION:-v1.N.P}")
	}
	return string(m[1])
}

// TestKubeVersionClaim: the chart claims the Kubernetes minor version the tests run and the
// ones after it, not one before: helm refuses to render it for 1.36, and the README says the
// same.
func TestKubeVersionClaim(t *testing.T) {
	tested := testedKube(t)
	chart := readChartMeta(t)
	if want := ">=" + tested + ".0-0"; chart.KubeVersion != want {
		t.Errorf("Chart.yaml kubeVersion %q, want %q: claim what the tests run (hack/tools.sh)", chart.KubeVersion, want)
	}
	h := newHelm(t, "")
	if _, err := h.run("template", releaseName, chartDir, "--namespace", releaseNamespace, "--kube-version", tested+".0"); err != nil {
		t.Errorf("the chart does not render for Kubernetes %s.0: %v", tested, err)
	}
	_, err := h.run("template", releaseName, chartDir, "--namespace", releaseNamespace, "--kube-version", "1.36.0")
	if err == nil || !strings.Contains(err.Error(), "chart requires kubeVersion: "+chart.KubeVersion+" which is incompatible with Kubernetes v1.36.0") {
		t.Errorf("helm template --kube-version 1.36.0: %v, want the kubeVersion refusal", err)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(readme)), " ") // as read, not as wrapped
	for _, want := range []string{"Kubernetes " + tested + ", the version the tests run", "`kubeVersion` is `" + chart.KubeVersion + "`"} {
		if !strings.Contains(text, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
}
