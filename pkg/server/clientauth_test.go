package server

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bulwark-k8s/bulwark/pkg/certs"
)

// TestClientCAsReload: the CA file is read again when it changes; a change that cannot be used
// keeps the CAs in force, and a file that cannot be used at start is an error naming the flag.
func TestClientCAsReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ca.crt")
	now := time.Now()
	first, err := certs.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	second, err := certs.NewCA(now.Add(time.Second), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	trusts := func(pool *x509.CertPool, ca *certs.KeyPair) bool {
		_, err := ca.Cert.Verify(x509.VerifyOptions{Roots: pool})
		return err == nil
	}
	if err := os.WriteFile(file, first.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadClientCAs(file, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if p := c.current(); !trusts(p, first) || trusts(p, second) {
		t.Fatal("the pool read at start is not the file's")
	}
	if err := os.WriteFile(file, second.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if !trusts(c.current(), first) {
		t.Error("the file was read again before caRecheck passed")
	}
	c.checked = time.Time{}
	if p := c.current(); trusts(p, first) || !trusts(p, second) {
		t.Error("the changed file is not in force once due")
	}
	if err := os.WriteFile(file, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.checked = time.Time{}
	if !trusts(c.current(), second) {
		t.Error("a change without certificates replaced the CAs in force")
	}

	for _, tc := range []struct{ name, content, want string }{
		{"missing", "", "--client-ca-file: open " + filepath.Join(dir, "missing")},
		{"garbage", "hello", "--client-ca-file " + filepath.Join(dir, "garbage") + ": no PEM certificate in it"},
	} {
		path := filepath.Join(dir, tc.name)
		if tc.content != "" {
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := loadClientCAs(path, logr.Discard()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
