package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// imageLookupsKeepRootImagesRunning serves a registry behind basic authentication inside the
// node, where containerd pulls from it, turns the chart's image lookups on (with pull
// secrets), and applies a root web server and a non-root one from that registry with a pull
// secret: the root one is admitted without runAsNonRoot, with the warning that says why, and
// runs; the non-root one gets runAsNonRoot, and runs.
func imageLookupsKeepRootImagesRunning(t *testing.T, cs *kubernetes.Clientset) {
	reg := registrytest.Start(t, "puller", "s3cret")
	if err := node.ServeRegistry(reg.Handler()); err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"test/root:1", "test/nonroot:1", "test/named-user:1", "test/writer:1"} {
		tag, err := name.NewTag("bulwark.local/" + repo)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(testImages, &tag)
		if err != nil {
			t.Fatalf("%s from %s: %v", tag, testImages, err)
		}
		// A label of their own gives the registry's images an image ID (config digest) other
		// than the imported ones'. With the same ID, the imported bulwark.local name is gone
		// from the node after the registry's copy has been pulled and its pods deleted (seen
		// as ErrImagePull in a later step; the node has nowhere to pull it from).
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		if cf.Config.Labels == nil {
			cf.Config.Labels = map[string]string{}
		}
		cf.Config.Labels["dev.bulwark.test.source"] = "node-registry"
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		reg.PushImage(t, repo, img)
	}

	out, err := helm(t, "upgrade", release, "charts/bulwark", "--namespace", bulwarkNS, "--reuse-values",
		"--set", "imageLookups.enabled=true", "--set", "imageLookups.pullSecrets=true", "--wait", "--timeout", "3m")
	if err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	eventually(t, 2*time.Minute, "Bulwark running with image lookups", func(ctx context.Context) string {
		if s := podsReady(ctx, cs, bulwarkNS, bulwarkSelector, 2); s != "" {
			return s
		}
		pods, err := cs.CoreV1().Pods(bulwarkNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=bulwark"})
		if err != nil {
			return err.Error()
		}
		for _, p := range pods.Items {
			if !strings.Contains(strings.Join(p.Spec.Containers[0].Args, " "), "--resolve-images") {
				return p.Name + " runs without --resolve-images"
			}
		}
		return ""
	})

	createNamespace(t, cs, "lookups", nil)
	t.Cleanup(func() { deleteNamespace(cs, "lookups") })
	config := reg.DockerConfig(framework.RegistryHost)
	if _, err := cs.CoreV1().Secrets("lookups").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: config},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name, repo string) string {
		return `apiVersion: v1
kind: Pod
metadata: {name: ` + name + `, namespace: lookups}
spec:
  imagePullSecrets: [{name: registry}]
  containers: [{name: server, image: "` + framework.RegistryHost + "/" + repo + `"}]
`
	}
	// kubectl -f splits its argument at commas, which a test's temporary directory can hold.
	dir, err := os.MkdirTemp("", "bulwark-lookups-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	manifest := filepath.Join(dir, "pods.yaml")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := kubectl("logs", "-n", bulwarkNS, "-l", "app.kubernetes.io/name=bulwark", "--tail", "30", "--prefix")
			t.Logf("Bulwark's logs:\n%s", out)
		}
	})
	apply := func(name, repo string) string {
		if err := os.WriteFile(manifest, []byte(pod(name, repo)), 0o644); err != nil {
			t.Fatal(err)
		}
		var out string
		// The pull secret reaches Bulwark's cache shortly after it is created.
		eventually(t, 30*time.Second, "Bulwark reads "+repo+" with the pull secret", func(context.Context) string {
			var err error
			out, err = kubectl("apply", "--dry-run=server", "-f", manifest)
			if err != nil {
				return err.Error() + "\n" + out
			}
			if strings.Contains(out, "could not be looked up") {
				return out
			}
			return ""
		})
		if out, err := kubectl("apply", "-f", manifest); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", name, err, out)
		}
		return out
	}

	root := framework.RegistryHost + "/test/root:1"
	warnings := apply("root-server", "test/root:1")
	if want := "Warning: bulwark: image " + root + " runs as root (no USER); runAsNonRoot was not added"; !strings.Contains(warnings, want) {
		t.Errorf("kubectl apply of the root server printed:\n%s\nwant a line starting %q", warnings, want)
	}
	warnings = apply("nonroot-server", "test/nonroot:1")
	if strings.Contains(warnings, "bulwark: image") {
		t.Errorf("the non-root server got a note:\n%s", warnings)
	}
	for name, wantNonRoot := range map[string]bool{"root-server": false, "nonroot-server": true} {
		var running *corev1.Pod
		eventually(t, 2*time.Minute, name+" pulled from the node's registry and Running", func(ctx context.Context) string {
			p, err := cs.CoreV1().Pods("lookups").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if p.Status.Phase != corev1.PodRunning {
				return podState(p)
			}
			running = p
			return ""
		})
		sc := running.Spec.SecurityContext
		if got := sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot; got != wantNonRoot {
			t.Errorf("%s: runAsNonRoot %v, want %v", name, got, wantNonRoot)
		}
		if id := running.Status.ContainerStatuses[0].ImageID; !strings.HasPrefix(id, framework.RegistryHost+"/") {
			t.Errorf("%s: image ID %q; want it pulled from %s", name, id, framework.RegistryHost)
		}
		t.Logf("%s: Running, runAsNonRoot %v, image %s", name, wantNonRoot, running.Status.ContainerStatuses[0].ImageID)
	}
	if reg.Manifests.Load() == 0 {
		t.Error("the registry answered no manifest read")
	}
	// The matrix again, from the registry, with its pull secret.
	createNamespace(t, cs, "matrix-lookups", nil)
	if _, err := cs.CoreV1().Secrets("matrix-lookups").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: config},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the pull secret reaches Bulwark's cache
	fromRegistry := matrixEnv{prefix: framework.RegistryHost + "/test/", pullSecret: "registry", agentPort: 18082}
	got := runMatrix(t, cs, "matrix-lookups", fromRegistry)
	checkMatrix(t, got, map[string]string{
		"root-web": "Running", "nonroot-web": "Running", "named-user": "Running", "writes-root-fs": "Running",
		"binds-80": "Running", "node-agent": "refused", "batch": "Running", "nightly": "Running",
	})

	// The strict sample policy, with the node's registry among its allowed registries.
	strict := strictValues(t, dir)
	if out, err := helm(t, "upgrade", release, "charts/bulwark", "--namespace", bulwarkNS, "--reuse-values", "-f", strict, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("helm upgrade to the strict sample policy: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "the strict policy in force", func(context.Context) string {
		out, err := kubectl("apply", "--dry-run=server", "-n", "matrix-lookups", "-f", filepath.Join(dir, "strict-probe.yaml"))
		if err == nil || !strings.Contains(out, "[image-registry]") {
			return "an image from registry.invalid was not refused by image-registry: " + out
		}
		return ""
	})
	createNamespace(t, cs, "matrix-strict", nil)
	if _, err := cs.CoreV1().Secrets("matrix-strict").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: config},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the pull secret reaches Bulwark's cache
	fromRegistry.agentPort++
	got = runMatrix(t, cs, "matrix-strict", fromRegistry)
	checkMatrix(t, got, map[string]string{
		"root-web": "refused", "nonroot-web": "Running", "named-user": "refused", "writes-root-fs": "Running",
		"binds-80": "Running", "node-agent": "refused", "batch": "Running", "nightly": "refused",
	})
}

// strictValues writes Helm values with the policy of config/samples/policies/strict-production.yaml,
// the node's registry added to its allowed registries, guardrails off, and a probe pod whose image comes from
// a registry the policy does not allow; it returns the values file.
func strictValues(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(repoRoot, "config/samples/policies/strict-production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	var pol map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["policy.yaml"]), &pol); err != nil {
		t.Fatal(err)
	}
	registry := pol["checks"].(map[string]any)["image-registry"].(map[string]any)
	registry["allowedRegistries"] = append(registry["allowedRegistries"].([]any), framework.RegistryHost)
	// The images are at stake here, not the namespaces: no guardrails (guardrailsGuardTenants
	// proves them).
	pol["guardrails"] = map[string]any{"create": false}
	out, err := yaml.Marshal(map[string]any{"policy": pol})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "strict.yaml")
	probe := "apiVersion: v1\nkind: Pod\nmetadata: {name: probe}\nspec:\n  containers: [{name: c, image: registry.invalid/c:1}]\n"
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "strict-probe.yaml"), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
