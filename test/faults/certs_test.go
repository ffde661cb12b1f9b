package faults

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/certs"
)

// renewals is how many times each test replaces the serving certificate.
const renewals = 3

// TestCertificateRenewalUnderLoad replaces tls.crt and tls.key in the certificate directory of
// the real bulwark serve (a new leaf from the same CA each time) while 8 keep-alive workers
// and 2 workers opening a new connection per request send it AdmissionReviews. Two ways of
// writing them: the kubelet's for a mounted Secret (new files in a new directory, then the
// ..data link renamed onto it) and a plain overwrite of the two files in place (for a while
// the certificate and the key do not match). Every request must be answered correctly, and
// new connections must get the new certificate.
func TestCertificateRenewalUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, dir string, kp *certs.KeyPair)
	}{
		{"kubelet ..data swap", func(t *testing.T, dir string, kp *certs.KeyPair) {
			if err := certs.WriteFiles(dir, map[string][]byte{"tls.crt": kp.CertPEM, "tls.key": kp.KeyPEM}); err != nil {
				t.Fatal(err)
			}
		}},
		{"plain overwrite", func(t *testing.T, dir string, kp *certs.KeyPair) {
			if err := os.WriteFile(filepath.Join(dir, "tls.crt"), kp.CertPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "tls.key"), kp.KeyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			dir := t.TempDir()
			first := p.leaf(t)
			tc.write(t, dir, first)
			b := startBulwark(t, dir)
			if got, err := servedSerial(b.webhook, p.roots); err != nil || got != first.Cert.SerialNumber.Text(16) {
				t.Fatalf("at start, serial %s served (%v), want %s", got, err, first.Cert.SerialNumber.Text(16))
			}

			var running atomic.Bool
			running.Store(true)
			l := startLoad(t, b.webhook, p.roots, 8, 2, running.Load)
			time.Sleep(2 * time.Second)
			for i := range renewals {
				kp := p.leaf(t)
				want := kp.Cert.SerialNumber.Text(16)
				at := time.Now()
				tc.write(t, dir, kp)
				var got string
				var err error
				for deadline := at.Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if got, err = servedSerial(b.webhook, p.roots); err == nil && got == want {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("renewal %d: new connections still get serial %s (%v) 60s after serial %s was written", i+1, got, err, want)
					}
				}
				took := time.Since(at)
				// From then on, every new connection gets the new certificate.
				for range 20 {
					if got, err := servedSerial(b.webhook, p.roots); err != nil || got != want {
						t.Fatalf("renewal %d: a new connection got serial %s (%v) after %s had been served", i+1, got, err, want)
					}
				}
				t.Logf("renewal %d: new connections get serial %s %s after it was written (%d requests answered so far)",
					i+1, want, ms(took), l.ok.Load())
				time.Sleep(time.Second)
			}
			running.Store(false)
			ok, failed, took, errs := l.wait(t, 60*time.Second)
			reloadErrors := strings.Count(b.logs.String(), "error re-reading certificate")
			t.Logf("requests: %d answered correctly, %d failed, over %s (%.0f/s); certificate reads refused while the files were half written: %d",
				ok, failed, ms(took), float64(ok+failed)/took.Seconds(), reloadErrors)
			if failed != 0 {
				t.Errorf("%d of %d requests failed:\n%s", failed, ok+failed, strings.Join(errs, "\n"))
			}
			if ok == 0 {
				t.Error("no request was answered")
			}
		})
	}
}
