package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Limits of the webhook's HTTP server.
const (
	// DefaultReadHeaderTimeout is how long a client gets to send a request's headers (the TLS
	// handshake included) before the connection is closed.
	DefaultReadHeaderTimeout = 10 * time.Second
	// MaxWebhookTimeout is the longest the kube-apiserver waits for a webhook (timeoutSeconds
	// is at most 30): a request still unread, or an answer still unwritten, after that is one
	// nobody waits for.
	MaxWebhookTimeout = 30 * time.Second
	// readTimeout bounds reading a whole request, headers and body (at most
	// admission.MaxRequestBytes, 19 MiB).
	readTimeout = MaxWebhookTimeout
	// writeTimeout bounds the time from the end of the headers to the end of the answer.
	writeTimeout = MaxWebhookTimeout + 5*time.Second
	// idleTimeout closes a keep-alive connection with no request. It is longer than the 90s
	// after which the apiserver's client drops its own idle connections, so that the client
	// closes first and never sends a request on a connection the server is closing.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes bounds a request's headers; the apiserver sends a few hundred bytes.
	maxHeaderBytes = 64 << 10
)

// WebhookServerOptions configure a WebhookServer.
type WebhookServerOptions struct {
	// Host and Port are where the server listens; Port 0 picks a free port (see Addr).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key, reloaded when they change. Not read when a TLSOpts
	// function sets GetCertificate.
	CertDir string
	// TLSOpts adjust the TLS configuration (see TLSConfig).
	TLSOpts []func(*tls.Config)
	// ReadHeaderTimeout is how long a client gets to send its request headers; 0 for
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ShutdownTimeout bounds the time in-flight requests get to finish once the server stops;
	// the connections still open after it are closed. 0 closes them at once.
	ShutdownTimeout time.Duration
	Log             logr.Logger
}

// WebhookServer is the HTTPS server of the admission webhooks: a webhook.Server that serves
// what controller-runtime's does (the same mux, the same controller_runtime_webhook_*
// metrics, the certificate reloaded from CertDir), with timeouts and limits of its own: a
// header timeout against slow clients, read and write timeouts sized for the apiserver's
// webhook timeout, and a graceful shutdown that lets in-flight requests finish.
type WebhookServer struct {
	o WebhookServerOptions
	// hooks registers the handlers: controller-runtime's server, never started, wraps each
	// in its instrumentation and puts it on mux.
	hooks webhook.Server
	mux   *http.ServeMux

	mu   sync.Mutex
	addr string // the listening address, once started
	// draining is set when the shutdown begins: from then on every HTTP/1.1 answer closes its
	// connection, so that clients open new ones, which go to the replicas still ready.
	draining atomic.Bool
}

var _ webhook.Server = (*WebhookServer)(nil)

// NewWebhookServer returns a server with the given options; the manager starts it.
func NewWebhookServer(o WebhookServerOptions) *WebhookServer {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	mux := http.NewServeMux()
	return &WebhookServer{
		o:     o,
		hooks: webhook.NewServer(webhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir, WebhookMux: mux}),
		mux:   mux,
	}
}

// NeedLeaderElection is false: every replica serves the webhooks.
func (*WebhookServer) NeedLeaderElection() bool { return false }

// Register serves hook at path, instrumented with the controller_runtime_webhook_* metrics
// (requests by code, latency, in flight) labelled webhook=path. It panics if path is taken.
func (s *WebhookServer) Register(path string, hook http.Handler) { s.hooks.Register(path, hook) }

// WebhookMux is the mux the server serves.
func (s *WebhookServer) WebhookMux() *http.ServeMux { return s.mux }

// drain makes every HTTP/1.1 answer from now on close its connection ("Connection: close"):
// clients that keep connections to this replica (through a Service's ClusterIP, whose
// connections outlive the endpoint) reconnect, and reach a replica that is ready. Idle
// connections are left alone: closing one races with a client about to send on it.
func (s *WebhookServer) drain() {
	if !s.draining.Swap(true) {
		s.o.Log.Info("webhook server draining: every answer closes its connection from now on")
	}
}

// Addr is the address the server listens on; empty before it has started.
func (s *WebhookServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// tlsConfig is the server's TLS configuration: HTTP/2 and HTTP/1.1 offered, then TLSOpts
// (TLSConfig restricts versions, suites and protocols), and the certificate from CertDir
// unless an option provides GetCertificate.
func (s *WebhookServer) tlsConfig(ctx context.Context) (*tls.Config, error) {
	cfg := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	for _, op := range s.o.TLSOpts {
		op(cfg)
	}
	if cfg.GetCertificate != nil {
		return cfg, nil
	}
	crt, key := filepath.Join(s.o.CertDir, "tls.crt"), filepath.Join(s.o.CertDir, "tls.key")
	w, err := certwatcher.New(crt, key)
	if err != nil {
		return nil, fmt.Errorf("webhook server certificate (%s, %s): %w", crt, key, err)
	}
	cfg.GetCertificate = w.GetCertificate
	go func() {
		if err := w.Start(ctx); err != nil {
			s.o.Log.Error(err, "watching the webhook server certificate", "certDir", s.o.CertDir)
		}
	}()
	return cfg, nil
}

// Start serves until ctx ends, then stops accepting connections and waits up to
// ShutdownTimeout for in-flight requests before it closes what is left.
func (s *WebhookServer) Start(ctx context.Context) error {
	cfg, err := s.tlsConfig(ctx)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("webhook server: listening on %s: %w", addr, err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		s.mux.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler: handler,
		// Requests outlive ctx: they get ShutdownTimeout to finish, not a cancelled context.
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ReadHeaderTimeout: s.o.ReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(serverErrorLog{s.o.Log}, "", 0),
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	s.o.Log.Info("serving webhooks", "address", ln.Addr().String(), "readHeaderTimeout", s.o.ReadHeaderTimeout.String())

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.o.Log.Info("webhook server shutting down: no new connections, in-flight requests finish",
			"timeout", s.o.ShutdownTimeout.String())
		start := time.Now()
		sctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.o.Log.Error(err, "webhook server: requests still in flight after the shutdown timeout; closing their connections",
				"timeout", s.o.ShutdownTimeout.String())
			_ = srv.Close()
			return
		}
		s.o.Log.Info("webhook server stopped", "drained", time.Since(start).Round(time.Millisecond).String())
	}()
	if err := srv.Serve(tls.NewListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook server on %s: %w", ln.Addr(), err)
	}
	<-stopped
	return nil
}

// StartedChecker is healthy once the server completes TLS handshakes on its address.
func (s *WebhookServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		addr := s.Addr()
		if addr == "" {
			return errors.New("webhook server not started yet")
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "localhost"
		}
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(host, port), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // checks that TLS is served, not who serves it
		if err != nil {
			return fmt.Errorf("webhook server not reachable: %w", err)
		}
		return conn.Close()
	}
}

// serverErrorLog passes net/http's own messages (TLS handshake failures, recovered handler
// panics) to the logger: debug level for a client that closed the connection during the
// handshake (TCP probes of load balancers), info for the rest.
type serverErrorLog struct{ log logr.Logger }

func (w serverErrorLog) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\n"))
	if bytes.Contains(p, []byte("TLS handshake error")) && bytes.HasSuffix(bytes.TrimSpace(p), []byte("EOF")) {
		w.log.V(1).Info("webhook server", "error", msg)
	} else {
		w.log.Info("webhook server", "error", msg)
	}
	return len(p), nil
}

// shutdownDelay runs the first phase of a graceful stop. When ctx ends, the returned check
// starts failing at once (readiness goes down, so endpoints stop routing to this replica)
// while everything keeps serving; delay later the returned context ends, which stops the
// manager and with it the webhook server. onShutdown, when set, runs just before the check
// starts failing. Call stop when the manager has returned.
func shutdownDelay(ctx context.Context, delay time.Duration, log logr.Logger, onShutdown func()) (run context.Context, check healthz.Checker, stop func()) {
	var stopping atomic.Bool
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-run.Done():
			return
		}
		if onShutdown != nil {
			onShutdown()
		}
		stopping.Store(true)
		log.Info("shutting down: not ready from now on; still serving for the shutdown delay", "delay", delay.String())
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			log.Info("shutdown delay over: stopping")
		case <-run.Done():
		}
		cancel()
	}()
	check = func(*http.Request) error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	}
	return run, check, cancel
}

// withheld wraps a health check for the probe endpoints, which anyone reaching the port can
// read: /readyz/NAME answers with the check's error, so the error is replaced by a fixed
// text and its detail goes to the log instead (info when it changes, debug on repeats).
func withheld(name string, check healthz.Checker, log logr.Logger) healthz.Checker {
	var mu sync.Mutex
	last := ""
	return func(req *http.Request) error {
		err := check(req)
		detail := ""
		if err != nil {
			detail = err.Error()
		}
		mu.Lock()
		changed := detail != last
		last = detail
		mu.Unlock()
		switch {
		case err == nil && changed:
			log.Info("readiness check passes", "check", name)
		case err != nil && changed:
			log.Info("readiness check fails", "check", name, "reason", detail)
		case err != nil:
			log.V(1).Info("readiness check fails", "check", name, "reason", detail)
		}
		if err != nil {
			return errors.New(name + " not ready")
		}
		return nil
	}
}
