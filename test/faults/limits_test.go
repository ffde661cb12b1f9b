package faults

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bulwark-k8s/bulwark/pkg/admission"
)

// TestServedLimits: the real bulwark serve, started with --read-header-timeout=1s, closes a
// connection that sends half a request's headers, refuses TLS 1.1 and TLS 1.2 CBC suites,
// speaks HTTP/1.1 only, and answers an AdmissionReview just under its limit (19 MiB) while
// denying one over it with 413 and the request's uid.
func TestServedLimits(t *testing.T) {
	p := newPKI(t)
	b := startBulwark(t, servingDir(t, p), "--read-header-timeout", "1s")

	t.Run("header timeout", func(t *testing.T) {
		conn, err := tls.Dial("tcp", b.webhook, &tls.Config{RootCAs: p.roots})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // the guard
		_, err = io.Copy(io.Discard, conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("a client sending half a header was not disconnected within 20s (--read-header-timeout=1s)")
		}
		t.Logf("half a header: disconnected after %s (--read-header-timeout=1s)", ms(time.Since(start)))
	})

	t.Run("TLS", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			config *tls.Config
			alert  string
		}{
			{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, "protocol version not supported"},
			{"TLS 1.2 CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			}}, "handshake failure"},
		} {
			tc.config.RootCAs = p.roots
			conn, err := tls.Dial("tcp", b.webhook, tc.config)
			if err == nil {
				st := conn.ConnectionState()
				_ = conn.Close()
				t.Errorf("%s: served (%s, %s)", tc.name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			} else if !strings.Contains(err.Error(), tc.alert) {
				t.Errorf("%s: refused with %q, want the server's alert %q", tc.name, err, tc.alert)
			}
		}
		conn, err := tls.Dial("tcp", b.webhook, &tls.Config{RootCAs: p.roots, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if st := conn.ConnectionState(); st.NegotiatedProtocol != "http/1.1" || st.Version != tls.VersionTLS13 {
			t.Errorf("a client offering h2 and http/1.1 got %q over %s, want http/1.1 over TLS 1.3", st.NegotiatedProtocol, tls.VersionName(st.Version))
		}
	})

	t.Run("body limit", func(t *testing.T) {
		const limit = admission.MaxRequestBytes
		// A hostNetwork Pod padded so that the review is size bytes.
		sized := func(uid string, size int) []byte {
			pad := size - len(review(uid, largeHostNetworkPod(0)))
			return review(uid, largeHostNetworkPod(pad))
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}, Timeout: 60 * time.Second}
		under := sized("under", limit-1024)
		if err := send(c, b.webhook, "/validate", "under", bytes.NewReader(under), wantDenied); err != nil {
			t.Errorf("a review of %d bytes: %v", len(under), err)
		}
		over := sized("over", limit+1)
		err := send(c, b.webhook, "/validate", "over", bytes.NewReader(over), func(r *admissionv1.AdmissionResponse) error {
			if r.Allowed || r.Result == nil || r.Result.Code != http.StatusRequestEntityTooLarge {
				return errors.New("not refused with 413")
			}
			t.Logf("a review of %d bytes: %d %q", len(over), r.Result.Code, r.Result.Message)
			return nil
		})
		if err != nil {
			t.Errorf("a review of %d bytes: %v", len(over), err)
		}
	})
}
