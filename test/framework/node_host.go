package framework

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What a node run changes on the machine outside its own directory, and how it is put back:
// the kernel settings the kubelet rewrites, a cgroup in every v1 hierarchy that holds every
// process of the run, and the host paths the kubelet and the CNI plugins write to whatever
// their configuration says, hidden under tmpfs mounts in the node's own mount namespace.

// kernelSettings are the sysctls the kubelet sets at start (its "kernel tunables"); the node
// writes back what they were when it stops.
var kernelSettings = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// saveSysctls reads the current values of names; a setting the kernel lacks is left out.
func saveSysctls(names []string) map[string]string {
	saved := map[string]string{}
	for _, n := range names {
		if b, err := os.ReadFile(sysctlPath(n)); err == nil {
			saved[n] = strings.TrimSpace(string(b))
		}
	}
	return saved
}

// restoreSysctls writes back what saveSysctls read, where it changed.
func restoreSysctls(saved map[string]string) error {
	var errs []error
	for n, v := range saved {
		b, err := os.ReadFile(sysctlPath(n))
		if err == nil && strings.TrimSpace(string(b)) == v {
			continue
		}
		if err := os.WriteFile(sysctlPath(n), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s=%s: %w", n, v, err))
		}
	}
	return errors.Join(errs...)
}

// cgroupV1Root is where the v1 hierarchies are mounted.
const cgroupV1Root = "/sys/fs/cgroup"

// cgroupHierarchies lists the mounted cgroup v1 hierarchies (directories under
// /sys/fs/cgroup that are cgroup mounts, by their mount point's base name), or an error naming
// why the node cannot use them: the node runs the kubelet with the cgroupfs driver on v1.
func cgroupHierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != "cgroup" || filepath.Dir(fields[1]) != cgroupV1Root {
			continue
		}
		out = append(out, filepath.Base(fields[1]))
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup v1 hierarchies are mounted under /sys/fs/cgroup")
	}
	for _, need := range []string{"cpu", "memory", "pids"} {
		if !slices.Contains(out, need) && !slices.ContainsFunc(out, func(h string) bool { return slices.Contains(strings.Split(h, ","), need) }) {
			return nil, fmt.Errorf("the cgroup v1 %s controller is not mounted under /sys/fs/cgroup", need)
		}
	}
	return out, nil
}

// runCgroup is one cgroup, by its path below the root, in every v1 hierarchy.
type runCgroup struct {
	hierarchies []string
	path        string // e.g. /bulwark-node-1234
}

// create makes the cgroup in every hierarchy; a cpuset cgroup gets its parent's cpus and mems,
// without which no process can join it.
func (c runCgroup) create() error {
	for _, h := range c.hierarchies {
		dir := filepath.Join(cgroupV1Root, h, c.path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		if strings.Contains(h, "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(cgroupV1Root, h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("initializing %s/%s: %w", dir, f, err)
				}
			}
		}
	}
	return nil
}

// join moves the process pid into the cgroup in every hierarchy.
func (c runCgroup) join(pid int) error {
	for _, h := range c.hierarchies {
		f := filepath.Join(cgroupV1Root, h, c.path, "cgroup.procs")
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("moving process %d into %s: %w", pid, f, err)
		}
	}
	return nil
}

// pids lists every process in the cgroup and below it, as one hierarchy sees them.
func (c runCgroup) pids(h string) []int {
	var out []int
	_ = filepath.WalkDir(filepath.Join(cgroupV1Root, h, c.path), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
		return nil
	})
	return out
}

// killAll sends SIGKILL to every process in the cgroup tree until none is left: the
// containers, their shims (which outlive containerd by design) and whatever else the run
// started.
func (c runCgroup) killAll(timeout time.Duration) error {
	h := c.hierarchies[0]
	for _, cand := range c.hierarchies {
		if cand == "pids" {
			h = cand
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		pids := c.pids(h)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v are still in cgroup %s after SIGKILL", pids, c.path)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// remove deletes the cgroup and every cgroup below it (the kubelet's kubepods tree), deepest
// first, in every hierarchy, and in the cgroup v2 hierarchy that hybrid machines mount at
// unified/, where runc creates the containers' cgroups too.
func (c runCgroup) remove() error {
	var errs []error
	for _, h := range append(slices.Clone(c.hierarchies), "unified") {
		root := filepath.Join(cgroupV1Root, h, c.path)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			// A cgroup just emptied can be busy for a moment.
			var err error
			for range 50 {
				if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// staleRunCgroups lists the cgroups of earlier runs (named prefix*) that no process is in any
// more: what a run killed with SIGKILL left behind, removed by the next one.
func staleRunCgroups(hierarchies []string, prefix string) []runCgroup {
	var out []runCgroup
	seen := map[string]bool{}
	v1, _ := os.ReadDir(filepath.Join(cgroupV1Root, hierarchies[0]))
	v2, _ := os.ReadDir(filepath.Join(cgroupV1Root, "unified"))
	for _, e := range append(v1, v2...) {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) || seen[e.Name()] {
			continue
		}
		seen[e.Name()] = true
		c := runCgroup{hierarchies: hierarchies, path: "/" + e.Name()}
		busy := false
		for _, h := range hierarchies {
			busy = busy || len(c.pids(h)) > 0
		}
		if !busy {
			out = append(out, c)
		}
	}
	return out
}

// missingNodePackages names the commands and files from Debian's packages that the node needs
// and this machine lacks (hack/node-packages.sh installs them).
func missingNodePackages() []string {
	var missing []string
	for _, c := range []string{"runc", "iptables", "nsenter", "unshare", "ip"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, p)); err != nil {
			missing = append(missing, filepath.Join(CNIBinDir, p))
		}
	}
	return missing
}

// NodeSupported reports, in one line, why this machine cannot run a node, or nil when it can:
// the node needs root, cgroup v1 hierarchies, the node binaries hack/tools.sh builds and the
// packages hack/node-packages.sh installs.
func NodeSupported() error {
	if os.Geteuid() != 0 {
		return errors.New("a node needs root (network and mount namespaces, cgroups)")
	}
	if _, err := cgroupHierarchies(); err != nil {
		return err
	}
	if m := missingNodePackages(); len(m) > 0 {
		return fmt.Errorf("missing %s: run hack/node-packages.sh", strings.Join(m, ", "))
	}
	dir, err := AssetsDir()
	if err != nil {
		return err
	}
	for _, b := range nodeBinaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("%s not found in %s: run hack/tools.sh node", b, dir)
		}
	}
	return nil
}
