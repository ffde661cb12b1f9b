// Command run starts a local control plane (etcd and kube-apiserver) with `bulwark serve`
// wired in as its validating and mutating webhook, and runs in the foreground until
// interrupted. `make run` builds the binaries and calls it.
package main

import (
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
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/run [flags] [-- bulwark serve flags]\n\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if err := run(*binary, *kubeconfig, fs.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run(binary, kubeconfig string, serveArgs []string) error {
	kubeconfig, err := filepath.Abs(kubeconfig)
	if err != nil {
		return err
	}
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("%s: %w (make run builds it)", binary, err)
	}
	// Signals are caught from here on, so an interrupt during start-up still cleans up.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)

	l, err := framework.StartLocal(framework.LocalOptions{
		// A short audit interval, so that what the audit finds shows within seconds; flags
		// given after -- come later and win.
		Binary: binary, Kubeconfig: kubeconfig, ServeArgs: append([]string{"--audit-interval=20s"}, serveArgs...),
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
