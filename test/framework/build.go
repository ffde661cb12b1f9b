package framework

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildBulwark builds ./cmd/bulwark into dir and returns the executable's path: the binary the
// end-to-end packages run as a separate process, built from the working tree under test.
func BuildBulwark(dir string) (string, error) {
	root, err := RepoFile(".")
	if err != nil {
		return "", err
	}
	binary := filepath.Join(dir, "bulwark")
	build := exec.Command("go", "build", "-o", binary, "./cmd/bulwark")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building bulwark: %v\n%s", err, out)
	}
	return binary, nil
}
