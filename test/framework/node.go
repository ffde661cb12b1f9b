package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// NodeOptions configure StartNode.
type NodeOptions struct {
	// Kubeconfig is where the admin kubeconfig (server on 127.0.0.1) is written; empty for
	// the run's directory.
	Kubeconfig string
	// Images are image tarballs (docker-archive or OCI) imported into the node's containerd
	// before the kubelet starts; SandboxImage must be among them.
	Images []string
	// APIServerArgs are extra kube-apiserver flags.
	APIServerArgs []string
	// Logs receives every component's output, each line prefixed with its name; nil for none.
	Logs io.Writer
	// Progress receives one line per step; nil for none.
	Progress io.Writer
}

// Node is a one-node cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kube-proxy, containerd, the kubelet and kube-router, in a network and mount namespace of their
// own, with every process in one cgroup. Pods run for real (runc, CNI bridge), Services route
// (kube-proxy iptables), NetworkPolicies hold (kube-router's firewall: iptables and ipsets), and
// ServiceAccount tokens and kube-root-ca.crt are made by the controller-manager.
type Node struct {
	// Config is an admin client configuration that reaches the apiserver from this process.
	Config *rest.Config
	// Kubeconfig is the admin kubeconfig file for kubectl and helm run on this machine.
	Kubeconfig string
	// InsideKubeconfig is the admin kubeconfig for processes run in the node (StartBulwark),
	// where the apiserver is at NodeIP.
	InsideKubeconfig string
	// Assets is the directory of the control-plane and node binaries.
	Assets string
	// Dir is the run's directory: configuration, state and logs of every component.
	Dir string

	anchor  *anchor
	cgroup  runCgroup
	sysctls map[string]string
	fwds    []*forwarder
	servers []*http.Server
	procs   []*nodeProc
	logs    io.Writer
	hostDir []string // host directories the run created, outermost first; removed when it stops
}

// nodeProc is one component, run in the node's namespaces and cgroup.
type nodeProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// stop sends SIGTERM and waits up to grace for the process to exit; then it kills it, waits,
// and says so.
func (p *nodeProc) stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.name, grace)
	}
}

// cgroupPrefix names the cgroup of every run: /bulwark-node-PID.
const cgroupPrefix = "bulwark-node-"

// StartNode starts a node and returns once it is Ready and the default ServiceAccount exists.
// Stop undoes everything it did, also when it fails part way.
func StartNode(o NodeOptions) (n *Node, err error) {
	say := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	if err := NodeSupported(); err != nil {
		return nil, err
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	hier, _ := cgroupHierarchies()
	if err := reapDeadRuns(hier, cgroupPrefix); err != nil {
		return nil, fmt.Errorf("cleaning up after an earlier run that was killed: %w", err)
	}
	dir, err := os.MkdirTemp("", "bulwark-node-")
	if err != nil {
		return nil, err
	}
	n = &Node{
		Assets: assets, Dir: dir, logs: o.Logs,
		cgroup:  runCgroup{hierarchies: hier, path: "/" + cgroupPrefix + strconv.Itoa(os.Getpid())},
		sysctls: saveSysctls(kernelSettings),
	}
	if n.logs == nil {
		n.logs = io.Discard
	}
	defer func() {
		if err != nil {
			if stopErr := n.Stop(); stopErr != nil {
				err = fmt.Errorf("%w (and stopping: %v)", err, stopErr)
			}
			n = nil
		}
	}()
	start := time.Now()
	state := runState{Owner: os.Getpid(), Cgroup: n.cgroup.path, Sysctls: n.sysctls}
	if err := state.write(dir); err != nil {
		return n, err
	}
	if err := n.cgroup.create(); err != nil {
		return n, err
	}
	if n.anchor, err = startAnchor(); err != nil {
		return n, err
	}
	if err := n.cgroup.join(n.anchor.pid()); err != nil {
		return n, err
	}
	err = n.setUpNamespaces()
	state.HostDirs = n.hostDir
	if werr := state.write(dir); err == nil {
		err = werr
	}
	if err != nil {
		return n, err
	}
	pki, err := newNodePKI()
	if err != nil {
		return n, err
	}
	for rel, content := range nodeFiles(dir, pki, n.cgroup.path) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return n, err
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return n, err
		}
	}
	n.InsideKubeconfig = filepath.Join(dir, "kubeconfig/admin")

	say("starting etcd and kube-apiserver in the node's network namespace (%s)", NodeIP)
	if err := n.startControlPlane(o.APIServerArgs); err != nil {
		return n, err
	}
	port, err := n.Forward(net.JoinHostPort(NodeIP, strconv.Itoa(apiserverPort)))
	if err != nil {
		return n, err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	n.Kubeconfig = o.Kubeconfig
	if n.Kubeconfig == "" {
		n.Kubeconfig = filepath.Join(dir, "kubeconfig/admin-host")
	}
	if err := os.MkdirAll(filepath.Dir(n.Kubeconfig), 0o755); err != nil {
		return n, err
	}
	if err := os.WriteFile(n.Kubeconfig, []byte(pki.kubeconfig(server, "admin")), 0o600); err != nil {
		return n, err
	}
	n.Config = &rest.Config{
		Host: server, BearerToken: pki.tokens["admin"],
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.ca.CertPEM},
		QPS:             50, Burst: 100,
	}
	if err := n.waitAPIServer(60 * time.Second); err != nil {
		return n, err
	}
	say("control plane up in %.1fs; starting containerd", time.Since(start).Seconds())
	if err := n.startContainerd(); err != nil {
		return n, err
	}
	for _, img := range o.Images {
		if err := n.ImportImage(img); err != nil {
			return n, err
		}
	}
	say("starting kube-controller-manager, kube-scheduler, kube-proxy and the kubelet")
	if err := n.startNodeComponents(); err != nil {
		return n, err
	}
	if err := n.waitReady(90 * time.Second); err != nil {
		return n, err
	}
	say("starting kube-router, the NetworkPolicy firewall")
	if err := n.startKubeRouter(60 * time.Second); err != nil {
		return n, err
	}
	say("node %s Ready in %.1fs (pods on %s, Services on %s)", NodeName, time.Since(start).Seconds(), PodCIDR, ServiceCIDR)
	return n, nil
}

// setUpNamespaces gives the node its address on an interface of its own and hides the host
// paths that the kubelet and the CNI plugins write to regardless of configuration under tmpfs
// mounts that exist only in the node's mount namespace.
func (n *Node) setUpNamespaces() error {
	a := n.anchor
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"},
		{"ip", "addr", "add", NodeIP + "/" + strconv.Itoa(nodePrefixLen), "dev", "eth0"},
		{"ip", "link", "set", "eth0-peer", "up"},
		{"ip", "link", "set", "eth0", "up"},
		// A route for the Service range, as a node's default route gives it: without one the
		// apiserver's own connections to a ClusterIP fail before kube-proxy's rules rewrite them.
		{"ip", "route", "add", ServiceCIDR, "dev", "eth0"},
		// Traffic between pods crosses the cni0 bridge without being routed: iptables, and so
		// kube-router's NetworkPolicy rules, see it only with this. The setting belongs to the
		// network namespace (Linux 5.3 and later), so the machine's is left alone.
		{"sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"},
	}
	for _, s := range steps {
		if err := a.run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, p := range []string{"/var/lib/cni", "/var/log/containers", "/var/log/pods", "/run/containerd", "/etc/cni/net.d", "/opt/cni/bin"} {
		created, err := mkdirAllTracked(p)
		n.hostDir = append(n.hostDir, created...)
		if err != nil {
			return err
		}
		if err := a.run("mount", "-t", "tmpfs", "-o", "mode=0755", "bulwark-node", p); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAllTracked creates dir and its missing parents, and returns the directories it created,
// outermost first.
func mkdirAllTracked(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return created, err
		}
		created = append(created, missing[i])
	}
	return created, nil
}

// start runs a component inside the node's namespaces and cgroup, its output to the node's
// logs prefixed with its name and to DIR/logs/NAME.log.
func (n *Node) start(name, binary string, args ...string) (*nodeProc, error) {
	return n.startLogging(n.logs, name, binary, args...)
}

// startLogging is start with the output to logs instead of the node's.
func (n *Node) startLogging(logs io.Writer, name, binary string, args ...string) (*nodeProc, error) {
	if !filepath.IsAbs(binary) {
		binary = filepath.Join(n.Assets, binary)
	}
	if err := os.MkdirAll(filepath.Join(n.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(n.Dir, "logs", name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := n.anchor.command(binary, args...)
	w := io.MultiWriter(logFile, &prefixWriter{prefix: name + ": ", w: logs})
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &nodeProc{name: name, cmd: cmd, done: make(chan struct{})}
	n.procs = append(n.procs, p)
	if err := n.cgroup.join(cmd.Process.Pid); err != nil {
		return p, err
	}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (n *Node) file(rel string) string { return filepath.Join(n.Dir, rel) }

func (n *Node) startControlPlane(extra []string) error {
	if _, err := n.start("etcd", "etcd",
		"--data-dir", n.file("etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "default=http://127.0.0.1:2380", "--listen-metrics-urls", "http://127.0.0.1:2381",
		"--unsafe-no-fsync", "--log-level", "warn",
	); err != nil {
		return err
	}
	args := []string{
		"--etcd-servers", "http://127.0.0.1:2379",
		"--bind-address", "0.0.0.0", "--secure-port", strconv.Itoa(apiserverPort), "--advertise-address", NodeIP,
		"--tls-cert-file", n.file("pki/apiserver.crt"), "--tls-private-key-file", n.file("pki/apiserver.key"),
		"--client-ca-file", n.file("pki/ca.crt"), "--token-auth-file", n.file("pki/tokens.csv"),
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", n.file("pki/sa.pub"), "--service-account-signing-key-file", n.file("pki/sa.key"),
		"--service-cluster-ip-range", ServiceCIDR,
		"--kubelet-client-certificate", n.file("pki/kubelet-client.crt"), "--kubelet-client-key", n.file("pki/kubelet-client.key"),
		"--kubelet-certificate-authority", n.file("pki/ca.crt"),
		"--kubelet-preferred-address-types", "InternalIP",
		"--profiling=false", "--v=0",
	}
	_, err := n.start("kube-apiserver", "kube-apiserver", append(args, extra...)...)
	return err
}

// waitAPIServer waits until /readyz answers ok through the forwarder.
func (n *Node) waitAPIServer(timeout time.Duration) error {
	rt, err := rest.TransportFor(n.Config)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if err := n.exited(); err != nil {
			return err
		}
		resp, err := hc.Get(n.Config.Host + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s: %s (logs in %s)", timeout, last, n.file("logs"))
}

// exited names the first component that is no longer running.
func (n *Node) exited() error {
	for _, p := range n.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v (log: %s)", p.name, p.err, n.file("logs/"+p.name+".log"))
		default:
		}
	}
	return nil
}

func (n *Node) startContainerd() error {
	if _, err := n.start("containerd", "containerd", "--config", n.file("containerd/config.toml")); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := n.exited(); err != nil {
			return err
		}
		if out, err := n.ctr("version"); err == nil && strings.Contains(out, "Server:") {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("containerd did not answer on %s within 30s", containerdSocket(n.Dir))
}

// ctr runs containerd's ctr against the node's containerd, in the k8s.io namespace the CRI
// plugin uses.
func (n *Node) ctr(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(n.Assets, "ctr"), append([]string{"--address", containerdSocket(n.Dir), "--namespace", "k8s.io"}, args...)...)
	// Standard output only: ctr warns on standard error (cgroup v1 is deprecated) on every call.
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// ImportImage imports an image tarball into the node's containerd, where the kubelet finds
// it without a registry (imagePullPolicy IfNotPresent or Never).
func (n *Node) ImportImage(tarball string) error {
	_, err := n.ctr("images", "import", tarball)
	return err
}

func (n *Node) startNodeComponents() error {
	if _, err := n.start("kube-controller-manager", "kube-controller-manager",
		"--kubeconfig", n.file("kubeconfig/controller-manager"),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file", n.file("pki/sa.key"),
		"--root-ca-file", n.file("pki/ca.crt"),
		"--cluster-cidr", PodCIDR, "--service-cluster-ip-range", ServiceCIDR,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--profiling=false",
	); err != nil {
		return err
	}
	if _, err := n.start("kube-scheduler", "kube-scheduler",
		"--kubeconfig", n.file("kubeconfig/scheduler"),
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--profiling=false",
	); err != nil {
		return err
	}
	if _, err := n.start("kube-proxy", "kube-proxy", "--config", n.file("kube-proxy/config.yaml")); err != nil {
		return err
	}
	_, err := n.start("kubelet", "kubelet",
		"--config", n.file("kubelet/config.yaml"),
		"--kubeconfig", n.file("kubeconfig/kubelet"),
		"--root-dir", n.file("kubelet/root"),
		"--cert-dir", n.file("kubelet/pki"),
		"--hostname-override", NodeName, "--node-ip", NodeIP,
	)
	return err
}

// startKubeRouter starts kube-router as the node's NetworkPolicy implementation, its firewall
// only (the CNI bridge connects the pods, kube-proxy serves Services), as admin, and waits until
// its chains are in the node's iptables. It reads the Node object as it starts, so it starts
// once the kubelet has registered the node. Its iptables rules and ipsets are the node's
// network namespace's and go with it.
func (n *Node) startKubeRouter(timeout time.Duration) error {
	if _, err := n.start("kube-router", "kube-router",
		"--kubeconfig="+n.InsideKubeconfig, "--hostname-override="+NodeName,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
		"--enable-ipv4=true", "--enable-ipv6=false", "--service-cluster-ip-range="+ServiceCIDR,
		"--metrics-port=0", "--health-port="+strconv.Itoa(kubeRouterHealthPort),
	); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := n.exited(); err != nil {
			return err
		}
		if n.anchor.run("iptables", "-w", "-S", "KUBE-ROUTER-FORWARD") == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("kube-router made no KUBE-ROUTER-FORWARD chain within %s (log: %s)", timeout, n.file("logs/kube-router.log"))
}

// waitReady waits for the node to be Ready and for the default ServiceAccount and
// kube-root-ca.crt, which every pod needs, to exist.
func (n *Node) waitReady(timeout time.Duration) error {
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	last := "node not registered"
	for time.Now().Before(deadline) {
		if err := n.exited(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last = n.readiness(ctx, cs)
		cancel()
		if last == "" {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("node not ready after %s: %s (logs in %s)", timeout, last, n.file("logs"))
}

// readiness is what the node still lacks, or "".
func (n *Node) readiness(ctx context.Context, cs kubernetes.Interface) string {
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status != corev1.ConditionTrue {
				return "node " + c.Reason + ": " + c.Message
			}
			ready = true
		}
	}
	if !ready {
		return "node has no Ready condition yet"
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "default ServiceAccount: " + err.Error()
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
		return "kube-root-ca.crt: " + err.Error()
	}
	return ""
}

// Forward makes addr, an address inside the node's network namespace, reachable on
// 127.0.0.1 at the port it returns, until Stop.
func (n *Node) Forward(addr string) (int, error) {
	f, err := startForwarder(dialer{nsPath: fmt.Sprintf("/proc/%d/ns/net", n.anchor.pid())}, addr)
	if err != nil {
		return 0, err
	}
	n.fwds = append(n.fwds, f)
	return f.port(), nil
}

// ServeRegistry serves an image registry (h) at RegistryHost inside the node, where
// containerd pulls from it over plain HTTP and pods reach it, until the node stops.
func (n *Node) ServeRegistry(h http.Handler) error {
	ln, err := dialer{nsPath: fmt.Sprintf("/proc/%d/ns/net", n.anchor.pid())}.Listen("tcp", RegistryHost)
	if err != nil {
		return fmt.Errorf("the node's registry: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	n.servers = append(n.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Stop ends every process of the run, removes its cgroups, mounts (with its mount namespace),
// network namespace and files, and writes back the kernel settings the kubelet changed. It
// is safe on a node that failed to start part way.
func (n *Node) Stop() error {
	var errs []error
	for _, f := range n.fwds {
		f.close()
	}
	for _, srv := range n.servers {
		_ = srv.Close()
	}
	// The kubelet first, so that it does not restart what is stopped under it; then the rest
	// gracefully, newest first.
	for i := len(n.procs) - 1; i >= 0; i-- {
		_ = n.procs[i].stop(10 * time.Second) // what outlives SIGTERM is killed with the cgroup below
	}
	if len(n.cgroup.hierarchies) > 0 {
		if err := n.cgroup.killAll(30 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if n.anchor != nil {
		n.anchor.stop()
	}
	if len(n.cgroup.hierarchies) > 0 {
		if err := n.cgroup.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := restoreSysctls(n.sysctls); err != nil {
		errs = append(errs, err)
	}
	for i := len(n.hostDir) - 1; i >= 0; i-- {
		if err := os.Remove(n.hostDir[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if mounts := mountsBelow(n.Dir); len(mounts) > 0 {
		errs = append(errs, fmt.Errorf("mounts left below %s: %v", n.Dir, mounts))
	} else if n.Dir != "" {
		if err := os.RemoveAll(n.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mountsBelow lists the mount points under dir in this process's mount namespace.
func mountsBelow(dir string) []string {
	if dir == "" {
		return nil
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			out = append(out, f[1])
		}
	}
	return out
}

// prefixWriter writes each line with a prefix.
type prefixWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1])); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Kubectl returns the real kubectl run on this machine against the node as admin.
func (n *Node) Kubectl(args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(n.Assets, "kubectl"), append([]string{"--kubeconfig", n.Kubeconfig}, args...)...)
}

// Apply applies a manifest file with kubectl, server side.
func (n *Node) Apply(file string) error {
	out, err := n.Kubectl("apply", "--server-side", "-f", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl apply -f %s: %w: %s", file, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// CgroupPath is the run's cgroup below each v1 hierarchy's root; the kubelet's pods are below
// it (CGROUP/kubepods/...).
func (n *Node) CgroupPath() string { return n.cgroup.path }

// Tasks counts the containers (pod sandboxes included) that containerd runs on the node: the
// kubelet removes a deleted pod's after its API object is gone.
func (n *Node) Tasks() (int, error) {
	out, err := n.ctr("tasks", "ls", "--quiet")
	if err != nil {
		return 0, err
	}
	return len(strings.Fields(out)), nil
}
