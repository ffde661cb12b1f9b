package main

import (
	"errors"
	"io/fs"
	"math"
	"path"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// serveGCPercent is the garbage collector's target for `bulwark serve` unless GOGC is set.
// The webhook keeps a few MB live and allocates about 20 KB per request, so at Go's default of
// 100 the collector runs a dozen times a second at 2,000 req/s, and each time the requests on
// the core wait for it: that is most of the p99 (docs/performance.md, "The latency target").
// At 400 it runs a quarter as often for about 14 MiB more resident memory.
const serveGCPercent = 400

// memoryLimitPercent is the share of the container's memory limit (cgroup v2 memory.max) the
// runtime's soft limit is set to unless GOMEMLIMIT is set: with a larger heap live (a large
// cluster's namespaces), the collector runs as often as it must to stay below it instead of
// the container being killed for the room serveGCPercent asks for.
const memoryLimitPercent = 80

// gcSettings are the collector settings serve runs with, and where each came from.
type gcSettings struct {
	percent         int    // -1 when the collector is off (GOGC=off)
	percentFrom     string // "GOGC" or "default"
	memoryLimit     int64  // bytes; math.MaxInt64 when there is none
	memoryLimitFrom string // "GOMEMLIMIT", the memory.max file it is derived from, or "none"
}

// decideGC works out serve's collector settings: what GOGC and GOMEMLIMIT say when they are set
// (the runtime has applied them already), serveGCPercent and memoryLimitPercent of the cgroup's
// memory.max otherwise. root is the file system holding proc/ and sys/.
func decideGC(getenv func(string) string, root fs.FS) gcSettings {
	s := gcSettings{percent: serveGCPercent, percentFrom: "default", memoryLimit: math.MaxInt64, memoryLimitFrom: "none"}
	if getenv("GOGC") != "" {
		s.percent, s.percentFrom = runtimeGCPercent(), "GOGC"
	}
	if getenv("GOMEMLIMIT") != "" {
		s.memoryLimit, s.memoryLimitFrom = debug.SetMemoryLimit(-1), "GOMEMLIMIT" // -1 only reads it
	} else if limit, file, ok := cgroupMemoryLimit(root); ok {
		s.memoryLimit, s.memoryLimitFrom = limit/100*memoryLimitPercent, file
	}
	return s
}

// runtimeGCPercent is the collector target the runtime runs with (as it parsed GOGC).
func runtimeGCPercent() int {
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 100
	}
	return int(sample[0].Value.Uint64())
}

// apply sets the collector to s; a no-op for what the environment set.
func (s gcSettings) apply() {
	if s.percentFrom == "default" {
		debug.SetGCPercent(s.percent)
	}
	if s.memoryLimitFrom != "GOMEMLIMIT" && s.memoryLimit != math.MaxInt64 {
		debug.SetMemoryLimit(s.memoryLimit)
	}
}

// logValues describe s for the start-up log.
func (s gcSettings) logValues() []any {
	limit := "none"
	if s.memoryLimit != math.MaxInt64 {
		limit = strconv.FormatInt(s.memoryLimit>>20, 10) + "MiB"
	}
	return []any{"gcPercent", s.percent, "gcPercentFrom", s.percentFrom, "memoryLimit", limit, "memoryLimitFrom", s.memoryLimitFrom}
}

// cgroupMemoryLimit is the memory.max of the process's cgroup v2, in bytes, and the file it
// was read from. ok is false without a limit ("max"), on cgroup v1 and outside any cgroup.
// Inside a container /proc/self/cgroup says "0::/" (its own cgroup namespace) and the file is
// sys/fs/cgroup/memory.max; on a host it names the cgroup's path under sys/fs/cgroup. A
// container sharing the host's cgroup namespace sees the host's path there but its own cgroup
// mounted at sys/fs/cgroup, so that is where the file is when the path leads nowhere.
func cgroupMemoryLimit(root fs.FS) (limit int64, file string, ok bool) {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, "", false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rel, found := strings.CutPrefix(line, "0::")
		if !found {
			continue
		}
		file = path.Join("sys/fs/cgroup", strings.TrimSpace(rel), "memory.max")
		v, err := fs.ReadFile(root, file)
		if errors.Is(err, fs.ErrNotExist) {
			file = "sys/fs/cgroup/memory.max"
			v, err = fs.ReadFile(root, file)
		}
		if err != nil {
			return 0, "", false
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
		if err != nil || limit <= 0 { // "max": no limit
			return 0, "", false
		}
		return limit, "/" + file, true
	}
	return 0, "", false
}
