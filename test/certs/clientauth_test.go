package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// TestClientCertificateAuthentication: with --client-ca-file, the webhook serves the real
// kube-apiserver, which presents the client certificate its AdmissionConfiguration names for
// the webhook's address, and refuses every other caller before reading its body: one without
// a certificate, one whose certificate names someone else (HTTP 403 with the reason, counted
// as client_cert), and one whose certificate another CA signed (the handshake fails).
func TestClientCertificateAuthentication(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	clientCA, err := tlscerts.NewCA(now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	apiserverCert, err := framework.ClientCert(clientCA, "bulwark-webhook-client", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	port := framework.FreePortT(t)
	webhookAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// The apiserver picks the kubeconfig user named after the webhook's host:port.
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
users:
- name: %q
  user:
    client-certificate-data: %s
    client-key-data: %s
`, webhookAddr, base64.StdEncoding.EncodeToString(apiserverCert.CertPEM), base64.StdEncoding.EncodeToString(apiserverCert.KeyPEM))
	admissionConfig := `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
`
	for _, plugin := range []string{"ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"} {
		admissionConfig += fmt.Sprintf(`- name: %s
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %s
`, plugin, filepath.Join(dir, "webhook-kubeconfig"))
	}
	caFile := filepath.Join(dir, "client-ca.crt")
	for name, data := range map[string][]byte{
		"webhook-kubeconfig": []byte(kubeconfig), "admission.yaml": []byte(admissionConfig), "client-ca.crt": clientCA.CertPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	c, err := framework.Start(framework.Options{
		WebhookPort:    port,
		APIServerFlags: map[string]string{"admission-control-config-file": filepath.Join(dir, "admission.yaml")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	snap, err := policy.Parse([]byte(framework.DefaultPolicy), "test")
	if err != nil {
		t.Fatal(err)
	}
	var logs framework.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Options{
			RestConfig: c.Config, Host: "127.0.0.1", Port: port, CertDir: c.CertDir, Policy: snap,
			MetricsAddr: "0", ProbeAddr: "0", ShutdownTimeout: 5 * time.Second,
			ClientAuth: &server.ClientAuth{CAFile: caFile, Names: []string{"bulwark-webhook-client"}},
			Log:        newLogger(&logs),
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// Through the apiserver: a hostNetwork pod is denied by Bulwark, so the apiserver's calls,
	// with its certificate, are served.
	before := clientCertRefusals(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "host", Namespace: "default"},
			Spec:       corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}}},
		}
		_, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "denied the request") && strings.Contains(err.Error(), "[host-network]") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the apiserver's calls are not served: create answered %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := clientCertRefusals(t) - before; n != 0 {
		t.Errorf("%v of the apiserver's calls were refused as client_cert", n)
	}

	// Straight to the webhook: only the certificate the CA signed for the allowed name is served.
	roots := x509.NewCertPool()
	servingCA, err := os.ReadFile(filepath.Join(c.CertDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(servingCA)
	otherName, err := framework.ClientCert(clientCA, "someone-else", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := tlscerts.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCAsCert, err := framework.ClientCert(otherCA, "bulwark-webhook-client", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"direct","kind":{"group":"","version":"v1","kind":"Pod"},` +
		`"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","userInfo":{"username":"x"},` +
		`"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"registry.example.com/app:1.0"}]}}}}`)
	post := func(cert *tlscerts.KeyPair) (int, string, error) {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		defer hc.CloseIdleConnections()
		resp, err := hc.Post("https://"+webhookAddr+server.ValidatePath, "application/json", bytes.NewReader(review))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body)), nil
	}
	if code, body, err := post(apiserverCert); err != nil || code != http.StatusOK || !strings.Contains(body, `"uid":"direct"`) {
		t.Errorf("the allowed certificate: %d %q %v, want 200 and an answer for uid direct", code, body, err)
	}
	for _, tc := range []struct {
		name string
		cert *tlscerts.KeyPair
		want string
	}{
		{"no certificate", nil, "Bulwark serves callers with a client certificate only (--client-ca-file), and none was presented"},
		{"another name", otherName, `the client certificate (CN "someone-else") names none of --client-names bulwark-webhook-client`},
	} {
		if code, body, err := post(tc.cert); err != nil || code != http.StatusForbidden || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q %v, want 403 with %q", tc.name, code, body, err, tc.want)
		}
	}
	if _, _, err := post(otherCAsCert); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a certificate of another CA: %v, want a failed handshake", err)
	}
	if n := clientCertRefusals(t) - before; n != 2 {
		t.Errorf("bulwark_admission_refusals_total{reason=client_cert} grew by %v, want 2", n)
	}
}

// clientCertRefusals is bulwark_admission_refusals_total{webhook="validate",reason="client_cert"}
// in the process's registry.
func clientCertRefusals(t *testing.T) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "bulwark_admission_refusals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if l := labels(m); l["reason"] == "client_cert" && l["webhook"] == "validate" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
