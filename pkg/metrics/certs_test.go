package metrics

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const certMetric = "bulwark_certificate_expiry_timestamp_seconds"

// certPEM returns a PEM certificate valid until notAfter: a CA when isCA, else a serving
// certificate signed by a throwaway CA.
func certPEM(t *testing.T, notAfter time.Time, isCA bool) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "bulwark.bulwark-system.svc"},
		DNSNames:     []string{"bulwark.bulwark-system.svc"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, parentKey := tmpl, key
	if isCA {
		tmpl.Subject = pkix.Name{CommonName: "bulwark-ca"}
		tmpl.DNSNames, tmpl.ExtKeyUsage = nil, nil
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		parent = &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter.Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		parentKey = caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// expiries scrapes reg and returns the certificate metric's values by certificate label.
func expiries(t *testing.T, reg *prometheus.Registry) map[string]int64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]int64{}
	for _, mf := range families {
		if mf.GetName() != certMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge() == nil || len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "certificate" {
				t.Fatalf("unexpected series %v", m)
			}
			got[m.GetLabel()[0].GetValue()] = int64(m.GetGauge().GetValue())
		}
	}
	return got
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes data to path the way a Secret volume or an atomic writer does: a new
// file renamed over the old one.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestCertificateCollector(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	if err := NewCertificateCollector(reg, dir); err != nil {
		t.Fatal(err)
	}
	want := func(w map[string]int64) {
		t.Helper()
		if got := expiries(t, reg); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %v, want %v", certMetric, got, w)
		}
	}

	// No files yet: no series, no error.
	want(map[string]int64{})

	serving := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	ca := time.Now().Add(5 * 365 * 24 * time.Hour).Truncate(time.Second)
	writeFile(t, filepath.Join(dir, "tls.crt"), certPEM(t, serving, false))
	want(map[string]int64{"serving": serving.Unix()})

	// The CA bundle: its first certificate counts, the older CA after it does not.
	older := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	writeFile(t, filepath.Join(dir, "ca.crt"), append(certPEM(t, ca, true), certPEM(t, older, true)...))
	want(map[string]int64{"serving": serving.Unix(), "ca": ca.Unix()})

	// tls.crt as cert-manager and the built-in manager write it: the leaf first, then its CA.
	renewed := time.Now().Add(365 * 24 * time.Hour).Truncate(time.Second)
	replaceFile(t, filepath.Join(dir, "tls.crt"), append(certPEM(t, renewed, false), certPEM(t, ca, true)...))
	want(map[string]int64{"serving": renewed.Unix(), "ca": ca.Unix()})

	// Rewritten in place: a new modification time is enough to parse it again.
	again := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
	path := filepath.Join(dir, "tls.crt")
	writeFile(t, path, certPEM(t, again, false))
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	want(map[string]int64{"serving": again.Unix(), "ca": ca.Unix()})

	// A file that is not a certificate exports no series for it; the other stays.
	writeFile(t, filepath.Join(dir, "ca.crt"), []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
	want(map[string]int64{"serving": again.Unix()})
	replaceFile(t, filepath.Join(dir, "ca.crt"), []byte("not PEM at all"))
	want(map[string]int64{"serving": again.Unix()})

	// Unreadable (a directory in its place), then removed: no series, no error, and a valid
	// file afterwards is picked up again.
	if err := os.Remove(filepath.Join(dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "ca.crt"), 0o700); err != nil {
		t.Fatal(err)
	}
	want(map[string]int64{"serving": again.Unix()})
	if err := os.Remove(filepath.Join(dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	want(map[string]int64{})
	writeFile(t, path, certPEM(t, serving, false))
	want(map[string]int64{"serving": serving.Unix()})
}

// TestCertificateCollectorCache: an unchanged file is not parsed again at every scrape.
func TestCertificateCollectorCache(t *testing.T) {
	dir := t.TempDir()
	c := newCertificateCollector(dir)
	path := filepath.Join(dir, "tls.crt")
	notAfter := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	writeFile(t, path, certPEM(t, notAfter, false))
	if got, ok := c.notAfter("tls.crt"); !ok || !got.Equal(notAfter) {
		t.Fatalf("notAfter = %v, %v; want %v", got, ok, notAfter)
	}
	// Corrupt the cached entry: as long as the file is unchanged, the cache answers.
	entry := c.cache["tls.crt"]
	entry.notAfter = time.Unix(42, 0)
	c.cache["tls.crt"] = entry
	if got, _ := c.notAfter("tls.crt"); got.Unix() != 42 {
		t.Errorf("an unchanged file was parsed again (notAfter %v)", got)
	}
	// Touching the file invalidates the entry.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.notAfter("tls.crt"); !got.Equal(notAfter) {
		t.Errorf("a touched file was not parsed again (notAfter %v)", got)
	}
}

// TestCertificateCollectorRegisteredTwice: a second server in the same process shares the
// collector registered first instead of failing.
func TestCertificateCollectorRegisteredTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, second := t.TempDir(), t.TempDir()
	notAfter := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	writeFile(t, filepath.Join(first, "tls.crt"), certPEM(t, notAfter, false))
	if err := NewCertificateCollector(reg, first); err != nil {
		t.Fatal(err)
	}
	if err := NewCertificateCollector(reg, second); err != nil {
		t.Fatalf("second registration: %v", err)
	}
	if got := expiries(t, reg); !reflect.DeepEqual(got, map[string]int64{"serving": notAfter.Unix()}) {
		t.Errorf("%s = %v", certMetric, got)
	}
}
