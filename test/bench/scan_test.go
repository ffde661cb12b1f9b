package bench

import (
	"io"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
)

// ScanManifests is how many manifests the scan benchmarks read (the target: 10,000 in
// under 2 s).
const ScanManifests = 10000

var (
	scanOnce sync.Once
	scanDir  string
	scanSize int64
	scanErr  error
)

// scanInput generates the manifests once per test binary, in a directory removed when the
// process exits (b.TempDir belongs to one benchmark, and -count runs them several times).
func scanInput(b *testing.B) string {
	b.Helper()
	scanOnce.Do(func() {
		scanDir, scanErr = mkdirTemp()
		if scanErr == nil {
			scanSize, scanErr = GenerateManifests(scanDir, ScanManifests)
		}
	})
	if scanErr != nil {
		b.Fatal(scanErr)
	}
	return scanDir
}

// BenchmarkScan is `bulwark scan DIR` in process (nsa profile, text report), over
// ScanManifests generated manifests, one op being the whole scan (each object evaluated as
// it is read, as the command does); the steps are measured apart as well, reading every
// document first. The wall time and peak RSS of the real binary come from hack/bench/scan.
func BenchmarkScan(b *testing.B) {
	dir := scanInput(b)
	snap, err := policy.FromProfile(policy.NSA)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	report := func(b *testing.B) {
		b.ReportMetric(float64(ScanManifests)*float64(b.N)/b.Elapsed().Seconds(), "manifests/s")
	}
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(scanSize)
		for b.Loop() {
			// As bulwark scan does: each object evaluated as it is read, its result compacted.
			var results []scan.Result
			if _, err := scan.ReadEach([]string{dir}, nil, func(d *scan.Document) error {
				rs, err := scan.EvaluatePolicy([]*scan.Document{d}, snap, now)
				for i := range rs {
					rs[i].Compact()
				}
				results = append(results, rs...)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if err := scan.WriteText(io.Discard, results); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	docs, err := scan.Read([]string{dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if len(docs) != ScanManifests {
		b.Fatalf("read %d documents, want %d", len(docs), ScanManifests)
	}
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(scanSize)
		for b.Loop() {
			if _, err := scan.Read([]string{dir}, nil); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	results, err := scan.EvaluatePolicy(docs, snap, now)
	if err != nil {
		b.Fatal(err)
	}
	if s := scan.Summarize(results); s.Denied == 0 || s.Warned == 0 || s.Admitted == 0 || s.Skipped == 0 {
		b.Fatalf("the generated manifests should have every decision: %+v", s)
	}
	b.Run("evaluate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := scan.EvaluatePolicy(docs, snap, now); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	for _, w := range []struct {
		name  string
		write func(io.Writer, []scan.Result) error
	}{
		{"text", scan.WriteText},
		{"json", scan.WriteJSON},
		{"sarif", func(w io.Writer, rs []scan.Result) error { return scan.WriteSARIF(w, rs, "bench") }},
	} {
		b.Run("write-"+w.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := w.write(io.Discard, results); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
}
