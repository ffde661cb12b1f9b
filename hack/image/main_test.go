package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// TestTestImages: one tarball holds every test image under its name, each with the user and
// mode the node's tests and the samples rely on, the program at /testimage, the users in
// /etc/passwd and a world-writable /tmp; and packing twice gives the same images.
func TestTestImages(t *testing.T) {
	want := map[string]struct{ user, mode, uid string }{
		"example.test/t/pause:1":      {"65535", "pause", ""},
		"example.test/t/miner:1":      {"65534", "miner", "65534"},
		"example.test/t/root:1":       {"", "serve", ""},
		"example.test/t/nonroot:1":    {"65532", "serve", "65532"},
		"example.test/t/named-user:1": {"app", "serve", "1000"},
		"example.test/t/writer:1":     {"65532", "writer", "65532"},
		// The samples' stand-ins.
		"registry.k8s.io/e2e-test-images/agnhost:2.53":      {"65532", "serve", "65532"},
		"docker.io/nginxinc/nginx-unprivileged:1.27-alpine": {"101", "serve", "101"},
	}
	for _, img := range admittedSampleImages(t) {
		if _, ok := want[img]; !ok {
			t.Errorf("config/samples/workloads runs %s, which the test images do not stand in for", img)
		}
	}

	dir := t.TempDir()
	t.Chdir("../..") // the test program is built from the repository root
	var digests []map[string]v1.Hash
	for _, f := range []string{"a.tar", "b.tar"} {
		out := filepath.Join(dir, f)
		if err := testImagesCmd([]string{"--out", out, "--prefix", "example.test/t"}); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, tarballDigests(t, out))
	}
	if len(digests[0]) != len(want) {
		t.Errorf("the tarball holds %d images, want %d", len(digests[0]), len(want))
	}
	for tag := range digests[0] {
		if _, ok := want[tag]; !ok {
			t.Errorf("unexpected image %s", tag)
		}
		if digests[0][tag] != digests[1][tag] {
			t.Errorf("%s: two packings gave %s and %s", tag, digests[0][tag], digests[1][tag])
		}
	}

	var program []byte
	for tag, w := range want {
		ref, err := name.NewTag(tag)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(filepath.Join(dir, "a.tar"), &ref)
		if err != nil {
			t.Errorf("%s: %v", tag, err)
			continue
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != w.user {
			t.Errorf("%s: user %q, want %q", tag, cf.Config.User, w.user)
		}
		if !slices.Contains(cf.Config.Env, "TESTIMAGE_MODE="+w.mode) {
			t.Errorf("%s: env %v lacks TESTIMAGE_MODE=%s", tag, cf.Config.Env, w.mode)
		}
		if !slices.Equal(cf.Config.Entrypoint, []string{"/testimage"}) {
			t.Errorf("%s: entrypoint %v, want [/testimage]", tag, cf.Config.Entrypoint)
		}
		files := framework.ImageFiles(t, mutate.Extract(img))
		bin, ok := files["/testimage"]
		switch {
		case !ok || len(bin.Data) == 0 || bin.Mode&0o111 == 0:
			t.Errorf("%s: no executable /testimage", tag)
		case program == nil:
			program = bin.Data
		case !bytes.Equal(bin.Data, program):
			t.Errorf("%s: /testimage differs from the other images'", tag)
		}
		if tmp := files["/tmp"]; tmp.Mode&0o7777 != 0o1777 {
			t.Errorf("%s: /tmp mode %o, want 1777", tag, tmp.Mode&0o7777)
		}
		if d, ok := files["/data"]; w.mode == "writer" && (!ok || d.UID != 65532) {
			t.Errorf("%s: no /data owned by 65532 for the writer: %+v", tag, d)
		}
		if w.uid != "" && !hasID(files["/etc/passwd"].Data, w.user, w.uid) {
			t.Errorf("%s: /etc/passwd has no %s with uid %s:\n%s", tag, w.user, w.uid, files["/etc/passwd"].Data)
		}
		if _, ok := files["/etc/group"]; !ok {
			t.Errorf("%s: no /etc/group", tag)
		}
	}
}

// admittedSampleImages are the images of the samples that are admitted, and so must run.
func admittedSampleImages(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../../config/samples/workloads/admitted-*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no admitted samples in config/samples/workloads (%v)", err)
	}
	re := regexp.MustCompile(`(?m)^\s*-?\s*image:\s*(\S+)`)
	var out []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(data, -1) {
			out = append(out, string(m[1]))
		}
	}
	return out
}

// tarballDigests is the digest of each image of a docker-archive tarball, by tag.
func tarballDigests(t *testing.T, file string) map[string]v1.Hash {
	t.Helper()
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Hash{}
	for _, desc := range m {
		for _, tag := range desc.RepoTags {
			ref, err := name.NewTag(tag)
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(file, &ref)
			if err != nil {
				t.Fatal(err)
			}
			if out[tag], err = img.Digest(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// hasID: an /etc/passwd or /etc/group names user with id (name and id for a named user, the
// id alone for a numeric one).
func hasID(db []byte, user, id string) bool {
	for _, line := range strings.Split(string(db), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[2] == id && (user == id || f[0] == user) {
			return true
		}
	}
	return false
}

// TestLayer: entries sorted, parents added, fixed times, owned by root; a path given twice is
// an error, not a silent overwrite.
func TestLayer(t *testing.T) {
	data, err := layerTar([]file{{path: "/b/c", mode: 0o644, data: []byte("x")}, {path: "/a", mode: 0o600}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: time %v, owner %d:%d; want %v, 0:0", h.Name, h.ModTime, h.Uid, h.Gid, epoch)
		}
		got = append(got, h.Name)
	}
	if want := []string{"a", "b/", "b/c"}; !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}

	_, err = layerTar([]file{{path: "/a", mode: 0o644}, {path: "a", mode: 0o600}})
	if err == nil || err.Error() != "/a is in the image twice" {
		t.Errorf("got %v, want the duplicate named", err)
	}
}
