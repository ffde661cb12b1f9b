package framework

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// WaitForWebhook waits until Bulwark serves TLS on the webhook port and the apiserver calls
// it: a server-side dry run of a hostNetwork Pod is denied by the host-network check. It gives
// up when exited delivers (the server stopped) or after timeout.
func (c *Cluster) WaitForWebhook(exited <-chan error, timeout time.Duration) error {
	cs, err := quietClient(c.Config)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(c.WebhookHost, strconv.Itoa(c.WebhookPort))
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("bulwark exited before it was ready: %v", err)
		default:
		}
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only checks that TLS is served
		if err == nil {
			_ = conn.Close()
			err = hostNetworkDenied(cs)
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("webhook not ready after %s: %v", timeout, last)
}

// quietClient is a clientset for cfg that drops warnings: a readiness probe's own warnings are
// not news.
func quietClient(cfg *rest.Config) (kubernetes.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	return kubernetes.NewForConfig(cfg)
}

// hostNetworkDenied is nil when a server-side dry run of a hostNetwork Pod is denied by the
// host-network check: the webhook configuration is active and Bulwark answers.
func hostNetworkDenied(cs kubernetes.Interface) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bulwark-readiness-probe", Namespace: "default"},
		Spec: corev1.PodSpec{
			HostNetwork: true,
			Containers:  []corev1.Container{{Name: "probe", Image: "registry.example.com/probe:1"}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cs.CoreV1().Pods("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case err != nil && strings.Contains(err.Error(), "[host-network]"):
		return nil
	case err == nil:
		return fmt.Errorf("a hostNetwork Pod was admitted: the webhook configuration is not active yet")
	}
	return err
}
