// Command scan measures `bulwark scan` over generated manifests as a user runs it: the
// bulwark binary, started once per run on a directory of -n manifests (test/bench's generator:
// every workload kind, Services and ConfigMaps, clean objects and violations), its report
// written to a pipe. It prints, per run, the wall time, the CPU time and the peak RSS of the
// process (getrusage ru_maxrss), then the same as Go benchmark lines that benchstat reads.
//
//	go run ./hack/bench/scan --binary bin/bulwark            # as `make bench` runs it
//	go run ./hack/bench/scan --binary bin/bulwark -o json -runs 10 -n 20000
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/bulwark-k8s/bulwark/test/bench"
)

func main() {
	binary := flag.String("binary", "bin/bulwark", "the bulwark binary to run (make build)")
	n := flag.Int("n", 10000, "number of manifests to generate")
	runs := flag.Int("runs", 5, "number of timed runs (after one warm-up run)")
	format := flag.String("o", "text", "report format passed to bulwark scan: text, json or sarif")
	profile := flag.String("profile", "nsa", "policy profile passed to bulwark scan")
	dir := flag.String("dir", "", "directory for the manifests (default: a temporary directory, removed afterwards)")
	flag.Parse()
	if err := run(*binary, *n, *runs, *format, *profile, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "scan bench:", err)
		os.Exit(1)
	}
}

type result struct {
	wall, user, sys time.Duration
	maxRSS          int64 // bytes
	out             int64 // report bytes
}

func run(binary string, n, runs int, format, profile, dir string) error {
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("%v (build it with `make build`)", err)
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bulwark-scan-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	start := time.Now()
	size, err := bench.GenerateManifests(dir, n)
	if err != nil {
		return err
	}
	fmt.Printf("generated %d manifests (%.1f MiB in %d directories) in %s: %s\n",
		n, float64(size)/(1<<20), (n+bench.ManifestsPerDir-1)/bench.ManifestsPerDir, time.Since(start).Round(time.Millisecond), dir)
	fmt.Printf("command: %s scan --profile %s -o %s %s\n\n", binary, profile, format, dir)

	// One warm-up run, so every timed run finds the files in the page cache.
	if _, err := scanOnce(binary, profile, format, dir); err != nil {
		return err
	}
	var results []result
	fmt.Printf("%-5s %10s %10s %10s %12s %12s\n", "run", "wall", "user", "sys", "peak RSS", "report")
	for i := 1; i <= runs; i++ {
		r, err := scanOnce(binary, profile, format, dir)
		if err != nil {
			return err
		}
		results = append(results, r)
		fmt.Printf("%-5d %10s %10s %10s %9.1f MiB %8.1f MiB\n", i, r.wall.Round(time.Millisecond),
			r.user.Round(time.Millisecond), r.sys.Round(time.Millisecond), mib(r.maxRSS), mib(r.out))
	}
	walls := make([]time.Duration, len(results))
	var peak int64
	for i, r := range results {
		walls[i] = r.wall
		peak = max(peak, r.maxRSS)
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	fmt.Printf("\nmedian wall %s, min %s, max %s; peak RSS %.1f MiB; %.0f manifests/s (median)\n\n",
		walls[len(walls)/2].Round(time.Millisecond), walls[0].Round(time.Millisecond), walls[len(walls)-1].Round(time.Millisecond),
		mib(peak), float64(n)/walls[len(walls)/2].Seconds())

	// Go benchmark lines, for benchstat.
	fmt.Println("goos: linux")
	fmt.Println("pkg: github.com/bulwark-k8s/bulwark/hack/bench/scan")
	for _, r := range results {
		fmt.Printf("BenchmarkScanBinary/manifests=%d/o=%s\t1\t%d ns/op\t%d peak-RSS-B\t%d cpu-ns/op\t%.0f manifests/s\n",
			n, format, r.wall.Nanoseconds(), r.maxRSS, (r.user + r.sys).Nanoseconds(), float64(n)/r.wall.Seconds())
	}
	return nil
}

// scanOnce runs the binary once. Exit status 1 (some object would be denied) is expected.
func scanOnce(binary, profile, format, dir string) (result, error) {
	var stderr bytes.Buffer
	counter := &countWriter{}
	cmd := exec.Command(binary, "scan", "--profile", profile, "-o", format, dir)
	cmd.Stdout, cmd.Stderr = counter, &stderr
	abs, err := filepath.Abs(binary)
	if err == nil {
		cmd.Path = abs
	}
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return result{}, fmt.Errorf("%s: %v: %s", cmd, err, stderr.Bytes())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, errors.New("no rusage for the scan process")
	}
	return result{
		wall:   wall,
		user:   time.Duration(ru.Utime.Nano()),
		sys:    time.Duration(ru.Stime.Nano()),
		maxRSS: ru.Maxrss * 1024, // KiB on Linux
		out:    counter.n,
	}, nil
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countWriter)(nil)

func mib(b int64) float64 { return float64(b) / (1 << 20) }
