package framework

import (
	"bufio"
	"encoding/json"
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

// runState is what a run records in its directory (state.json) as it changes the machine, so
// that a later run can undo it when this one was killed before its Stop: the process that
// owns the run, its cgroup, the kernel settings as they were, the host directories it made.
type runState struct {
	Owner    int               `json:"owner"`
	Cgroup   string            `json:"cgroup"`
	Sysctls  map[string]string `json:"sysctls"`
	HostDirs []string          `json:"hostDirs"`
}

const runStateFile = "state.json"

func (s runState) write(dir string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, runStateFile), b, 0o600)
}

// alive reports whether the process pid exists.
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// reapDeadRuns undoes what earlier runs whose owner is gone left behind: it kills the
// processes in their cgroups (containers and containerd's shims outlive everything else),
// removes the cgroups, writes back the kernel settings they saved, and removes the host
// directories they made and their own directory. A run that is alive is left alone.
func reapDeadRuns(hierarchies []string, prefix string) error {
	var errs []error
	states, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*", runStateFile))
	for _, f := range states {
		b, err := os.ReadFile(f)
		var st runState
		if err != nil || json.Unmarshal(b, &st) != nil || alive(st.Owner) {
			continue
		}
		cg := runCgroup{hierarchies: hierarchies, path: st.Cgroup}
		if err := cg.killAll(30 * time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, cg.remove(), restoreSysctls(st.Sysctls))
		for i := len(st.HostDirs) - 1; i >= 0; i-- {
			_ = os.Remove(st.HostDirs[i])
		}
		dir := filepath.Dir(f)
		if len(mountsBelow(dir)) == 0 {
			errs = append(errs, os.RemoveAll(dir))
		}
	}
	// Cgroups of runs that left no state: named after their owner's process ID.
	v1, _ := os.ReadDir(filepath.Join(cgroupV1Root, hierarchies[0]))
	v2, _ := os.ReadDir(filepath.Join(cgroupV1Root, "unified"))
	for _, e := range append(v1, v2...) {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), prefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) || err != nil || alive(pid) {
			continue
		}
		cg := runCgroup{hierarchies: hierarchies, path: "/" + e.Name()}
		if err := cg.killAll(30 * time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, cg.remove())
	}
	return errors.Join(errs...)
}

// missingNodePackages names the commands and files from Debian's packages that the node needs
// and this machine lacks (hack/node-packages.sh installs them).
func missingNodePackages() []string {
	var missing []string
	for _, c := range []string{"runc", "iptables", "ipset", "nsenter", "unshare", "ip"} {
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
