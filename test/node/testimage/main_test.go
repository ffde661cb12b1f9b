package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the test program, built once as hack/image builds it.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "testimage-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "testimage")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building test/node/testimage: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort is a TCP port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// start runs the program with env added to its environment, returns it and its stdout, and
// stops it at the end of the test.
func start(t *testing.T, env []string, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, out
}

// readLine reads len(want) bytes of r and fails unless they are want.
func readLine(t *testing.T, r io.Reader, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
		t.Fatalf("printed %q (%v), want %q", got, err, want)
	}
}

// get waits up to 5s for the server on port to answer GET / and returns the status and body.
func get(t *testing.T, port string) (int, string) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	t.Fatalf("nothing answered on 127.0.0.1:%s: %v", port, last)
	return 0, ""
}

// TestServe: the server answers 200 with its uid, in the mode the images set in their
// environment and as agnhost's `netexec --http-port=N`.
func TestServe(t *testing.T) {
	want := fmt.Sprintf("ok uid=%d\n", os.Getuid())
	for name, run := range map[string]func(port string) (env, args []string){
		"TESTIMAGE_MODE=serve": func(port string) ([]string, []string) {
			return []string{"TESTIMAGE_MODE=serve"}, []string{"--host", "127.0.0.1", "--port", port}
		},
		"netexec": func(port string) ([]string, []string) { // the first argument wins over the image's mode
			return []string{"TESTIMAGE_MODE=pause"}, []string{"netexec", "--http-port=" + port, "--host=127.0.0.1"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			port := freePort(t)
			env, args := run(port)
			start(t, env, args...)
			if code, body := get(t, port); code != http.StatusOK || body != want {
				t.Errorf("GET /: %d %q, want 200 %q", code, body, want)
			}
		})
	}
}

// TestPauseExitsOnSIGTERM: the sandbox's pause exits 0 when the runtime stops it.
func TestPauseExitsOnSIGTERM(t *testing.T) {
	cmd, out := start(t, []string{"TESTIMAGE_MODE=pause"})
	readLine(t, out, "paused until SIGTERM or SIGINT\n") // its handler is in place
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pause did not exit within 5s of SIGTERM")
	}
}

// TestMinerThreads: the miner takes --threads and says how many it burns.
func TestMinerThreads(t *testing.T) {
	_, out := start(t, []string{"TESTIMAGE_MODE=miner"}, "--threads", "2")
	readLine(t, out, "mining on 2 threads\n")
}

// TestWriterServesWhileWriting: on a writable file system the writer writes its file and
// answers 200.
func TestWriterServesWhileWriting(t *testing.T) {
	port := freePort(t)
	file := filepath.Join(t.TempDir(), "data.txt")
	start(t, []string{"TESTIMAGE_MODE=writer"}, "--file", file, "--host", "127.0.0.1", "--port", port)
	if code, body := get(t, port); code != http.StatusOK {
		t.Errorf("GET /: %d %q, want 200", code, body)
	}
	if data, err := os.ReadFile(file); err != nil || len(data) == 0 {
		t.Errorf("the writer wrote nothing to %s: %v", file, err)
	}
}

// TestWriterFailsOnReadOnlyRoot: where the file cannot be written (as on a read-only root
// file system) the writer exits 1 with one line on stderr naming the file.
func TestWriterFailsOnReadOnlyRoot(t *testing.T) {
	// A path under a regular file cannot be written, not even by root (who ignores mode bits).
	parent := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(parent, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(parent, "data.txt")
	cmd := exec.Command(bin, "writer", "--file", target, "--host", "127.0.0.1", "--port", freePort(t))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("writer: %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	msg := strings.TrimSuffix(stderr.String(), "\n")
	if !strings.HasPrefix(msg, "testimage: writing "+target+": ") || strings.Contains(msg, "\n") {
		t.Errorf("stderr %q, want one line naming %s", stderr.String(), target)
	}
}

// TestFetch: fetch prints the status and the body of a server's answer and exits 0; where
// nothing listens it exits 1 with one line on stderr.
func TestFetch(t *testing.T) {
	port := freePort(t)
	start(t, []string{"TESTIMAGE_MODE=serve"}, "--host", "127.0.0.1", "--port", port)
	get(t, port) // it listens
	out, err := exec.Command(bin, "fetch", "http://127.0.0.1:"+port+"/").Output()
	if want := fmt.Sprintf("200 OK\nok uid=%d\n", os.Getuid()); err != nil || string(out) != want {
		t.Errorf("fetch from the server: %v, printed %q, want %q", err, out, want)
	}

	cmd := exec.Command(bin, "fetch", "--timeout", "2s", "http://127.0.0.1:"+freePort(t)+"/")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("fetch where nothing listens: %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	if msg := stderr.String(); !strings.HasPrefix(msg, "testimage: ") || strings.Count(msg, "\n") != 1 {
		t.Errorf("stderr %q, want one line", msg)
	}
}
