package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// machineState is what a node run could leave behind on the machine, each item by a key:
// processes of the node's programs, mounts, cgroups, network interfaces and namespaces,
// iptables rules and ipsets of the machine's own namespace, kernel settings and host directories.
type machineState map[string]string

// nodePrograms are the process names a node runs.
var nodePrograms = []string{"etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kube-proxy", "kube-router", "kubelet", "containerd", "containerd-shim", "runc", "bulwark", "testimage"}

func snapshotMachine() (machineState, error) {
	s := machineState{}
	// Processes, by name and count; a zombie has ended, only its parent has not reaped it yet
	// (containerd's shims are reaped by PID 1).
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	counts := map[string]int{}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || end < open || strings.HasPrefix(string(b[end+1:]), " Z") {
			continue
		}
		name := string(b[open+1 : end])
		for _, prog := range nodePrograms {
			if strings.HasPrefix(name, prog) {
				counts[name]++
			}
		}
	}
	for name, c := range counts {
		s["process "+name] = fmt.Sprint(c)
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			s["mount "+f[1]] = f[2]
		}
	}
	// Cgroups: every directory two levels below each hierarchy's root.
	for _, pattern := range []string{"/sys/fs/cgroup/*/*/", "/sys/fs/cgroup/*/*/*/"} {
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			s["cgroup "+d] = "present"
		}
	}
	for name, cmd := range map[string][]string{
		"links":    {"ip", "-o", "link", "show"},
		"netns":    {"ip", "netns", "list"},
		"iptables": {"iptables-save"},
		"ipsets":   {"ipset", "list", "-name"},
	} {
		out, err := exec.Command(cmd[0], cmd[1:]...).Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(cmd, " "), err)
		}
		s[name] = normalize(name, string(out))
	}
	for _, k := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
		"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"} {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s["sysctl "+k] = strings.TrimSpace(string(b))
		}
	}
	for _, d := range []string{"/var/lib/cni", "/var/log/containers", "/var/log/pods", "/run/containerd", "/etc/cni/net.d", "/opt/cni/bin", "/run/netns"} {
		entries, err := os.ReadDir(d)
		if err == nil {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			s["dir "+d] = strings.Join(names, " ")
		}
	}
	tmp, _ := filepath.Glob(filepath.Join(os.TempDir(), "bulwark-node-[0-9]*"))
	for _, d := range tmp {
		s["dir "+d] = "present"
	}
	return s, nil
}

// normalize drops what changes without the node: iptables-save's comment lines and counters.
func normalize(name, out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		if name == "iptables" && (strings.HasPrefix(line, "#") || strings.HasPrefix(line, ":")) {
			if strings.HasPrefix(line, ":") {
				line = strings.Fields(line)[0] // a chain, without its packet counters
			} else {
				continue
			}
		}
		if name == "links" {
			// Interface statistics are not part of the line; link state is.
			line = strings.Join(strings.Fields(line), " ")
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// diff lists, one a line, what differs between two snapshots.
func (s machineState) diff(after machineState) string {
	var out []string
	for k, v := range s {
		if w, ok := after[k]; !ok {
			out = append(out, fmt.Sprintf("- %s (%s): gone", k, v))
		} else if w != v {
			out = append(out, fmt.Sprintf("- %s: was %q, now %q", k, v, w))
		}
	}
	for k, v := range after {
		if _, ok := s[k]; !ok {
			out = append(out, fmt.Sprintf("- %s: new (%s)", k, v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
