package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestTestImages: one tarball holds every test image under its name, each with its user, its
// mode and the program at /testimage.
func TestTestImages(t *testing.T) {
	out := filepath.Join(t.TempDir(), "test.tar")
	if err := os.Chdir("../.."); err != nil { // the test program is built from the repository root
		t.Fatal(err)
	}
	if err := testImagesCmd([]string{"--out", out, "--prefix", "example.test/t"}); err != nil {
		t.Fatal(err)
	}
	for _, ti := range TestImages("example.test/t") {
		ref, err := name.NewTag(ti.tag)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(out, &ref)
		if err != nil {
			t.Errorf("%s: %v", ti.tag, err)
			continue
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != ti.user {
			t.Errorf("%s: user %q, want %q", ti.tag, cf.Config.User, ti.user)
		}
		if !slices.Contains(cf.Config.Env, "TESTIMAGE_MODE="+ti.mode) {
			t.Errorf("%s: env %v lacks TESTIMAGE_MODE=%s", ti.tag, cf.Config.Env, ti.mode)
		}
		if !slices.Equal(cf.Config.Entrypoint, []string{"/testimage"}) {
			t.Errorf("%s: entrypoint %v", ti.tag, cf.Config.Entrypoint)
		}
	}
}

// TestLayerRejectsDuplicates: a path given twice is an error, not a silent overwrite.
func TestLayerRejectsDuplicates(t *testing.T) {
	_, err := layerTar([]file{{path: "/a", mode: 0o644}, {path: "a", mode: 0o600}})
	if err == nil || err.Error() != "a is in the image twice" {
		t.Errorf("got %v, want the duplicate named", err)
	}
}
