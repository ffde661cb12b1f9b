package main

import (
	"errors"
	"io/fs"
	"math"
	"path"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
)

// serveGCPercent is the garbage collector's target for `bulwark serve` unless GOGC is set.
// The webhook keeps a few MB live and allocates about 20 KB per request, so at Go's default of
// 100 the collector runs a dozen times a second at 2,000 req/s, and each time the requests on
// the core wait for it: that is most of the p99 (docs/performance.md, "The latency target").
// At 400 it runs a quarter as often for about 14 MiB more resident memory.
const serveGCPercent = 400

// memoryLimitPercent is the share of the container's memory limit (its cgroup's) the
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

// cgroupMemoryLimit is the memory limit of the process's cgroup, in bytes, and the file it was
// read from: memory.max on cgroup v2, memory.limit_in_bytes of the memory controller on v1.
// ok is false without a limit ("max" on v2, a value near 2^63 on v1) and outside any cgroup.
// Inside a container /proc/self/cgroup names "/" (its own cgroup namespace) and the file is at
// the top of sys/fs/cgroup (or of sys/fs/cgroup/memory on v1); on a host it names the cgroup's
// path there. A container sharing the host's cgroup namespace sees the host's path in
// /proc/self/cgroup but its own cgroup mounted at the top, so that is where the file is when
// the path leads nowhere.
func cgroupMemoryLimit(root fs.FS) (limit int64, file string, ok bool) {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, "", false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		// hierarchy-ID:controllers:path; v2 has the ID 0 and no controllers.
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, name string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, name = "sys/fs/cgroup", "memory.max"
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			dir, name = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		file = path.Join(dir, parts[2], name)
		v, err := fs.ReadFile(root, file)
		if errors.Is(err, fs.ErrNotExist) {
			file = path.Join(dir, name)
			v, err = fs.ReadFile(root, file)
		}
		if err != nil {
			return 0, "", false
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
		// "max" (v2) does not parse; v1 says "no limit" with the largest page-aligned value.
		if err != nil || limit <= 0 || limit >= 1<<62 {
			return 0, "", false
		}
		return limit, "/" + file, true
	}
	return 0, "", false
}
