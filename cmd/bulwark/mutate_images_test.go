package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
)

// TestMutateResolveImages: bulwark mutate --resolve-images looks the images up in their
// registry and leaves runAsNonRoot out where the image runs as root, with a note on stderr;
// without the flag, nothing is looked up.
func TestMutateResolveImages(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	reg.Push(t, "shop/web:1.27", "")
	reg.Push(t, "shop/api:2", "65532")
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no local credentials: anonymous lookups
	manifest := filepath.Join(t.TempDir(), "pods.yaml")
	doc := func(name, image string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  containers: [{name: c, image: \"" + image + "\"}]\n"
	}
	if err := os.WriteFile(manifest, []byte(doc("web", reg.Ref("shop/web:1.27"))+"---\n"+doc("api", reg.Ref("shop/api:2"))), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "", "mutate", "--resolve-images", manifest)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	web, api, _ := strings.Cut(stdout, "\n---\n")
	if strings.Contains(web, "runAsNonRoot") || !strings.Contains(web, "RuntimeDefault") {
		t.Errorf("the root image's pod:\n%s\nwant seccomp set and runAsNonRoot left out", web)
	}
	if !strings.Contains(api, "runAsNonRoot: true") {
		t.Errorf("the non-root image's pod:\n%s\nwant runAsNonRoot: true", api)
	}
	want := manifest + ": document 1 (line 1): image " + reg.Ref("shop/web:1.27") + " runs as root (no USER); runAsNonRoot was not added"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr:\n%s\nwant a line starting %q", stderr, want)
	}
	if n := reg.Manifests.Load(); n != 2 {
		t.Errorf("%d manifest reads, want one per image", n)
	}

	code, stdout, _ = runCLI(t, "", "mutate", manifest)
	if code != exitOK || strings.Count(stdout, "runAsNonRoot: true") != 2 || reg.Manifests.Load() != 2 {
		t.Errorf("without --resolve-images: exit %d, %d manifest reads, output:\n%s", code, reg.Manifests.Load(), stdout)
	}
}
