package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/admission"
	"github.com/bulwark-k8s/bulwark/pkg/certs"
)

// testServer is a WebhookServer on a free port of 127.0.0.1 with a certificate from its own
// CA, running until the test ends (or stop is called).
type testServer struct {
	t      *testing.T
	s      *WebhookServer
	addr   string
	roots  *x509.CertPool
	stop   context.CancelFunc
	exited chan error
}

func startTestServer(t *testing.T, o WebhookServerOptions, hooks map[string]http.Handler) *testServer {
	t.Helper()
	now := time.Now()
	ca, err := certs.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.NewServing(ca, certs.Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	o.Host, o.Port, o.CertDir = "127.0.0.1", 0, t.TempDir()
	if err := certs.WriteFiles(o.CertDir, map[string][]byte{"tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	s := NewWebhookServer(o)
	for path, h := range hooks {
		s.Register(path, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, s: s, roots: x509.NewCertPool(), stop: cancel, exited: make(chan error, 1)}
	ts.roots.AddCert(ca.Cert)
	go func() { ts.exited <- s.Start(ctx) }()
	check := s.StartedChecker()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := check(nil); err == nil {
			break
		} else if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the webhook server is not ready after 20s: %v", err)
		}
	}
	ts.addr = s.Addr()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.exited:
			if err != nil {
				t.Errorf("the webhook server's Start returned: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the webhook server did not stop within 30s")
		}
		ts.exited <- nil // for a second reader
	})
	return ts
}

// client is an HTTPS client trusting the server's CA; http2 offers h2 in ALPN.
func (ts *testServer) client(http2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.roots}, ForceAttemptHTTP2: http2}
	ts.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// review is a v1 AdmissionReview of a CREATE of pod (raw JSON) with uid.
func review(t *testing.T, uid string, pod []byte) []byte {
	t.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      "p",
			Namespace: "default", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: pod},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

const smallPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"app","image":"registry.example.com/app:1"}]}}`

// post sends body to path and decodes the AdmissionReview answered.
func (ts *testServer) post(c *http.Client, path string, body []byte) (*http.Response, *admissionv1.AdmissionReview, error) {
	resp, err := c.Post("https://"+ts.addr+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, err
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil {
		return resp, nil, fmt.Errorf("answer to %s is no AdmissionReview (%v): %.200s", path, err, data)
	}
	if out.Response == nil {
		return resp, nil, fmt.Errorf("answer to %s has no response: %.200s", path, data)
	}
	return resp, &out, nil
}

// allow admits everything and notes the size of the object it saw.
type allow struct{ lastSize atomic.Int64 }

func (a *allow) Handle(_ context.Context, req cradmission.Request) cradmission.Response {
	a.lastSize.Store(int64(len(req.Object.Raw)))
	return cradmission.Allowed("")
}

// TestWebhookServerReadHeaderTimeout: a client that opens a connection and sends half a
// request's headers, or nothing at all (not even the TLS handshake), is disconnected once the
// header timeout passes, and the server goes on answering others.
func TestWebhookServerReadHeaderTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	ts := startTestServer(t, WebhookServerOptions{ReadHeaderTimeout: timeout}, map[string]http.Handler{
		"/allow": &webhook.Admission{Handler: &allow{}},
	})
	for _, tc := range []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"half a header after the TLS handshake", func() (net.Conn, error) {
			conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, NextProtos: []string{"http/1.1"}})
			if err != nil {
				return nil, err
			}
			_, err = io.WriteString(conn, "POST /allow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
			return conn, err
		}},
		{"no TLS handshake", func() (net.Conn, error) { return net.Dial("tcp", ts.addr) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			conn, err := tc.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The guard: far beyond the header timeout.
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server kept the connection open for 20s (header timeout %s)", timeout)
			}
			t.Logf("disconnected after %s (header timeout %s), %d bytes read, %v", time.Since(start).Round(time.Millisecond), timeout, n, err)
		})
	}
	if _, got, err := ts.post(ts.client(false), "/allow", review(t, "after", []byte(smallPod))); err != nil || !got.Response.Allowed {
		t.Fatalf("after the slow clients: %v %+v", err, got)
	}
}

// TestWebhookServerTLS: TLS 1.1 and TLS 1.2 CBC suites are refused; TLS 1.2 with AES-GCM or
// ChaCha20 and TLS 1.3 are served; HTTP/2 is negotiated only when enabled.
func TestWebhookServerTLS(t *testing.T) {
	hooks := map[string]http.Handler{"/allow": &webhook.Admission{Handler: &allow{}}}
	h1 := startTestServer(t, WebhookServerOptions{TLSOpts: []func(*tls.Config){TLSConfig(false)}}, hooks)
	dial := func(ts *testServer, c *tls.Config) (tls.ConnectionState, error) {
		c.RootCAs = ts.roots
		conn, err := tls.Dial("tcp", ts.addr, c)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.ConnectionState(), nil
	}
	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	}
	for _, tc := range []struct {
		name   string
		config *tls.Config
		alert  string // the server's TLS alert
	}{
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, "remote error: tls: protocol version not supported"},
		{"TLS 1.0", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, "remote error: tls: protocol version not supported"},
		{"TLS 1.2 with CBC or RSA key exchange only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}, "remote error: tls: handshake failure"},
	} {
		t.Run("refused "+tc.name, func(t *testing.T) {
			st, err := dial(h1, tc.config)
			if err == nil {
				t.Fatalf("handshake succeeded: version %s, suite %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			}
			if !strings.Contains(err.Error(), tc.alert) {
				t.Fatalf("refused with %q, want the server's alert %q", err, tc.alert)
			}
		})
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		t.Run("served TLS 1.2 "+tls.CipherSuiteName(suite), func(t *testing.T) {
			st, err := dial(h1, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != tls.VersionTLS12 || st.CipherSuite != suite {
				t.Fatalf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
	t.Run("served TLS 1.3", func(t *testing.T) {
		st, err := dial(h1, &tls.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != tls.VersionTLS13 {
			t.Fatalf("negotiated %s", tls.VersionName(st.Version))
		}
	})
	t.Run("HTTP/1.1 only by default", func(t *testing.T) {
		st, err := dial(h1, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if st.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("ALPN negotiated %q, want http/1.1", st.NegotiatedProtocol)
		}
		if _, err := dial(h1, &tls.Config{NextProtos: []string{"h2"}}); err == nil {
			t.Fatal("a client offering only h2 was served")
		}
		resp, got, err := h1.post(h1.client(true), "/allow", review(t, "h1", []byte(smallPod)))
		if err != nil || resp.ProtoMajor != 1 || !got.Response.Allowed {
			t.Fatalf("request from a client offering h2: %v, %v", err, resp)
		}
	})
	t.Run("HTTP/2 when enabled", func(t *testing.T) {
		h2 := startTestServer(t, WebhookServerOptions{TLSOpts: []func(*tls.Config){TLSConfig(true)}}, hooks)
		st, err := dial(h2, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if st.NegotiatedProtocol != "h2" {
			t.Fatalf("ALPN negotiated %q, want h2", st.NegotiatedProtocol)
		}
		resp, got, err := h2.post(h2.client(true), "/allow", review(t, "h2", []byte(smallPod)))
		if err != nil || resp.ProtoMajor != 2 || !got.Response.Allowed || got.Response.UID != "h2" {
			t.Fatalf("HTTP/2 request: %v, %v, %+v", err, resp, got)
		}
	})
}

// counter reads a counter of controller-runtime's registry; labels select the series.
func counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return value(m)
		}
		return 0
	}
	t.Fatalf("no metric family %s in controller-runtime's registry", name)
	return 0
}

func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// wrappers serve an admission handler over HTTP: as bulwark serve registers its handlers
// (admission.HTTP) and as controller-runtime does (webhook.Admission), each with its body
// limit and whether a refusal over it carries the request's uid.
var wrappers = []struct {
	name     string
	wrap     func(cradmission.Handler) http.Handler
	limit    int
	keepsUID bool
}{
	{"admission.HTTP", func(h cradmission.Handler) http.Handler {
		return admission.NewHTTP(h, logDiscard(), admission.HTTPOptions{})
	}, admission.MaxRequestBytes, true},
	{"webhook.Admission", func(h cradmission.Handler) http.Handler { return &webhook.Admission{Handler: h} }, 7 * 1024 * 1024, false},
}

// TestWebhookServerPanic: a handler that panics is answered with a 500 in the AdmissionReview
// (with the request's UID), controller_runtime_webhook_panics_total and the request metrics
// count it, and the server keeps answering, on the same connection too.
func TestWebhookServerPanic(t *testing.T) {
	for _, w := range wrappers {
		t.Run(w.name, func(t *testing.T) {
			ts := startTestServer(t, WebhookServerOptions{TLSOpts: []func(*tls.Config){TLSConfig(false)}}, map[string]http.Handler{
				"/panic": w.wrap(cradmission.HandlerFunc(func(context.Context, cradmission.Request) cradmission.Response {
					var m map[string]int
					m["boom"]++ // a nil map write: a real runtime panic
					return cradmission.Allowed("")
				})),
				"/allow": w.wrap(&allow{}),
			})
			panics := counter(t, "controller_runtime_webhook_panics_total", nil)
			requests := counter(t, "controller_runtime_webhook_requests_total", map[string]string{"webhook": "/panic", "code": "200"})
			latency := histogramCount(t, "controller_runtime_webhook_latency_seconds", "/panic")
			c := ts.client(false)
			for i := range 3 {
				uid := fmt.Sprintf("panic-%d", i)
				resp, got, err := ts.post(c, "/panic", review(t, uid, []byte(smallPod)))
				if err != nil {
					t.Fatal(err)
				}
				r := got.Response
				if resp.StatusCode != http.StatusOK || r.Allowed || r.Result == nil || r.Result.Code != http.StatusInternalServerError || string(r.UID) != uid {
					t.Fatalf("answer to a panicking handler: HTTP %d, %+v", resp.StatusCode, r)
				}
				if !strings.Contains(r.Result.Message, "panic") {
					t.Errorf("message %q does not say the handler panicked", r.Result.Message)
				}
				if _, got, err := ts.post(c, "/allow", review(t, "ok", []byte(smallPod))); err != nil || !got.Response.Allowed {
					t.Fatalf("after a panic: %v %+v", err, got)
				}
			}
			if d := counter(t, "controller_runtime_webhook_panics_total", nil) - panics; d != 3 {
				t.Errorf("controller_runtime_webhook_panics_total rose by %v, want 3", d)
			}
			if d := counter(t, "controller_runtime_webhook_requests_total", map[string]string{"webhook": "/panic", "code": "200"}) - requests; d != 3 {
				t.Errorf(`controller_runtime_webhook_requests_total{webhook="/panic",code="200"} rose by %v, want 3`, d)
			}
			if d := histogramCount(t, "controller_runtime_webhook_latency_seconds", "/panic") - latency; d != 3 {
				t.Errorf(`controller_runtime_webhook_latency_seconds{webhook="/panic"} counted %d more, want 3`, d)
			}
			if n := counter(t, "controller_runtime_webhook_requests_in_flight", map[string]string{"webhook": "/panic"}); n != 0 {
				t.Errorf("controller_runtime_webhook_requests_in_flight{webhook=\"/panic\"} = %v after the requests", n)
			}
		})
	}
}

// histogramCount is the sample count of a histogram of controller-runtime's registry, for the
// series labelled webhook=hook.
func histogramCount(t *testing.T, name, hook string) uint64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "webhook" && l.GetValue() == hook {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
		return 0
	}
	return 0 // no series yet: a histogram family appears with its first observation
}

// TestWebhookServerBodyLimit: the body limit is the AdmissionReview handler's (19 MiB for
// Bulwark's, the largest review an apiserver sends; 7 MiB for controller-runtime's): a review
// just under it is read whole and handled, one over it is answered 413, by Bulwark's with the
// request's uid; the server's read timeout and header limit do not get in the way.
func TestWebhookServerBodyLimit(t *testing.T) {
	// A Pod with a large annotation, padded so that the whole review is size bytes.
	pod := func(size int) []byte {
		base := review(t, "size", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"a":""}},"spec":{"containers":[{"name":"app","image":"registry.example.com/app:1"}]}}`))
		pad := size - len(base)
		return review(t, "size", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"a":"`+strings.Repeat("x", pad)+`"}},"spec":{"containers":[{"name":"app","image":"registry.example.com/app:1"}]}}`))
	}
	for _, w := range wrappers {
		t.Run(w.name, func(t *testing.T) {
			limit := w.limit
			under, over := pod(limit-1024), pod(limit+1)
			if len(under) != limit-1024 || len(over) != limit+1 {
				t.Fatalf("built reviews of %d and %d bytes, want %d and %d", len(under), len(over), limit-1024, limit+1)
			}
			a := &allow{}
			ts := startTestServer(t, WebhookServerOptions{TLSOpts: []func(*tls.Config){TLSConfig(false)}}, map[string]http.Handler{
				"/allow": w.wrap(a),
			})
			c := ts.client(false)
			resp, got, err := ts.post(c, "/allow", under)
			if err != nil || resp.StatusCode != http.StatusOK || !got.Response.Allowed {
				t.Fatalf("a review of %d bytes: %v %+v", len(under), err, got)
			}
			if a.lastSize.Load() < int64(limit-2048) {
				t.Errorf("the handler saw an object of %d bytes", a.lastSize.Load())
			}
			resp, got, err = ts.post(c, "/allow", over)
			if err != nil {
				t.Fatal(err)
			}
			if got.Response.Allowed || got.Response.Result == nil || got.Response.Result.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("a review of %d bytes: HTTP %d, %+v", len(over), resp.StatusCode, got.Response)
			}
			if w.keepsUID && got.Response.UID != "size" {
				t.Errorf("the refusal of a review of %d bytes has uid %q, not the request's", len(over), got.Response.UID)
			}
			t.Logf("%d bytes handled; %d bytes answered %d %q (uid %q)", len(under), len(over), got.Response.Result.Code, got.Response.Result.Message, got.Response.UID)
		})
	}
}

// TestWebhookServerShutdown: when its context ends the server stops accepting connections at
// once, lets the request in flight finish and answers it, then Start returns; a request that
// outlasts ShutdownTimeout has its connection closed and does not hold Start.
func TestWebhookServerShutdown(t *testing.T) {
	entered, release := make(chan string, 4), make(chan struct{})
	slow := cradmission.HandlerFunc(func(_ context.Context, req cradmission.Request) cradmission.Response {
		entered <- string(req.UID)
		<-release
		return cradmission.Allowed("")
	})
	t.Run("drains in-flight requests", func(t *testing.T) {
		ts := startTestServer(t, WebhookServerOptions{ShutdownTimeout: 20 * time.Second}, map[string]http.Handler{"/slow": &webhook.Admission{Handler: slow}})
		type result struct {
			got *admissionv1.AdmissionReview
			err error
		}
		done := make(chan result, 1)
		go func() {
			_, got, err := ts.post(ts.client(false), "/slow", review(t, "in-flight", []byte(smallPod)))
			done <- result{got, err}
		}()
		<-entered
		ts.stop()
		// New connections are refused while the request is in flight.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			conn, err := net.Dial("tcp", ts.addr)
			if err != nil {
				break
			}
			_ = conn.Close()
			if time.Now().After(deadline) {
				t.Fatal("the server still accepts connections 10s after its context ended")
			}
		}
		select {
		case err := <-ts.exited:
			t.Fatalf("Start returned (%v) with a request in flight", err)
		default:
		}
		release <- struct{}{}
		r := <-done
		if r.err != nil || !r.got.Response.Allowed || r.got.Response.UID != "in-flight" {
			t.Fatalf("the in-flight request: %v %+v", r.err, r.got)
		}
		select {
		case err := <-ts.exited:
			if err != nil {
				t.Fatal(err)
			}
			ts.exited <- nil
		case <-time.After(20 * time.Second):
			t.Fatal("Start did not return within 20s of the last request")
		}
	})
	t.Run("once draining, every answer closes its connection", func(t *testing.T) {
		ts := startTestServer(t, WebhookServerOptions{}, map[string]http.Handler{"/allow": &webhook.Admission{Handler: &allow{}}})
		c := ts.client(false)
		resp, _, err := ts.post(c, "/allow", review(t, "before", []byte(smallPod)))
		if err != nil || resp.Close {
			t.Fatalf("before draining: %v, Connection: close %v", err, resp != nil && resp.Close)
		}
		ts.s.drain()
		for i := range 3 {
			resp, got, err := ts.post(c, "/allow", review(t, "draining", []byte(smallPod)))
			if err != nil || !got.Response.Allowed {
				t.Fatalf("while draining: %v %+v", err, got)
			}
			if !resp.Close {
				t.Fatalf("answer %d while draining keeps its connection open", i+1)
			}
		}
	})
	t.Run("gives up after the shutdown timeout", func(t *testing.T) {
		ts := startTestServer(t, WebhookServerOptions{ShutdownTimeout: 200 * time.Millisecond}, map[string]http.Handler{"/slow": &webhook.Admission{Handler: slow}})
		done := make(chan error, 1)
		go func() {
			_, _, err := ts.post(ts.client(false), "/slow", review(t, "stuck", []byte(smallPod)))
			done <- err
		}()
		<-entered
		start := time.Now()
		ts.stop()
		select {
		case err := <-ts.exited:
			if err != nil {
				t.Fatal(err)
			}
			ts.exited <- nil
		case <-time.After(20 * time.Second):
			t.Fatal("Start did not return within 20s with a shutdown timeout of 200ms")
		}
		if err := <-done; err == nil {
			t.Error("the stuck request got an answer after its connection was closed")
		}
		t.Logf("Start returned %s after the context ended (shutdown timeout 200ms)", time.Since(start).Round(time.Millisecond))
		close(release)
	})
}

// TestShutdownDelay: the check fails as soon as the parent context ends, while the run
// context lives on until the delay is over (or stop is called).
func TestShutdownDelay(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	var told atomic.Bool
	run, check, stop := shutdownDelay(parent, time.Hour, logDiscard(), func() { told.Store(true) })
	if err := check(nil); err != nil {
		t.Fatalf("failing before the shutdown: %v", err)
	}
	cancel()
	for deadline := time.Now().Add(10 * time.Second); check(nil) == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the check still passes 10s after the context ended")
		}
	}
	if !told.Load() {
		t.Error("onShutdown had not run when the check started failing")
	}
	if run.Err() != nil {
		t.Fatal("the run context ended with the parent, not after the delay")
	}
	stop()
	<-run.Done()

	parent, cancel = context.WithCancel(context.Background())
	run, _, stop = shutdownDelay(parent, 50*time.Millisecond, logDiscard(), nil)
	defer stop()
	cancel()
	select {
	case <-run.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the run context did not end 10s after a 50ms delay")
	}
}

// TestWithheld: the probe endpoints name a failing check and nothing of its error, on
// /readyz and on /readyz/NAME.
func TestWithheld(t *testing.T) {
	secret := "serial 5f3a, webhook validate.bulwark.dev in ValidatingWebhookConfiguration bulwark"
	h := &healthz.Handler{Checks: map[string]healthz.Checker{
		"tls": withheld("tls", func(*http.Request) error { return errors.New(secret) }, logDiscard()),
		"ok":  withheld("ok", healthz.Ping, logDiscard()),
	}}
	srv := httptest.NewServer(http.StripPrefix("/readyz", h))
	defer srv.Close()
	for _, path := range []string{"/readyz", "/readyz?verbose", "/readyz/tls", "/readyz/ok"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if bytes.Contains(body, []byte("5f3a")) || bytes.Contains(body, []byte("validate.bulwark.dev")) {
			t.Errorf("%s tells the check's error: %q", path, body)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if !healthLine.MatchString(sc.Text()) {
				t.Errorf("%s: line %q is more than a check name and its state", path, sc.Text())
			}
		}
	}
}

// healthLine is what a probe endpoint may say: "ok", check names with their state, and
// controller-runtime's fixed texts.
var healthLine = regexp.MustCompile(`^(ok|\[[+-]\][a-z]+ (ok|failed: reason withheld)|healthz check (passed|failed)|internal server error: [a-z]+ not ready)$`)

func logDiscard() logr.Logger { return logr.Discard() }
