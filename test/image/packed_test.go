package image

import (
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bulwark-k8s/bulwark/test/framework"
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
// Dockerfile describes: the same user and entrypoint, the static binary `make build` builds,
// owned by root, at the path the Dockerfile copies it to, the CA certificates, environment and
// the user's passwd and group entries as distroless/static has them, and the same digest
// every time.
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
		t.Errorf("two runs of make image gave different images: %v", digests)
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
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("image platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if cf.Config.WorkingDir != "/" {
		t.Errorf("image WorkingDir %q, want / (distroless/static's)", cf.Config.WorkingDir)
	}
	if v := cf.Config.Labels["org.opencontainers.image.version"]; v != testVersion {
		t.Errorf("image label org.opencontainers.image.version %q, want %q", v, testVersion)
	}

	files := framework.ImageFiles(t, mutate.Extract(img))
	built, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := files[want.binaryPath]
	switch {
	case !ok:
		t.Errorf("the image has no %s (the Dockerfile's COPY destination)", want.binaryPath)
	case !bytes.Equal(got.Data, built):
		t.Errorf("%s in the image differs from the binary make build built", want.binaryPath)
	case got.Mode&0o7777 != 0o555 && got.Mode&0o7777 != 0o755:
		t.Errorf("%s has mode %o, want 555 or 755", want.binaryPath, got.Mode&0o7777)
	case got.UID != 0 || got.GID != 0:
		t.Errorf("%s is owned by %d:%d, want root (0:0) as COPY leaves it", want.binaryPath, got.UID, got.GID)
	}
	if ok {
		f, err := elf.NewFile(bytes.NewReader(got.Data))
		if err != nil {
			t.Fatalf("%s in the image is not an ELF binary: %v", want.binaryPath, err)
		}
		checkStatic(t, want.binaryPath+" in the image", f)
	}

	// The CA bundle distroless/static has, taken from this machine, where SSL_CERT_FILE says.
	const caFile = "/etc/ssl/certs/ca-certificates.crt"
	if !slices.Contains(cf.Config.Env, "SSL_CERT_FILE="+caFile) || !slices.ContainsFunc(cf.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=/") }) {
		t.Errorf("image Env %q, want PATH and SSL_CERT_FILE=%s as distroless/static has", cf.Config.Env, caFile)
	}
	ca, ok := files[caFile]
	if !ok {
		t.Fatalf("the image has no %s", caFile)
	}
	if host, err := os.ReadFile(caFile); err == nil && !bytes.Equal(ca.Data, host) {
		t.Errorf("the image's %s differs from this machine's", caFile)
	}
	n := 0
	for rest := ca.Data; ; n++ {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); b.Type != "CERTIFICATE" || err != nil {
			t.Errorf("%s: PEM block %d (%s) is not a certificate: %v", caFile, n, b.Type, err)
		}
	}
	if n == 0 {
		t.Errorf("%s holds no PEM certificate", caFile)
	}

	// USER uid:gid names a user and a group the image has, as distroless's nonroot.
	uid, gid, _ := strings.Cut(want.user, ":")
	if !hasID(files["/etc/passwd"].Data, uid) {
		t.Errorf("/etc/passwd has no user with uid %s:\n%s", uid, files["/etc/passwd"].Data)
	}
	if gid != "" && !hasID(files["/etc/group"].Data, gid) {
		t.Errorf("/etc/group has no group with gid %s:\n%s", gid, files["/etc/group"].Data)
	}
	if tmp, ok := files["/tmp"]; !ok || tmp.Mode&0o7777 != 0o1777 {
		t.Errorf("/tmp missing or not 1777: %o", tmp.Mode)
	}
}

// hasID: an /etc/passwd or /etc/group has an entry with id in its third field.
func hasID(db []byte, id string) bool {
	for _, line := range strings.Split(string(db), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && f[2] == id {
			return true
		}
	}
	return false
}
