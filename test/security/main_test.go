// Package security looks for secret material in everything Bulwark writes: the logs of
// `bulwark serve` at debug level through a realistic session (admissions allowed, denied and
// mutated, built-in TLS, a policy reload, audits), and the output of `bulwark scan` and
// `bulwark mutate` on manifests holding secrets.
package security

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// binary is the bulwark executable under test, built once.
var binary string

func TestMain(m *testing.M) {
	framework.Main(m, "security", func(s *framework.Suite) error {
		var err error
		binary, err = s.BuildBulwark()
		return err
	})
}

// tunnel is an HTTP CONNECT proxy for the kube-apiserver (its HTTPS_PROXY). The webhook
// configurations call Bulwark by its Service name, https://bulwark.bulwark-system.svc:PORT/...,
// as in a cluster; the apiserver asks the tunnel for that host, and the tunnel connects it to
// the local port Bulwark listens on. TLS runs end to end through it, so the apiserver verifies
// Bulwark's built-in certificate for the Service name against the CA bundle Bulwark injected.
type tunnel struct {
	ln     net.Listener
	routes map[string]string // host:port asked for -> address dialed

	mu      sync.Mutex
	opened  int
	refused []string
}

func startTunnel(t *testing.T, routes map[string]string) *tunnel {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tunnel{ln: ln, routes: routes}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return p
}

func (p *tunnel) url() string { return "http://" + p.ln.Addr().String() }

func (p *tunnel) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	target, ok := p.routes[req.Host]
	if req.Method != http.MethodConnect || !ok {
		p.mu.Lock()
		p.refused = append(p.refused, req.Method+" "+req.Host)
		p.mu.Unlock()
		_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\n\r\n")
		return
	}
	out, err := net.Dial("tcp", target)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer out.Close()
	p.mu.Lock()
	p.opened++
	p.mu.Unlock()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	go func() {
		// Whatever the client sent after the CONNECT request is in br.
		_, _ = io.Copy(out, br)
		_ = out.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, out) // until Bulwark closes; the deferred closes end the other copy
}

func (p *tunnel) stats() (opened int, refused string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opened, strings.Join(p.refused, ", ")
}
