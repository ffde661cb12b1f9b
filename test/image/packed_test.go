package image

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// finalStage is what the Dockerfile's last stage says the image is: its USER, its ENTRYPOINT
// and where it copies the built binary to.
type finalStage struct {
	user       string
	entrypoint []string
	binaryPath string
}

func readFinalStage(t *testing.T) finalStage {
	t.Helper()
	st := stages(t, readDockerfile(t))
	last := st[len(st)-1]
	var f finalStage
	for _, in := range last.ins {
		switch in.cmd {
		case "USER":
			f.user = in.args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &f.entrypoint); err != nil {
				t.Fatalf("Dockerfile:%d: ENTRYPOINT is not a JSON array: %v", in.line, err)
			}
		case "COPY":
			w := strings.Fields(in.args)
			if len(w) == 3 && strings.HasPrefix(w[0], "--from=") {
				f.binaryPath = w[2]
			}
		}
	}
	if f.user == "" || len(f.entrypoint) == 0 || f.binaryPath == "" {
		t.Fatalf("Dockerfile: the last stage lacks USER, ENTRYPOINT or COPY --from: %+v", f)
	}
	return f
}

// TestMakeImageAgreesWithDockerfile: `make image` packs, without Docker, the image the
// Dockerfile describes: the same user and entrypoint, the binary `make build` builds at the
// path the Dockerfile copies it to, CA certificates and the user's passwd entry as
// distroless/static has them, and the same digest every time.
func TestMakeImageAgreesWithDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and the image")
	}
	want := readFinalStage(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bulwark")
	tag := "bulwark.local/bulwark:" + testVersion
	var digests []string
	var tarballs []string
	for _, sub := range []string{"a", "b"} {
		out, err := makeCommand("image", "GO=go", "BIN="+bin, "VERSION="+testVersion, "IMAGES="+filepath.Join(dir, sub)).CombinedOutput()
		if err != nil {
			t.Fatalf("make image: %v\n%s", err, out)
		}
		tb := filepath.Join(dir, sub, "bulwark.tar")
		ref, _ := name.NewTag(tag)
		img, err := tarball.ImageFromPath(tb, &ref)
		if err != nil {
			t.Fatalf("reading %s as %s: %v", tb, tag, err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
		tarballs = append(tarballs, tb)
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same binary gave different images: %v", digests)
	}

	ref, _ := name.NewTag(tag)
	img, err := tarball.ImageFromPath(tarballs[0], &ref)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != want.user {
		t.Errorf("image USER %q, Dockerfile %q", cf.Config.User, want.user)
	}
	if !slices.Equal(cf.Config.Entrypoint, want.entrypoint) {
		t.Errorf("image ENTRYPOINT %q, Dockerfile %q", cf.Config.Entrypoint, want.entrypoint)
	}
	if cf.OS != "linux" {
		t.Errorf("image OS %q", cf.OS)
	}

	files := imageFiles(t, mutate.Extract(img))
	built, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := files[want.binaryPath]
	switch {
	case !ok:
		t.Errorf("the image has no %s (the Dockerfile's COPY destination)", want.binaryPath)
	case !bytes.Equal(got.data, built):
		t.Errorf("%s in the image differs from the binary make build built", want.binaryPath)
	case got.mode&0o111 == 0:
		t.Errorf("%s is not executable (mode %o)", want.binaryPath, got.mode)
	}
	ca, ok := files["/etc/ssl/certs/ca-certificates.crt"]
	if !ok {
		t.Fatal("the image has no /etc/ssl/certs/ca-certificates.crt")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.data) {
		t.Error("the image's CA bundle holds no PEM certificate")
	}
	uid, _, _ := strings.Cut(want.user, ":")
	found := false
	for _, line := range strings.Split(string(files["/etc/passwd"].data), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && f[2] == uid {
			found = true
		}
	}
	if !found {
		t.Errorf("/etc/passwd has no user with uid %s:\n%s", uid, files["/etc/passwd"].data)
	}
	if tmp, ok := files["/tmp"]; !ok || tmp.mode&0o1777 != 0o1777 {
		t.Errorf("/tmp missing or not 1777: %+v", tmp.mode)
	}
}

type imageFile struct {
	data []byte
	mode int64
}

// imageFiles reads the flattened file system of an image.
func imageFiles(t *testing.T, r io.ReadCloser) map[string]imageFile {
	t.Helper()
	defer r.Close()
	out := map[string]imageFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[path.Clean("/"+h.Name)] = imageFile{data: data, mode: h.Mode}
	}
}
