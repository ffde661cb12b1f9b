package helm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
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
	d := deploymentOf(t, parseManifest(t, newHelm(t, "").template(t)), "bulwark")
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

// TestReleaseFromOCI publishes a release as `make` does, to a registry on 127.0.0.1, and
// installs it from there: `make chart` and `make chart-push` publish the chart, `make image`
// and `make image-push` the image (the digest pushed is the tarball's, every blob readable);
// `helm show chart` reads the version back, the apiserver's version satisfies the chart's
// kubeVersion, and `helm install oci://...` installs the release whose Deployment runs the
// pushed image: the chart's default tag is the one `make image-push` pushed.
func TestReleaseFromOCI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and the image")
	}
	cl := startCluster(t)
	h := newHelm(t, cl.kubeconfig)
	reg := registrytest.Start(t, "", "")
	chart := readChartMeta(t)
	release := chart.AppVersion
	dir := t.TempDir()
	vars := []string{"REGISTRY=" + reg.Host, "CHARTS=" + dir, "IMAGES=" + dir, "BIN=" + filepath.Join(dir, "bulwark"),
		"VERSION=" + release, "HELM=" + h.bin, "HELM_FLAGS=--plain-http", "GO=go"}

	t.Log("make chart chart-push")
	makeRun(t, h.env, append([]string{"chart"}, vars...)...)
	tgz := filepath.Join(dir, "bulwark-"+chart.Version+".tgz")
	if _, err := os.Stat(tgz); err != nil {
		t.Fatalf("make chart: %v", err)
	}
	makeRun(t, h.env, append([]string{"chart-push"}, vars...)...)

	t.Log("make image image-push")
	makeRun(t, nil, append([]string{"image"}, vars...)...)
	out := makeRun(t, nil, append([]string{"image-push"}, vars...)...)
	local, err := name.NewTag("bulwark.local/bulwark:" + release)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(dir, "bulwark.tar"), &local)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	pushedRef := reg.Ref("bulwark:" + release)
	if !strings.Contains(out, "pushed "+pushedRef+"@"+want.String()) {
		t.Errorf("make image-push says:\n%s\nwant pushed %s@%s", out, pushedRef, want)
	}
	ref, err := name.NewTag(pushedRef)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("reading back %s: %v", ref, err)
	}
	if got, err := pushed.Digest(); err != nil || got != want {
		t.Fatalf("the registry has %s at %v (%v), the tarball %s", ref, got, err, want)
	}
	if err := validate.Image(pushed); err != nil {
		t.Errorf("the pushed image does not verify (config, layers and their digests): %v", err)
	}

	oci := "oci://" + reg.Host + "/charts/bulwark"
	t.Log("helm show chart " + oci)
	var shown chartMeta
	if err := yaml.Unmarshal([]byte(h.mustRun(t, "show", "chart", oci, "--version", chart.Version, "--plain-http")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown != chart {
		t.Errorf("helm show chart %s: %+v, want Chart.yaml's %+v", oci, shown, chart)
	}

	sv, err := cl.cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.run("template", releaseName, oci, "--version", chart.Version, "--plain-http", "--namespace", releaseNamespace,
		"--kube-version", sv.GitVersion); err != nil {
		t.Errorf("the chart's kubeVersion %s does not admit the apiserver's %s: %v", chart.KubeVersion, sv.GitVersion, err)
	}

	t.Log("helm install " + oci)
	h.mustRun(t, "install", releaseName, oci, "--version", chart.Version, "--plain-http",
		"--namespace", releaseNamespace, "--create-namespace", "--set", "image.repository="+reg.Host+"/bulwark")
	if s := status(t, h); s.Info.Status != "deployed" || s.Version != 1 {
		t.Fatalf("release after install: %+v", s)
	}
	cl.checkReleaseObjects(t, h, "Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget",
		"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
	dep, err := cl.cs.AppsV1().Deployments(releaseNamespace).Get(context.Background(), "bulwark", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != pushedRef {
		t.Fatalf("the installed Deployment runs %q, want the pushed %q", got, pushedRef)
	}
	if got := dep.Labels["app.kubernetes.io/version"]; got != release {
		t.Errorf("the Deployment's app.kubernetes.io/version %q, want %q", got, release)
	}
	if got := dep.Labels["helm.sh/chart"]; got != "bulwark-"+chart.Version {
		t.Errorf("the Deployment's helm.sh/chart %q, want bulwark-%s", got, chart.Version)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatalf("the image the Deployment runs is not in the registry: %v", err)
	}
	if desc.Digest != want {
		t.Errorf("the Deployment's image resolves to %s, make image built %s", desc.Digest, want)
	}
}
