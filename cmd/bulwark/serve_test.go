package main

import (
	"strings"
	"testing"
)

// TestServeTLSFlags: the built-in TLS flags are checked before bulwark serve contacts the
// cluster, with a message naming what is missing.
func TestServeTLSFlags(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-secret", "bulwark-tls"}, "--tls-secret needs --namespace (or $POD_NAMESPACE), where the Secret lives and --service-name, the Service the certificate is for"},
		{[]string{"--tls-secret", "bulwark-tls", "--namespace", "bulwark-system"}, "--tls-secret needs --service-name"},
		{[]string{"--tls-secret", "bulwark-tls", "--service-name", "bulwark"}, "--tls-secret needs --namespace"},
		{[]string{"--tls-secret", "bulwark-tls", "--namespace", "bulwark-system", "--service-name", "bulwark", "--webhook-config-name", ""}, "--tls-secret needs --webhook-config-name"},
		{[]string{"--tls-secret", "Bad_Name", "--namespace", "bulwark-system", "--service-name", "bulwark"}, `--tls-secret: Secret name "Bad_Name"`},
		{[]string{"--tls-secret", "bulwark-tls", "--namespace", "bulwark-system", "--service-name", "9bulwark"}, `--tls-secret: Service name "9bulwark"`},
		{[]string{"--leader-elect"}, "--leader-elect needs --namespace (or $POD_NAMESPACE): the Lease bulwark-leader lives there"},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"serve", "--log-level", "error"}, tc.args...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "bulwark serve: "+tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	code, _, errOut := runCLI(t, "", "serve", "--client-names", "kube-apiserver")
	if want := "bulwark serve: --client-names kube-apiserver needs --client-ca-file"; code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("--client-names alone: exit %d, stderr %q, want %q", code, errOut, want)
	}
	code, _, errOut = runCLI(t, "", "serve", "--audit-policy-report-scope", "cluster")
	if want := `bulwark serve: --audit-policy-report-scope "cluster": want resource or namespace`; code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("--audit-policy-report-scope cluster: exit %d, stderr %q, want %q", code, errOut, want)
	}
	_, _, errOut = runCLI(t, "", "serve", "-h")
	for _, flag := range []string{"-client-ca-file string", "-client-names string", "-tls-secret string", "-service-name string", "-webhook-config-name string", `(default "bulwark")`, "-leader-elect", "-audit-policy-report-scope string"} {
		if !strings.Contains(errOut, flag) {
			t.Errorf("serve -h lacks %q", flag)
		}
	}
}
