// Command image packs container images as tarballs that `ctr images import` loads, with
// go-containerregistry and no Docker daemon: the local node has neither a registry to pull
// from nor a daemon to build with, and the images it runs must still be real ones, with the
// users, entrypoints and files the kubelet and runc act on. The layers are reproducible (fixed
// times, sorted entries), so the same inputs give the same digests.
//
//	go run ./hack/image bulwark --binary bin/bulwark --tag bulwark.local/bulwark:dev --out .local/images/bulwark.tar
//	go run ./hack/image testimages --out .local/images/test.tar
//	go run ./hack/image push --tarball .local/images/bulwark.tar --tag bulwark.local/bulwark:dev --to ghcr.io/bulwark-k8s/bulwark:dev
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// CACerts is where Debian's ca-certificates keeps the bundle, and where the image has it.
const CACerts = "/etc/ssl/certs/ca-certificates.crt"

// distrolessEnv is the environment of distroless/static, the Dockerfile's base.
var distrolessEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=" + CACerts}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: image bulwark|testimages|push [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bulwark":
		err = bulwarkCmd(os.Args[2:])
	case "testimages":
		err = testImagesCmd(os.Args[2:])
	case "push":
		err = pushCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want bulwark, testimages or push", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func bulwarkCmd(args []string) error {
	fs := flag.NewFlagSet("bulwark", flag.ExitOnError)
	binary := fs.String("binary", "bin/bulwark", "the static bulwark binary (make build)")
	tag := fs.String("tag", "bulwark.local/bulwark:dev", "the image's name")
	out := fs.String("out", ".local/images/bulwark.tar", "the tarball to write")
	version := fs.String("version", "", "org.opencontainers.image.version (default: the tag's)")
	if err := parse(fs, args); err != nil {
		return err
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return fmt.Errorf("reading the binary: %w (make build makes it)", err)
	}
	ca, err := os.ReadFile(CACerts)
	if err != nil {
		return fmt.Errorf("reading the CA certificates: %w (apt-get install ca-certificates)", err)
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("--tag %q: %w", *tag, err)
	}
	if *version == "" {
		*version = ref.TagStr()
	}
	img, err := build(append(baseFiles(), file{path: "/bulwark", mode: 0o555, data: bin}, file{path: CACerts, mode: 0o644, data: ca}),
		v1.Config{
			Entrypoint: []string{"/bulwark"}, User: "65532:65532", WorkingDir: "/", Env: distrolessEnv,
			Labels: map[string]string{"org.opencontainers.image.version": *version},
		})
	if err != nil {
		return err
	}
	return write(*out, map[string]v1.Image{*tag: img})
}

// pushCmd pushes one image of a tarball to a registry as it is, so that the digest pushed is
// the tarball's: what the tests ran is what is published. Credentials come from the Docker
// configuration (~/.docker/config.json, $DOCKER_CONFIG); a registry on 127.0.0.1 or
// localhost is spoken to over plain HTTP.
func pushCmd(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	tb := fs.String("tarball", ".local/images/bulwark.tar", "the tarball (make image)")
	tag := fs.String("tag", "", "the image's name in the tarball (default: its only image)")
	to := fs.String("to", "", "the reference to push to (registry/repository:tag)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("push: --to is required")
	}
	dst, err := name.NewTag(*to)
	if err != nil {
		return fmt.Errorf("--to %q: %w", *to, err)
	}
	var src *name.Tag
	if *tag != "" {
		t, err := name.NewTag(*tag)
		if err != nil {
			return fmt.Errorf("--tag %q: %w", *tag, err)
		}
		src = &t
	}
	img, err := tarball.ImageFromPath(*tb, src)
	if err != nil {
		return fmt.Errorf("reading %s: %w", *tb, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	if err := remote.Write(dst, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing %s: %w", dst, err)
	}
	fmt.Printf("pushed %s@%s\n", dst, d)
	return nil
}

// parse parses args and refuses arguments left over after the flags.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

// testImage is one image made of the test program: its name, user and mode, and the user's
// lines in /etc/passwd and /etc/group when the base files lack them.
type testImage struct {
	tag, user, mode string
	passwd, group   string
}

// testImages are the images the node's tests and the samples use; prefix is prepended to the
// first ones, the samples' stand-ins keep their names.
func testImages(prefix string) []testImage {
	return []testImage{
		{tag: prefix + "/pause:1", user: "65535", mode: "pause"},
		{tag: prefix + "/miner:1", user: "65534", mode: "miner"},
		{tag: prefix + "/root:1", user: "", mode: "serve"},
		{tag: prefix + "/nonroot:1", user: "65532", mode: "serve"},
		{tag: prefix + "/named-user:1", user: "app", mode: "serve", passwd: "app:x:1000:1000:app:/home/app:/sbin/nologin", group: "app:x:1000:"},
		{tag: prefix + "/writer:1", user: "65532", mode: "writer"},
		{tag: "registry.k8s.io/e2e-test-images/agnhost:2.53", user: "65532", mode: "serve"},
		{tag: "docker.io/nginxinc/nginx-unprivileged:1.27-alpine", user: "101", mode: "serve", passwd: "nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin", group: "nginx:x:101:"},
	}
}

func testImagesCmd(args []string) error {
	fs := flag.NewFlagSet("testimages", flag.ExitOnError)
	out := fs.String("out", ".local/images/test.tar", "the tarball to write")
	prefix := fs.String("prefix", "bulwark.local/test", "the repository prefix of the test images")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "testimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	binPath := filepath.Join(dir, "testimage")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binPath, "./test/node/testimage")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building test/node/testimage: %w: %s", err, out)
	}
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return err
	}
	images := map[string]v1.Image{}
	for _, ti := range testImages(*prefix) {
		files := baseFiles()
		for i, f := range files {
			switch {
			case f.path == "/etc/passwd" && ti.passwd != "":
				files[i].data = append(f.data, ti.passwd+"\n"...)
			case f.path == "/etc/group" && ti.group != "":
				files[i].data = append(f.data, ti.group+"\n"...)
			}
		}
		files = append(files, file{path: "/testimage", mode: 0o555, data: bin})
		if ti.mode == "writer" {
			// Where the writer writes: a directory of the root file system its user owns, as an
			// app that keeps its state there has.
			files = append(files, file{path: "/data", mode: 0o755, dir: true, uid: 65532})
		}
		img, err := build(files, v1.Config{
			Entrypoint: []string{"/testimage"}, User: ti.user, WorkingDir: "/",
			Env: append([]string{"TESTIMAGE_MODE=" + ti.mode}, distrolessEnv[0]),
		})
		if err != nil {
			return fmt.Errorf("%s: %w", ti.tag, err)
		}
		images[ti.tag] = img
	}
	return write(*out, images)
}

// file is one entry of a layer: a regular file, or a directory when data is nil and dir set,
// owned by root or, with uid 65532, by nonroot.
type file struct {
	path string
	mode int64
	data []byte
	dir  bool
	uid  int
}

// baseFiles are what distroless/static gives a static binary: the users root, nobody and
// nonroot (65532) with their groups, and a world-writable /tmp.
func baseFiles() []file {
	return []file{
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{path: "/tmp", mode: 0o1777, dir: true},
		{path: "/home/nonroot", mode: 0o700, dir: true, uid: 65532},
	}
}

// epoch is every entry's time, for reproducible layers.
var epoch = time.Unix(0, 0).UTC()

// layerTar is files as one tar, with their parent directories, sorted by path.
func layerTar(files []file) ([]byte, error) {
	entries := map[string]file{}
	for _, f := range files {
		p := strings.TrimPrefix(filepath.Clean(f.path), "/")
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("/%s is in the image twice", p)
		}
		entries[p] = f
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = file{path: "/" + d, mode: 0o755, dir: true}
			}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := entries[p]
		h := &tar.Header{Name: p, Mode: f.mode, ModTime: epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if f.uid == 65532 {
			h.Uid, h.Gid, h.Uname, h.Gname = 65532, 65532, "nonroot", "nonroot"
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// build is one image of one layer holding files, with cfg, for this machine's architecture.
func build(files []file, cfg v1.Config) (v1.Image, error) {
	data, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: epoch}
	for i := range cf.History {
		cf.History[i].Created = cf.Created
	}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// write writes the images to path as one docker-archive tarball and prints each name with its
// digest.
func write(path string, images map[string]v1.Image) error {
	refs := map[name.Reference]v1.Image{}
	tags := make([]string, 0, len(images))
	for t, img := range images {
		ref, err := name.NewTag(t)
		if err != nil {
			return fmt.Errorf("image name %q: %w", t, err)
		}
		refs[ref] = img
		tags = append(tags, t)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		return errors.Join(fmt.Errorf("writing %s: %w", path, err), os.Remove(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	sort.Strings(tags)
	for _, t := range tags {
		d, err := images[t].Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s %s\n", t, d)
	}
	fmt.Println("wrote", path)
	return nil
}
