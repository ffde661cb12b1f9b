package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

func buildTestImage(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testimage")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestServeAsAgnhostNetexec: the server takes agnhost's `netexec --http-port=N` and answers 200.
func TestServeAsAgnhostNetexec(t *testing.T) {
	bin := buildTestImage(t)
	port := freePort(t)
	cmd := exec.Command(bin, "netexec", "--http-port="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var last error
	for range 100 {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "ok uid=") {
				t.Fatalf("GET /: %d %q", resp.StatusCode, body)
			}
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the server never answered: %v", last)
}

// TestWriterFailsOnReadOnlyRoot: the writer exits 1 naming the file it could not write.
func TestWriterFailsOnReadOnlyRoot(t *testing.T) {
	bin := buildTestImage(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// root writes through mode bits: a path under a regular file cannot be written by anyone.
		f := filepath.Join(dir, "file")
		_ = os.Chmod(dir, 0o700)
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		dir = f
	}
	target := filepath.Join(dir, "data.txt")
	cmd := exec.Command(bin, "writer", "--file", target, "--port", strconv.Itoa(freePort(t)))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "writing "+target) {
		t.Errorf("the error does not name %s: %s", target, out)
	}
}
