// Command scan measures `bulwark scan` over generated manifests as a user runs it: the
// bulwark binary, started once per run on a directory of -n manifests (test/bench's generator:
// every workload kind, Services and ConfigMaps, clean objects and violations, one object per
// file), then on one file holding -file-objects such objects as YAML documents separated by
// "---" (what helm template writes for a large application), its report written to a pipe.
// It prints, per run, the wall time, the CPU time and the peak RSS of the process (getrusage
// ru_maxrss), then the same as Go benchmark lines that benchstat reads.
//
//	go run ./hack/bench/scan --binary bin/bulwark            # as `make bench` runs it
//	go run ./hack/bench/scan --binary bin/bulwark -o json -runs 10 -n 20000 -file-objects 40000
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
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-k8s/bulwark/test/bench"
)

func main() {
	binary := flag.String("binary", "bin/bulwark", "the bulwark binary to run (make build)")
	n := flag.Int("n", 10000, "number of manifests to generate into the directory (0: no directory scan)")
	fileObjects := flag.Int("file-objects", 20000, "number of objects to generate into the single file (0: no file scan)")
	runs := flag.Int("runs", 5, "number of timed runs of each scan (after one warm-up run)")
	format := flag.String("o", "text", "report format passed to bulwark scan: text, json or sarif")
	profile := flag.String("profile", "nsa", "policy profile passed to bulwark scan")
	dir := flag.String("dir", "", "directory for the manifests (default: a temporary directory, removed afterwards)")
	file := flag.String("file", "", "path of the single file (default: a file in a temporary directory, removed afterwards)")
	flag.Parse()
	if err := run(*binary, *n, *fileObjects, *runs, *format, *profile, *dir, *file); err != nil {
		fmt.Fprintln(os.Stderr, "scan bench:", err)
		os.Exit(1)
	}
}

type result struct {
	wall, user, sys time.Duration
	maxRSS          int64 // bytes
	out             int64 // report bytes
}

func run(binary string, n, fileObjects, runs int, format, profile, dir, file string) error {
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("%v (build it with `make build`)", err)
	}
	if (n > 0 && dir == "") || (fileObjects > 0 && file == "") {
		tmp, err := os.MkdirTemp("", "bulwark-scan-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if dir == "" {
			dir = filepath.Join(tmp, "manifests")
		}
		if file == "" {
			file = filepath.Join(tmp, "manifests.yaml")
		}
	}
	inputs := []struct {
		n        int
		path     string
		name     string // of the input in the benchmark lines
		generate func(path string, n int) (int64, error)
		describe func(size int64) string
	}{
		{n, dir, "manifests", bench.GenerateManifests, func(size int64) string {
			return fmt.Sprintf("%d manifests (%.1f MiB in %d directories)", n, mib(size), (n+bench.ManifestsPerDir-1)/bench.ManifestsPerDir)
		}},
		{fileObjects, file, "file-objects", bench.GenerateManifestFile, func(size int64) string {
			return fmt.Sprintf("one file of %d objects (%.1f MiB)", fileObjects, mib(size))
		}},
	}
	var lines []string
	for _, in := range inputs {
		if in.n <= 0 {
			continue
		}
		start := time.Now()
		size, err := in.generate(in.path, in.n)
		if err != nil {
			return err
		}
		fmt.Printf("generated %s in %s: %s\n", in.describe(size), time.Since(start).Round(time.Millisecond), in.path)
		l, err := measure(binary, profile, format, in.path, fmt.Sprintf("%s=%d", in.name, in.n), in.n, runs)
		if err != nil {
			return err
		}
		lines = append(lines, l...)
	}

	// Go benchmark lines, for benchstat.
	fmt.Println("goos: linux")
	fmt.Println("pkg: github.com/bulwark-k8s/bulwark/hack/bench/scan")
	fmt.Print(strings.Join(lines, ""))
	return nil
}

// measure scans path runs times and prints each run, then the median; it returns the Go
// benchmark lines of the runs, named by input, for n objects.
func measure(binary, profile, format, path, input string, n, runs int) ([]string, error) {
	fmt.Printf("command: %s scan --profile %s -o %s %s\n\n", binary, profile, format, path)
	// One warm-up run, so every timed run finds the files in the page cache.
	if _, err := scanOnce(binary, profile, format, path); err != nil {
		return nil, err
	}
	var results []result
	fmt.Printf("%-5s %10s %10s %10s %12s %12s\n", "run", "wall", "user", "sys", "peak RSS", "report")
	for i := 1; i <= runs; i++ {
		r, err := scanOnce(binary, profile, format, path)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
		fmt.Printf("%-5d %10s %10s %10s %9.1f MiB %8.1f MiB\n", i, r.wall.Round(time.Millisecond),
			r.user.Round(time.Millisecond), r.sys.Round(time.Millisecond), mib(r.maxRSS), mib(r.out))
	}
	walls := make([]time.Duration, len(results))
	rss := make([]int64, len(results))
	for i, r := range results {
		walls[i], rss[i] = r.wall, r.maxRSS
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
	fmt.Printf("\nmedian wall %s, min %s, max %s; peak RSS median %.1f MiB, max %.1f MiB; %.0f objects/s (median)\n\n",
		walls[len(walls)/2].Round(time.Millisecond), walls[0].Round(time.Millisecond), walls[len(walls)-1].Round(time.Millisecond),
		mib(rss[len(rss)/2]), mib(rss[len(rss)-1]), float64(n)/walls[len(walls)/2].Seconds())
	var lines []string
	for _, r := range results {
		lines = append(lines, fmt.Sprintf("BenchmarkScanBinary/%s/o=%s\t1\t%d ns/op\t%d peak-RSS-B\t%d cpu-ns/op\t%.0f manifests/s\n",
			input, format, r.wall.Nanoseconds(), r.maxRSS, (r.user+r.sys).Nanoseconds(), float64(n)/r.wall.Seconds()))
	}
	return lines, nil
}

// scanOnce runs the binary once. Exit status 1 (some object would be denied) is expected.
func scanOnce(binary, profile, format, path string) (result, error) {
	var stderr bytes.Buffer
	counter := &countWriter{}
	cmd := exec.Command(binary, "scan", "--profile", profile, "-o", format, path)
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
