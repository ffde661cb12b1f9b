package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeMetricsFlags: bulwark serve refuses, before it contacts the cluster, a metrics
// endpoint without authentication on anything but loopback, a malformed address, and a
// --metrics-cert-dir without its files; each message names the flag and what to do.
func TestServeMetricsFlags(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-secure=false"}, `--metrics-secure=false serves /metrics over plain HTTP to anyone who connects, so --metrics-bind-address must be a loopback address (e.g. 127.0.0.1:8443), not ":8443"`},
		{[]string{"--metrics-secure=false", "--metrics-bind-address", ":8080"}, `must be a loopback address (e.g. 127.0.0.1:8080), not ":8080"`},
		{[]string{"--metrics-secure=false", "--metrics-bind-address", "0.0.0.0:8080"}, `not "0.0.0.0:8080"`},
		{[]string{"--metrics-secure=false", "--metrics-bind-address", "[::]:8080"}, `not "[::]:8080"`},
		{[]string{"--metrics-secure=false", "--metrics-bind-address", "10.1.2.3:8080"}, `not "10.1.2.3:8080"`},
		{[]string{"--metrics-secure=false", "--metrics-bind-address", "metrics.example.com:8080"}, `not "metrics.example.com:8080"`},
		{[]string{"--metrics-bind-address", "8443"}, `--metrics-bind-address "8443": want HOST:PORT, :PORT, or 0 to disable the endpoint`},
		{[]string{"--metrics-cert-dir", empty}, "--metrics-cert-dir: stat " + filepath.Join(empty, "tls.crt") + ": no such file or directory"},
		{[]string{"--metrics-secure=false", "--metrics-bind-address", "127.0.0.1:8080", "--metrics-cert-dir", empty}, "--metrics-cert-dir is the certificate of the HTTPS metrics endpoint: it needs --metrics-secure"},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"serve", "--log-level", "error"}, tc.args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "bulwark serve: --metrics-") || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}

	// A key without its certificate is refused too.
	half := t.TempDir()
	if err := os.WriteFile(filepath.Join(half, "tls.crt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkMetricsFlags(serveFlags{metricsAddr: ":8443", metricsSecure: true, metricsCertDir: half}); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(half, "tls.key")) {
		t.Errorf("a --metrics-cert-dir without tls.key: %v, want an error naming %s", err, filepath.Join(half, "tls.key"))
	}
	if err := os.WriteFile(filepath.Join(half, "tls.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	// What the chart, the kustomize install and the local setup pass is accepted.
	for _, f := range []serveFlags{
		{metricsAddr: ":8443", metricsSecure: true},
		{metricsAddr: ":8443", metricsSecure: true, metricsCertDir: half},
		{metricsAddr: "127.0.0.1:8080"},
		{metricsAddr: "[::1]:8080"},
		{metricsAddr: "localhost:8080"},
		{metricsAddr: "0"},
		{metricsAddr: "0", metricsSecure: true},
	} {
		if err := checkMetricsFlags(f); err != nil {
			t.Errorf("--metrics-bind-address=%s --metrics-secure=%v --metrics-cert-dir=%q refused: %v", f.metricsAddr, f.metricsSecure, f.metricsCertDir, err)
		}
	}

	_, _, errOut := runCLI(t, "", "serve", "-h")
	for _, flag := range []string{"-metrics-bind-address string", `(default ":8443")`, "-metrics-secure", "(default true)", "-metrics-cert-dir string"} {
		if !strings.Contains(errOut, flag) {
			t.Errorf("serve -h lacks %q", flag)
		}
	}
}
