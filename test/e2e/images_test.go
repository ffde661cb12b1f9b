package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// TestResolveImages: bulwark serve --resolve-images --image-pull-secrets, behind a real
// apiserver, looks up the images of what kubectl applies in a real registry (served by this
// test on 127.0.0.1, behind basic authentication), with the pod's pull secret: the Deployment
// of an image that runs as root is admitted without runAsNonRoot and kubectl shows why; the
// one of an image with a numeric non-root USER gets it, also when the pull secret is its
// ServiceAccount's.
func TestResolveImages(t *testing.T) {
	reg := registrytest.Start(t, "puller", "s3cret")
	reg.Push(t, "shop/web:1.27", "")
	reg.Push(t, "shop/api:2", "65532:65532")

	var out framework.LogBuffer
	l, err := framework.StartLocal(framework.LocalOptions{
		Binary: binary, Kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), Logs: &out,
		ServeArgs: []string{"--resolve-images", "--image-pull-secrets"},
	})
	if err != nil {
		t.Fatalf("%v\nbulwark logs:\n%s", err, out.String())
	}
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Errorf("stopping: %v", err)
		}
		if t.Failed() {
			t.Logf("bulwark logs:\n%s", out.String())
		}
	})
	kubectl := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(l.Assets, "kubectl"), append([]string{"--kubeconfig", l.Kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	config := base64.StdEncoding.EncodeToString(reg.DockerConfig(reg.Host))
	kubectl(`apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Secret
metadata: {name: registry, namespace: shop}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: `+config+`}
`, "apply", "-f", "-")

	deployment := func(name, image string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: shop}
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      imagePullSecrets: [{name: registry}]
      containers: [{name: %[1]s, image: %[2]q}]
`, name, image)
	}
	web, api := reg.Ref("shop/web:1.27"), reg.Ref("shop/api:2")
	// The pull secret reaches bulwark's cache shortly after it is created: apply until the
	// lookup is authenticated.
	var warnings string
	for attempt := 0; ; attempt++ {
		warnings = kubectl(deployment("web", web), "apply", "--dry-run=server", "-f", "-")
		if !strings.Contains(warnings, "could not be looked up") || attempt == 20 {
			break
		}
	}
	want := "Warning: bulwark: image " + web + " runs as root (no USER); runAsNonRoot was not added because the kubelet would refuse to start it. Fix: set securityContext.runAsUser, or build the image with a numeric non-root USER"
	if !strings.Contains(warnings, want) {
		t.Errorf("kubectl apply of the root image printed:\n%s\nwant the line:\n%s", warnings, want)
	}
	kubectl(deployment("web", web), "apply", "-f", "-")
	if got := kubectl("", "get", "deployment", "-n", "shop", "web", "-o", "jsonpath={.spec.template.spec.securityContext}"); strings.Contains(got, "runAsNonRoot") || !strings.Contains(got, "RuntimeDefault") {
		t.Errorf("the root image's pod securityContext: %s; want seccomp set and runAsNonRoot left out", got)
	}

	warnings = kubectl(deployment("api", api), "apply", "-f", "-")
	if strings.Contains(warnings, "bulwark: image") {
		t.Errorf("the non-root image got a note:\n%s", warnings)
	}
	if got := kubectl("", "get", "deployment", "-n", "shop", "api", "-o", "jsonpath={.spec.template.spec.securityContext.runAsNonRoot}"); got != "true" {
		t.Errorf("the non-root image's runAsNonRoot: %q, want true", got)
	}

	// A pod template that names no pull secret has its ServiceAccount's, as the ServiceAccount
	// admission plugin would give the pods (here it is off, as envtest runs the apiserver);
	// a Pod, which names none either, its default ServiceAccount's.
	kubectl(`apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: shop}
imagePullSecrets: [{name: registry}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: shop}
imagePullSecrets: [{name: registry}]
`, "apply", "-f", "-")
	withAccount := strings.Replace(deployment("api-sa", api), "      imagePullSecrets: [{name: registry}]\n", "      serviceAccountName: builder\n", 1)
	if strings.Contains(withAccount, "imagePullSecrets") || !strings.Contains(withAccount, "serviceAccountName: builder") {
		t.Fatalf("the Deployment of ServiceAccount builder still names its pull secret:\n%s", withAccount)
	}
	pod := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: api, namespace: shop}\nspec:\n  containers: [{name: api, image: %q}]\n", api)
	for _, tt := range []struct{ what, manifest, object, jsonpath string }{
		{"the Deployment of ServiceAccount builder", withAccount, "deployment/api-sa", "{.spec.template.spec.securityContext.runAsNonRoot}"},
		{"the Pod of ServiceAccount default", pod, "pod/api", "{.spec.securityContext.runAsNonRoot}"},
	} {
		// The ServiceAccounts reach bulwark's cache shortly after they are created.
		for attempt := 0; ; attempt++ {
			warnings = kubectl(tt.manifest, "apply", "--dry-run=server", "-f", "-")
			if !strings.Contains(warnings, "could not be looked up") || attempt == 20 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if strings.Contains(warnings, "bulwark: image") {
			t.Errorf("%s, which names no pull secret, got a note:\n%s", tt.what, warnings)
		}
		kubectl(tt.manifest, "apply", "-f", "-")
		if got := kubectl("", "get", "-n", "shop", tt.object, "-o", "jsonpath="+tt.jsonpath); got != "true" {
			t.Errorf("%s: runAsNonRoot %q, want true", tt.what, got)
		}
	}

	// The dry run and the apply of web looked it up once; everything after came from the
	// cache.
	_, metrics := get(t, &http.Client{Timeout: 30 * time.Second}, l.MetricsURL, "")
	for _, result := range []string{"fetched", "hit"} {
		series := `bulwark_image_lookups_total{result="` + result + `"} `
		i := strings.Index(metrics, series)
		if i < 0 || strings.HasPrefix(metrics[i+len(series):], "0\n") {
			t.Errorf("no %s image lookup counted in the metrics", result)
		}
	}
	if !strings.Contains(out.String(), `"imageLookups":true`) {
		t.Errorf("the start-up log does not say image lookups are on")
	}
}
