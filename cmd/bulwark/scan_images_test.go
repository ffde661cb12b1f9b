package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
)

// TestScanResolveImages: bulwark scan --resolve-images looks the images up in their registry
// and notes, in the webhook's words, where the mutating webhook would leave runAsNonRoot out
// because the image runs as root; an image with a numeric non-root USER gets no note. Without
// the flag, nothing is looked up and nothing is noted.
func TestScanResolveImages(t *testing.T) {
	reg := shopRegistry(t)
	web, api := reg.Ref("shop/web:1.27"), reg.Ref("shop/api:2")
	manifest := writeImagePods(t, web, api)

	code, plain, stderr := runCLI(t, "", "scan", manifest)
	if code != exitOK || strings.Contains(plain, "note:") || reg.Manifests.Load() != 0 {
		t.Fatalf("without --resolve-images: exit %d, %d manifest reads, stdout:\n%s\nstderr:\n%s", code, reg.Manifests.Load(), plain, stderr)
	}

	code, stdout, stderr := runCLI(t, "", "scan", "--resolve-images", manifest)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	note := "bulwark: image " + web + " runs as root (no USER); runAsNonRoot was not added because the kubelet would refuse to start it. Fix: set securityContext.runAsUser, or build the image with a numeric non-root USER"
	webLine := `pods.yaml:1: Pod "web": admitted with warnings` + "\n  " + manifest + ":1: note: " + note + "\n"
	if !strings.Contains(stdout, webLine) {
		t.Errorf("stdout:\n%s\nwant the root image's pod with the note:\n%s", stdout, webLine)
	}
	if n := strings.Count(stdout, "note:"); n != 1 {
		t.Errorf("%d notes, want the root image's only:\n%s", n, stdout)
	}
	// Everything else is the report without the flag.
	if without := strings.Replace(stdout, "  "+manifest+":1: note: "+note+"\n", "", 1); without != plain {
		t.Errorf("the report beside the note differs from the one without --resolve-images:\n%s\nwant\n%s", without, plain)
	}
	if n := reg.Manifests.Load(); n != 2 {
		t.Errorf("%d manifest reads, want one per image", n)
	}

	code, out, stderr := runCLI(t, "", "scan", "--resolve-images", "-o", "json", manifest)
	var report struct {
		Results []struct {
			Name  string
			Notes []string
		}
	}
	if err := json.Unmarshal([]byte(out), &report); code != exitOK || err != nil {
		t.Fatalf("-o json: exit %d, %v\n%s\n%s", code, err, out, stderr)
	}
	for _, r := range report.Results {
		if want := r.Name == "web"; slices.Contains(r.Notes, note) != want {
			t.Errorf("-o json: %s has notes %q; want the root image's note: %v", r.Name, r.Notes, want)
		}
	}
}

// TestScanResolveImagesBudget: a registry that does not answer within --image-lookup-budget
// does not hold the scan up: the image counts as not looked up, and the note says that the
// webhook would leave runAsNonRoot out, as it does. So does a registry nothing listens on.
func TestScanResolveImagesBudget(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	reg.Push(t, "shop/api:2", "65532")
	const delay = 3 * time.Second
	reg.Delay.Store(int64(delay))
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	slow, closed := reg.Ref("shop/api:2"), "127.0.0.1:1/shop/api:2"
	manifest := writeImagePods(t, slow, closed)

	start := time.Now()
	code, stdout, stderr := runCLI(t, "", "scan", "--resolve-images", "--image-lookup-budget", "300ms", manifest)
	if took := time.Since(start); took >= delay {
		t.Errorf("the scan took %s, as long as the registry took to answer (%s): the budget did not bound it", took, delay)
	}
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"note: bulwark: image " + slow + " could not be looked up, so runAsNonRoot was not added: the kubelet might refuse to start it. Fix: set securityContext.runAsUser, or build the image with a numeric non-root USER, or set runAsNonRoot yourself (lookup: the registry did not answer within the time budget)",
		"note: bulwark: image " + closed + " could not be looked up, so runAsNonRoot was not added",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout:\n%s\nwant a line with:\n%s", stdout, want)
		}
	}
}

// writeImagePods writes pods.yaml: a Pod "web" running image web, then a Pod "api" running api.
// shopRegistry serves shop/web:1.27, which runs as root, and shop/api:2, which runs as 65532,
// and leaves the tests no local credentials: lookups are anonymous.
func shopRegistry(t *testing.T) *registrytest.Registry {
	t.Helper()
	reg := registrytest.Start(t, "", "")
	reg.Push(t, "shop/web:1.27", "")
	reg.Push(t, "shop/api:2", "65532")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	return reg
}

func writeImagePods(t *testing.T, web, api string) string {
	t.Helper()
	manifest := filepath.Join(t.TempDir(), "pods.yaml")
	doc := func(name, image string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  containers: [{name: c, image: \"" + image + "\"}]\n"
	}
	if err := os.WriteFile(manifest, []byte(doc("web", web)+"---\n"+doc("api", api)), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest
}
