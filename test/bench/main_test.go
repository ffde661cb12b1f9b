package bench

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestMain removes the generated scan input once every benchmark has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if scanDir != "" {
		_ = os.RemoveAll(scanDir)
	}
	os.Exit(code)
}

func mkdirTemp() (string, error) { return os.MkdirTemp("", "bulwark-bench-scan-") }

// run times fn in a b.Loop with allocations reported, and reports cpu-ns/op beside ns/op:
// the CPU time of the whole process (getrusage: every thread, the garbage collector's
// included) per operation. On a machine that other work shares, ns/op includes the time the
// benchmark waited for a core; cpu-ns/op does not, so it is the steadier figure for comparing
// engines.
func run(b *testing.B, fn func()) {
	b.Helper()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
