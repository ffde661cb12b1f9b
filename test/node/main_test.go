// Package node runs what Bulwark admits: a one-node cluster (kubelet, containerd, runc, CNI
// bridge, kube-proxy) where the Helm chart runs Bulwark from its own image, and workloads it
// mutated must start. Stored objects prove admission; only running pods prove that the
// defaults do not break what they admit and that the limits they inject hold.
package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

var (
	node *framework.Node
	// bulwarkTag is the tag the Bulwark image was imported under.
	bulwarkTag = "bulwark.local/bulwark:node-test"
	// testImages is the tarball of the test images (hack/image testimages).
	testImages string
	// bulwarkBinary is the bulwark binary the image holds, for the CLI's steps.
	bulwarkBinary string
	repoRoot      string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		// A developer's machine without root runs the rest of make test; CI runs as root.
		fmt.Println("test/node: skipped: a node needs root")
		return 0
	}
	if err := framework.NodeSupported(); err != nil {
		fmt.Println("test/node: no node on this machine:", err)
		return 1
	}
	var err error
	if repoRoot, err = framework.RepoFile("."); err != nil {
		fmt.Println(err)
		return 1
	}
	before, err := snapshotMachine()
	if err != nil {
		fmt.Println("reading the machine's state:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "bulwark-node-test-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	images, err := buildImages(dir)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	logs, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer logs.Close()
	node, err = framework.StartNode(framework.NodeOptions{Images: images, Logs: logs, Progress: os.Stdout})
	if err != nil {
		fmt.Println("starting the node:", err)
		return 1
	}
	code := m.Run()
	if err := node.Stop(); err != nil {
		fmt.Println("stopping the node:", err)
		code = 1
	}
	after, err := snapshotMachine()
	if err != nil {
		fmt.Println("reading the machine's state:", err)
		return 1
	}
	if diff := before.diff(after); diff != "" {
		fmt.Println("the node left the machine changed:\n" + diff)
		code = 1
	}
	return code
}

// buildImages builds the bulwark binary statically and packs it and the test images as
// tarballs with hack/image, as `make image` and `make test-images` do.
func buildImages(dir string) ([]string, error) {
	bin := filepath.Join(dir, "bulwark")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/bulwark")
	build.Dir, build.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0") // static, as in the image
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building bulwark: %w: %s", err, out)
	}
	bulwarkBinary = bin
	bulwark, test := filepath.Join(dir, "bulwark.tar"), filepath.Join(dir, "test.tar")
	for _, args := range [][]string{
		{"bulwark", "--binary", bin, "--tag", bulwarkTag, "--out", bulwark},
		{"testimages", "--out", test},
	} {
		cmd := exec.Command("go", append([]string{"run", "./hack/image"}, args...)...)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go run ./hack/image %s: %w: %s", args[0], err, out)
		}
	}
	testImages = test
	return []string{test, bulwark}, nil
}
