// Package benchproc runs the servers the load benchmarks measure (hack/bench/load,
// hack/bench/peers) as processes, reads their CPU time and memory from /proc, and writes the
// serving certificate they share; and it finds the benchmarks' tools and reads their lists of
// numbers (hack/bench/audit too).
package benchproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// Tools returns dir, or when it is empty the directory hack/tools.sh builds the named tools
// into (the last line it prints), building what is missing.
func Tools(dir string, names ...string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	out, err := exec.Command("hack/tools.sh", names...).Output()
	if err != nil {
		return "", fmt.Errorf("hack/tools.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// Positives reads a comma-separated list of positive numbers; "" is none. An error names the
// item that is not one.
func Positives(list string) ([]int, error) {
	var out []int
	for _, r := range strings.Split(list, ",") {
		if strings.TrimSpace(r) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", r)
		}
		out = append(out, n)
	}
	return out, nil
}

// Process is a server started by Start. A nil Process is no server: its methods measure
// nothing and Stop does nothing, for a run without one (hack/bench/peers' "none").
type Process struct {
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

// Start runs argv with env added to this process's environment, its output to logFile.
func Start(logFile string, env []string, argv []string) (*Process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", strings.Join(argv, " "), err)
	}
	p := &Process{Cmd: cmd, Log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Alive is an error once the process has exited.
func (p *Process) Alive() error {
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return fmt.Errorf("the server logging to %s exited (%v)", p.Log, p.err)
	default:
		return nil
	}
}

// Stop sends SIGTERM and waits for the process to exit; after 30 s it kills it.
func (p *Process) Stop() {
	if p == nil {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// CPUSeconds is the process's user and system time (taskset execs the server, so the pid is
// the server's).
func (p *Process) CPUSeconds() (float64, error) {
	if p == nil {
		return 0, nil
	}
	pid := p.Cmd.Process.Pid
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks, nil
}

// RSS is the process's resident set in MiB; PeakRSS its largest so far (VmHWM).
func (p *Process) RSS() (float64, error)     { return p.procStatus("VmRSS") }
func (p *Process) PeakRSS() (float64, error) { return p.procStatus("VmHWM") }

func (p *Process) procStatus(field string) (float64, error) {
	if p == nil {
		return 0, nil
	}
	return framework.ProcStatusMiB(p.Cmd.Process.Pid, field)
}

// SampleRSS samples the resident set every 100 ms until the returned function is called,
// which returns the largest sample in MiB.
func (p *Process) SampleRSS() func() float64 {
	stop := make(chan struct{})
	result := make(chan float64)
	go func() {
		var peak float64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := p.RSS(); err == nil {
				peak = max(peak, rss)
			}
			select {
			case <-stop:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 { close(stop); return <-result }
}

// FreePorts returns n ports on 127.0.0.1, free and not handed out before.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		var err error
		if ports[i], err = framework.FreePort(); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// WriteCertificates writes an ECDSA P-256 CA and a serving certificate for 127.0.0.1 to dir
// (tls.crt, tls.key, ca.crt), made as built-in TLS makes them (pkg/certs), and returns the
// CA's file and PEM.
func WriteCertificates(dir string) (string, []byte, error) {
	now := time.Now()
	ca, err := certs.NewCA(now, 24*time.Hour)
	if err != nil {
		return "", nil, err
	}
	serving, err := certs.NewServing(ca, certs.Names{DNS: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}, now, 24*time.Hour)
	if err != nil {
		return "", nil, err
	}
	if err := certs.WriteFiles(dir, map[string][]byte{"ca.crt": ca.CertPEM, "tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM}); err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "ca.crt"), ca.CertPEM, nil
}

// Machine names the CPU, the number of CPUs and the Go release, for the results.
func Machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s", model, runtime.NumCPU(), runtime.Version())
}

// WriteJSON writes v to file, indented.
func WriteJSON(file string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}

// SaveProfile fetches a profile of the given length in seconds from a net/http/pprof URL
// (.../debug/pprof/profile, or trace) into file.
func SaveProfile(url string, seconds int, file string) error {
	resp, err := (&http.Client{Timeout: time.Duration(seconds+30) * time.Second}).Get(fmt.Sprintf("%s?seconds=%d", url, seconds))
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile from %s: HTTP %d %v: %s", url, resp.StatusCode, err, data)
	}
	return os.WriteFile(file, data, 0o644)
}
