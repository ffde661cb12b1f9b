package main

import (
	"math"
	"testing"
	"testing/fstest"
)

func TestDecideGC(t *testing.T) {
	const limit256Mi = 256 << 20
	container := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("268435456\n")},
	}
	host := fstest.MapFS{
		"proc/self/cgroup": {Data: []byte("0::/system.slice/bulwark.service\n")},
		"sys/fs/cgroup/system.slice/bulwark.service/memory.max": {Data: []byte("536870912\n")},
	}
	sharedNamespace := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("134217728\n")},
	}
	unlimited := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("max\n")},
	}
	v1 := fstest.MapFS{
		"proc/self/cgroup":                           {Data: []byte("12:memory:/kubepods/pod1/abc\n1:name=systemd:/kubepods/pod1/abc\n")},
		"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("268435456\n")},
	}
	v1Unlimited := fstest.MapFS{
		"proc/self/cgroup": {Data: []byte("12:memory:/kubepods/pod1/abc\n")},
		"sys/fs/cgroup/memory/kubepods/pod1/abc/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
	}
	v1Host := fstest.MapFS{
		"proc/self/cgroup": {Data: []byte("11:cpu,cpuacct:/x\n9:memory,hugetlb:/system.slice/bulwark.service\n")},
		"sys/fs/cgroup/memory/system.slice/bulwark.service/memory.limit_in_bytes": {Data: []byte("536870912\n")},
	}
	noEnv := func(string) string { return "" }
	for _, c := range []struct {
		what      string
		getenv    func(string) string
		root      fstest.MapFS
		percent   int
		from      string
		limit     int64
		limitFrom string
	}{
		{"a container limited to 256Mi", noEnv, container, serveGCPercent, "default", limit256Mi / 100 * 80, "/sys/fs/cgroup/memory.max"},
		{"a systemd service limited to 512Mi", noEnv, host, serveGCPercent, "default", 512 << 20 / 100 * 80, "/sys/fs/cgroup/system.slice/bulwark.service/memory.max"},
		{"a container in the host's cgroup namespace, limited to 128Mi", noEnv, sharedNamespace, serveGCPercent, "default", 128 << 20 / 100 * 80, "/sys/fs/cgroup/memory.max"},
		{"a cgroup without a limit", noEnv, unlimited, serveGCPercent, "default", math.MaxInt64, "none"},
		{"a container on cgroup v1 limited to 256Mi", noEnv, v1, serveGCPercent, "default", limit256Mi / 100 * 80, "/sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{"a systemd service on cgroup v1 limited to 512Mi", noEnv, v1Host, serveGCPercent, "default", 512 << 20 / 100 * 80, "/sys/fs/cgroup/memory/system.slice/bulwark.service/memory.limit_in_bytes"},
		{"cgroup v1 without a limit", noEnv, v1Unlimited, serveGCPercent, "default", math.MaxInt64, "none"},
		{"no /proc", noEnv, fstest.MapFS{}, serveGCPercent, "default", math.MaxInt64, "none"},
	} {
		got := decideGC(c.getenv, c.root)
		if got.percent != c.percent || got.percentFrom != c.from || got.memoryLimit != c.limit || got.memoryLimitFrom != c.limitFrom {
			t.Errorf("%s: %+v, want percent %d from %s, memory limit %d from %s", c.what, got, c.percent, c.from, c.limit, c.limitFrom)
		}
	}

	// What the environment sets is what the runtime runs with (it parsed GOGC and GOMEMLIMIT at
	// start), and apply leaves it alone.
	got := decideGC(func(k string) string { return map[string]string{"GOGC": "150", "GOMEMLIMIT": "100MiB"}[k] }, container)
	if got.percentFrom != "GOGC" || got.memoryLimitFrom != "GOMEMLIMIT" {
		t.Errorf("with GOGC and GOMEMLIMIT set: %+v, want both taken from the environment", got)
	}
}
