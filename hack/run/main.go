// Command run starts a local cluster with `bulwark serve` wired in as its validating and
// mutating webhook, and runs in the foreground until interrupted. `make run` builds the
// binaries and calls it. Where the machine can run a node (root, cgroups, the node's
// packages), the cluster is a real one-node cluster whose pods run; elsewhere it is etcd and
// kube-apiserver only, where objects are admitted and stored but nothing runs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

func main() {
	// Its own flag set: controller-runtime registers a global --kubeconfig flag.
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	binary := fs.String("binary", "bin/bulwark", "the bulwark executable")
	kubeconfig := fs.String("kubeconfig", ".local/kubeconfig", "where to write the admin kubeconfig")
	images := fs.String("images", ".local/images/test.tar", "image tarball imported into the node (its pause image and the samples' images)")
	noNode := fs.Bool("no-node", false, "start the admission-only control plane even where a node could run")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/run [flags] [-- bulwark serve flags]\n\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	reason := nodeUnsupported(*noNode)
	need := []string{*binary}
	if reason == "" {
		need = append(need, *images)
	}
	path, err := filepath.Abs(*kubeconfig)
	for _, f := range need {
		if _, statErr := os.Stat(f); err == nil && statErr != nil {
			err = fmt.Errorf("%s: %w (make run builds it)", f, statErr)
		}
	}
	if err == nil {
		// Signals are caught from here on, so an interrupt during start-up still cleans up.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		if reason != "" {
			fmt.Printf("no node: %s; starting the admission-only control plane (objects are stored, no pods run)\n", reason)
			err = run(*binary, path, sig, fs.Args())
		} else {
			err = runNode(*binary, path, *images, sig, fs.Args())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

// nodeUnsupported is why no node runs here, or "".
func nodeUnsupported(off bool) string {
	if off {
		return "--no-node"
	}
	if err := framework.NodeSupported(); err != nil {
		return err.Error()
	}
	return ""
}

// auditArgs gives the audit a short interval, so that what it finds shows within seconds;
// flags given after -- come later and win.
func auditArgs(serveArgs []string) []string {
	return append([]string{"--audit-interval=20s"}, serveArgs...)
}

// run starts the admission-only control plane; kubeconfig is an absolute path.
func run(binary, kubeconfig string, sig <-chan os.Signal, serveArgs []string) error {
	l, err := framework.StartLocal(framework.LocalOptions{
		Binary: binary, Kubeconfig: kubeconfig, ServeArgs: auditArgs(serveArgs),
		Logs: os.Stderr, Progress: os.Stdout,
	})
	if err != nil {
		return err
	}
	kubectl := filepath.Join(l.Assets, "kubectl")
	fmt.Printf(`
Bulwark is running. In another terminal:

  export KUBECONFIG=%[1]s
  alias kubectl=%[2]s
  kubectl apply -f config/samples/workloads/denied-hostnetwork-pod.yaml
  kubectl apply -f config/samples/workloads/admitted-minimal-deployment.yaml
  bin/bulwark scan config/samples/workloads/

The policy is the ConfigMap bulwark-system/bulwark-policy (profile nsa); edit it, or apply one
of config/samples/policies/, and it applies at once (docs/policy.md).

The kubectl above is v1.37.1, built with the control plane. There is no controller-manager
or kubelet: objects are admitted and stored, but no pods run. The ServiceAccount admission
plugin is off, so pods are admitted in any namespace without a ServiceAccount object.
Metrics: %[3]s   Readiness: %[4]s
Press Ctrl-C to stop and clean up.
`, kubeconfig, kubectl, l.MetricsURL, l.ReadyzURL)

	select {
	case s := <-sig:
		fmt.Printf("\n%s: stopping bulwark, kube-apiserver and etcd\n", s)
	case <-l.Exited():
		fmt.Printf("bulwark exited (%v); stopping the control plane\n", l.ExitErr())
	}
	if err := l.Stop(); err != nil {
		return err
	}
	fmt.Println("stopped; removed the control plane's data and", kubeconfig)
	return nil
}

// runNode starts the one-node cluster; kubeconfig is an absolute path.
func runNode(binary, kubeconfig, images string, sig <-chan os.Signal, serveArgs []string) error {
	n, err := framework.StartNode(framework.NodeOptions{Kubeconfig: kubeconfig, Images: []string{images}, Progress: os.Stdout})
	if err != nil {
		return err
	}
	crd, err := framework.RepoFile(framework.PolicyReportCRD)
	if err == nil {
		err = n.Apply(crd)
	}
	var b *framework.NodeBulwark
	if err == nil {
		fmt.Println("starting bulwark serve on the node")
		b, err = n.StartBulwark(binary, "", os.Stderr, auditArgs(serveArgs)...)
	}
	if err != nil {
		return errors.Join(err, n.Stop())
	}
	kubectl := filepath.Join(n.Assets, "kubectl")
	fmt.Printf(`
Bulwark is running on a one-node cluster. In another terminal:

  export KUBECONFIG=%[1]s
  alias kubectl=%[2]s
  kubectl apply -f config/samples/workloads/denied-hostnetwork-pod.yaml
  kubectl apply -f config/samples/workloads/admitted-minimal-deployment.yaml
  kubectl get pods -o wide          # the mutated Deployment's pods, Running
  bin/bulwark scan config/samples/workloads/

The node %[3]s (%[4]s) runs containerd, the kubelet and kube-proxy in a network namespace of
its own; pods get addresses from %[5]s and reach nothing outside the node. Images come from
%[6]s, imported at start (there is no registry): the samples' images are local stand-ins
under the same names.

The policy is the ConfigMap bulwark-system/bulwark-policy (profile nsa); edit it, or apply one
of config/samples/policies/, and it applies at once (docs/policy.md).
Metrics: %[7]s   Readiness: %[8]s   Logs of every component: %[9]s/logs
Press Ctrl-C to stop and clean up.
`, kubeconfig, kubectl, framework.NodeName, framework.NodeIP, framework.PodCIDR, images, b.MetricsURL, b.ReadyzURL, n.Dir)

	select {
	case s := <-sig:
		fmt.Printf("\n%s: stopping bulwark and the node\n", s)
	case <-b.Exited():
		fmt.Printf("bulwark exited (%v); stopping the node\n", b.ExitErr())
	}
	err = errors.Join(b.Stop(), n.Stop())
	_ = os.Remove(kubeconfig)
	if err != nil {
		return err
	}
	fmt.Println("stopped; removed the node's processes, mounts, namespaces, cgroups and data, and", kubeconfig)
	return nil
}
