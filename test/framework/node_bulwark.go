package framework

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/server"
)

// NodeBulwark is `bulwark serve` run as a process on the node (the way `make run` wires it),
// registered with URL webhooks on the node's loopback.
type NodeBulwark struct {
	// MetricsURL and ReadyzURL reach its endpoints from this machine.
	MetricsURL, ReadyzURL string

	proc       *nodeProc
	cs         kubernetes.Interface
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
}

// Bulwark ports inside the node's network namespace, where nothing else listens on them.
const (
	nodeWebhookPort = 9443
	nodeMetricsPort = 8080
	nodeProbePort   = 8081
)

// StartBulwark runs binary as `bulwark serve` inside the node with policyDoc (the nsa profile
// when empty) in the ConfigMap bulwark-system/bulwark-policy, registers the webhooks (exempting
// kube-system and bulwark-system) and returns once the apiserver denies a hostNetwork Pod
// through it. Its output goes to logs; Stop ends it with the node.
func (n *Node) StartBulwark(binary, policyDoc string, logs io.Writer, serveArgs ...string) (*NodeBulwark, error) {
	binary, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca, err := certs.NewCA(now, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	serving, err := certs.NewServing(ca, certs.Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}}, now, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	certDir := n.file("bulwark/certs")
	if err := certs.WriteFiles(certDir, map[string][]byte{certs.TLSCertKey: serving.CertPEM, certs.TLSKeyKey: serving.KeyPEM}); err != nil {
		return nil, err
	}
	if policyDoc == "" {
		policyDoc = DefaultPolicy
	}
	if err := CreatePolicyConfigMap(n.Config, policyDoc); err != nil {
		return nil, fmt.Errorf("creating the policy ConfigMap: %w", err)
	}
	args := append([]string{"serve",
		"--policy-configmap", PolicyNamespace + "/" + PolicyConfigMap,
		"--namespace", PolicyNamespace,
		"--kubeconfig", n.InsideKubeconfig,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(nodeWebhookPort),
		"--cert-dir", certDir,
		"--metrics-secure=false",
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(nodeMetricsPort),
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(nodeProbePort),
		"--shutdown-delay=0s",
	}, serveArgs...)
	if logs == nil {
		logs = n.logs
	}
	p, err := n.startLogging(logs, "bulwark", binary, args...)
	if err != nil {
		return nil, err
	}
	b := &NodeBulwark{proc: p}
	if b.cs, err = quietClient(n.Config); err != nil {
		return nil, err
	}
	metrics, err := n.Forward("127.0.0.1:" + strconv.Itoa(nodeMetricsPort))
	if err != nil {
		return nil, err
	}
	probe, err := n.Forward("127.0.0.1:" + strconv.Itoa(nodeProbePort))
	if err != nil {
		return nil, err
	}
	b.MetricsURL = "http://127.0.0.1:" + strconv.Itoa(metrics) + "/metrics"
	b.ReadyzURL = "http://127.0.0.1:" + strconv.Itoa(probe) + "/readyz"

	b.validating, b.mutating = server.WebhookConfigurations(server.WebhookOptions{
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			url := "https://127.0.0.1:" + strconv.Itoa(nodeWebhookPort) + path
			return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca.CertPEM}
		},
		ExemptNamespaces: []string{"kube-system", PolicyNamespace},
	})
	if err := b.SetWebhooks(true); err != nil {
		return nil, err
	}
	return b, nil
}

// SetWebhooks registers Bulwark's webhook configurations and waits until the apiserver calls
// it, or deletes them (on false), so that a run can compare the cluster with and without it.
func (b *NodeBulwark) SetWebhooks(on bool) error {
	ctx := context.Background()
	api := b.cs.AdmissionregistrationV1()
	if !on {
		if err := api.ValidatingWebhookConfigurations().Delete(ctx, b.validating.Name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		return api.MutatingWebhookConfigurations().Delete(ctx, b.mutating.Name, metav1.DeleteOptions{})
	}
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, b.mutating, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, b.validating, metav1.CreateOptions{}); err != nil {
		return err
	}
	return waitDenies(b.cs, b.proc.done, 60*time.Second)
}

// Exited is closed when bulwark has exited.
func (b *NodeBulwark) Exited() <-chan struct{} { return b.proc.done }

// ExitErr is bulwark's exit status once Exited is closed.
func (b *NodeBulwark) ExitErr() error { return b.proc.err }

// Stop ends bulwark with SIGTERM (its graceful shutdown) and waits for it.
func (b *NodeBulwark) Stop() error { return b.proc.stop(30 * time.Second) }

// waitDenies waits until a hostNetwork Pod is denied through the webhook (hostNetworkDenied).
func waitDenies(cs kubernetes.Interface, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("bulwark exited before it was ready")
		default:
		}
		if last = hostNetworkDenied(cs); last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("webhook not ready after %s: %v", timeout, last)
}
