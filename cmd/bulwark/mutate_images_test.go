package main

import (
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
)

// TestMutateResolveImages: bulwark mutate --resolve-images looks the images up in their
// registry and leaves runAsNonRoot out where the image runs as root, with a note on stderr;
// without the flag, nothing is looked up.
func TestMutateResolveImages(t *testing.T) {
	reg := shopRegistry(t)
	manifest := writeImagePods(t, reg.Ref("shop/web:1.27"), reg.Ref("shop/api:2"))

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

// TestMutatePinDigests: with a policy that turns pin-digests on, bulwark mutate
// --resolve-images writes each image pinned to its digest, keeping the rest of the line;
// without the flag, the images stay and stderr says why.
func TestMutatePinDigests(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	digest := reg.Push(t, "shop/api:2", "65532")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	dir := t.TempDir()
	pol := writeFile(t, dir, "policy.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nmutation:\n  defaults:\n    pin-digests: true\n")
	api := reg.Ref("shop/api:2")
	manifest := writeFile(t, dir, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: api}\nspec:\n  containers:\n    - name: c\n      image: \""+api+"\" # the API\n")

	code, stdout, stderr := runCLI(t, "", "mutate", "--resolve-images", "--policy", pol, manifest)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if want := "image: \"" + api + "@" + digest + "\" # the API\n"; !strings.Contains(stdout, want) {
		t.Errorf("output:\n%s\nwant the line %q", stdout, want)
	}
	if want := "spec.containers[0].image=" + api + "@" + digest + " (pin-digests)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr:\n%s\nwant %q", stderr, want)
	}
	// The output is pinned: mutating it again changes nothing and looks nothing up.
	reads := reg.Manifests.Load()
	code, again, _ := runCLI(t, stdout, "mutate", "--resolve-images", "--policy", pol, "-")
	if code != exitOK || again != stdout || reg.Manifests.Load() != reads {
		t.Errorf("mutating the output again: exit %d, %d manifest reads, output:\n%s", code, reg.Manifests.Load()-reads, again)
	}

	code, stdout, stderr = runCLI(t, "", "mutate", "--policy", pol, manifest)
	if code != exitOK || strings.Contains(stdout, "@sha256:") {
		t.Errorf("without --resolve-images: exit %d, output:\n%s", code, stdout)
	}
	if want := "image " + api + " was not pinned: image lookups are off (--resolve-images)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr:\n%s\nwant %q", stderr, want)
	}
}
