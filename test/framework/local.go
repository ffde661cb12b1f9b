package framework

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// LocalOptions configure StartLocal.
type LocalOptions struct {
	// Binary is the bulwark executable to run.
	Binary string
	// Kubeconfig is where the admin kubeconfig for the cluster is written.
	Kubeconfig string
	// ServeArgs are extra flags for bulwark serve.
	ServeArgs []string
	// Policy is the policy document bulwark starts with, stored in the ConfigMap
	// bulwark-system/bulwark-policy and watched from there; empty for the nsa profile.
	Policy string
	// Logs receives bulwark's standard output and error.
	Logs io.Writer
	// Progress receives one line per step; nil for none.
	Progress io.Writer
}

// Local is a control plane with `bulwark serve` running as a separate process, wired in
// through the webhook configurations: what `make run` starts and the end-to-end tests use.
type Local struct {
	*Cluster
	// Kubeconfig is the admin kubeconfig path.
	Kubeconfig string
	// MetricsURL and ReadyzURL are bulwark's metrics and readiness endpoints.
	MetricsURL, ReadyzURL string

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	exitErr error         // its exit status, once done is closed
}

// StartLocal starts etcd, kube-apiserver and bulwark serve, and returns once the apiserver
// sends admission requests to bulwark and bulwark denies as it should.
func StartLocal(o LocalOptions) (*Local, error) {
	say := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	if o.Logs == nil {
		o.Logs = io.Discard
	}
	say("starting etcd and kube-apiserver")
	start := time.Now()
	// The PolicyReport CRD is installed, so that the audit's reports can be seen locally.
	crd, err := RepoFile(PolicyReportCRD)
	if err != nil {
		return nil, err
	}
	c, err := Start(Options{ExemptNamespaces: []string{"kube-system", PolicyNamespace}, CRDs: []string{crd}})
	if err != nil {
		return nil, err
	}
	say("control plane up in %.1fs at %s", time.Since(start).Seconds(), c.Config.Host)
	l := &Local{Cluster: c, Kubeconfig: o.Kubeconfig, done: make(chan struct{})}
	if err := c.WriteKubeconfig(o.Kubeconfig); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("writing %s: %w", o.Kubeconfig, err)
	}
	metricsPort, err := FreePort()
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	probePort, err := FreePort()
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	l.MetricsURL = "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"
	l.ReadyzURL = "http://127.0.0.1:" + strconv.Itoa(probePort) + "/readyz"
	policyDoc := o.Policy
	if policyDoc == "" {
		policyDoc = DefaultPolicy
	}
	if err := CreatePolicyConfigMap(c.Config, policyDoc); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("creating the policy ConfigMap: %w", err)
	}
	args := append([]string{"serve",
		"--policy-configmap", PolicyNamespace + "/" + PolicyConfigMap,
		"--namespace", PolicyNamespace,
		"--kubeconfig", o.Kubeconfig,
		"--bind-address", c.WebhookHost,
		"--port", strconv.Itoa(c.WebhookPort),
		"--cert-dir", c.CertDir,
		// Plain HTTP on loopback, so that MetricsURL needs no token; the chart's default is
		// HTTPS behind the apiserver's authentication and authorization (--metrics-secure).
		"--metrics-secure=false",
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(metricsPort),
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(probePort),
		// Nothing routes to this one process through endpoints: it stops at once when asked.
		"--shutdown-delay=0s",
	}, o.ServeArgs...)
	say("starting %s %v", o.Binary, args)
	l.cmd = exec.Command(o.Binary, args...)
	l.cmd.Stdout, l.cmd.Stderr = o.Logs, o.Logs
	// Its own process group, as envtest does for etcd and kube-apiserver: Ctrl-C reaches the
	// parent only, which then stops bulwark with SIGTERM and waits for it.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("starting bulwark: %w", err)
	}
	exited := make(chan error, 1)
	go func() {
		l.exitErr = l.cmd.Wait()
		exited <- l.exitErr
		close(l.done)
	}()
	if err := c.WaitForWebhook(exited, 60*time.Second); err != nil {
		_ = l.Stop()
		return nil, err
	}
	say("bulwark is serving on https://%s:%d (webhooks validate.bulwark.dev, mutate.bulwark.dev)", c.WebhookHost, c.WebhookPort)
	return l, nil
}

// Exited is closed when bulwark has exited; ExitErr then holds its status.
func (l *Local) Exited() <-chan struct{} { return l.done }

// ExitErr is bulwark's exit status once Exited is closed.
func (l *Local) ExitErr() error { return l.exitErr }

// Stop ends bulwark with SIGTERM (its graceful shutdown), then the control plane.
func (l *Local) Stop() error {
	var errs []error
	if l.cmd != nil && l.cmd.Process != nil {
		_ = l.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-l.done:
			if l.exitErr != nil {
				errs = append(errs, fmt.Errorf("bulwark: %w", l.exitErr))
			}
		case <-time.After(30 * time.Second):
			_ = l.cmd.Process.Kill()
			errs = append(errs, errors.New("bulwark did not stop within 30s of SIGTERM"))
		}
	}
	if err := l.Cluster.Stop(); err != nil {
		errs = append(errs, err)
	}
	_ = os.Remove(l.Kubeconfig)
	return errors.Join(errs...)
}
