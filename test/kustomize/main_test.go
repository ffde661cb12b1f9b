// Package kustomize checks the kustomize install in config/: config/default and the
// config/certmanager overlay render with the real kubectl, hold the objects and permissions
// the contract with the Helm chart names, are accepted by a real kube-apiserver (kubectl apply
// -k, server-side dry run), and render the same install as the chart (helm template, release
// "bulwark" in namespace "bulwark-system").
package kustomize

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

const repoRoot = "../.."

var (
	assets     string // kube-apiserver, etcd, kubectl (and helm, when built)
	kubeconfig string // system:masters on the control plane TestMain starts
)

func TestMain(m *testing.M) {
	framework.Main(m, "kustomize", func(s *framework.Suite) error {
		// A bare control plane: no webhooks, so the apiserver judges the objects alone.
		cp, err := s.StartControlPlane()
		if err != nil {
			return err
		}
		assets = cp.Assets
		kubeconfig, err = s.Kubeconfig(cp)
		return err
	})
}

// kubectl runs the real kubectl in the repository root against the test's control plane and
// returns its standard output and error.
func kubectl(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Dir = repoRoot
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// render is `kubectl kustomize config/<dir>`.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	out, stderr, err := kubectl(t, nil, "kustomize", "config/"+dir)
	if err != nil || strings.TrimSpace(stderr) != "" {
		t.Fatalf("kubectl kustomize config/%s: %v\n%s", dir, err, stderr)
	}
	return []byte(out)
}
