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
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

var (
	// binary is the bulwark executable under test, built once.
	binary string
	suite  *framework.Suite
	shared struct {
		once    sync.Once
		cluster *framework.Cluster
		proxy   *tunnel
		err     error
	}
)

func TestMain(m *testing.M) {
	framework.Main(m, "security", func(s *framework.Suite) error {
		suite = s
		var err error
		binary, err = s.BuildBulwark()
		return err
	})
}

// controlPlane returns the package's control plane, started for the first test that asks
// and stopped after the last. Its kube-apiserver serves the PolicyReport CRD and reaches
// Bulwark by its Service name through proxy, its HTTPS_PROXY. The tests share nothing else
// in it: each has its own namespaces and cluster-scoped names, and only
// TestServeLogsHoldNoSecrets registers webhooks.
func controlPlane(t *testing.T) (*framework.Cluster, *tunnel) {
	t.Helper()
	shared.once.Do(func() {
		crd, err := framework.RepoFile(framework.PolicyReportCRD)
		if err != nil {
			shared.err = err
			return
		}
		if shared.proxy, shared.err = startTunnel(); shared.err != nil {
			return
		}
		suite.Defer(shared.proxy.close)
		// The kube-apiserver inherits HTTPS_PROXY; requests to 127.0.0.1 (etcd, its own
		// loopback, Bulwark's and the tests' calls to the apiserver) never go through a proxy.
		before, had := os.LookupEnv("HTTPS_PROXY")
		_ = os.Setenv("HTTPS_PROXY", shared.proxy.url())
		shared.cluster, shared.err = suite.StartControlPlane(crd)
		if had {
			_ = os.Setenv("HTTPS_PROXY", before)
		} else {
			_ = os.Unsetenv("HTTPS_PROXY")
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster, shared.proxy
}

// tunnel is an HTTP CONNECT proxy for the kube-apiserver (its HTTPS_PROXY). The webhook
// configurations call Bulwark by its Service name, https://bulwark.bulwark-system.svc:PORT/...,
// as in a cluster; the apiserver asks the tunnel for that host, and the tunnel connects it to
// the local port Bulwark listens on. TLS runs end to end through it, so the apiserver verifies
// Bulwark's built-in certificate for the Service name against the CA bundle Bulwark injected.
type tunnel struct {
	ln net.Listener

	mu      sync.Mutex
	routes  map[string]string // host:port asked for -> address dialed
	opened  int
	refused []string
}

func startTunnel() (*tunnel, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tunnel{ln: ln, routes: map[string]string{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return p, nil
}

func (p *tunnel) close() error {
	_ = p.ln.Close()
	return nil
}

// route connects what asks for host (host:port) to target until t ends, and counts the
// connections opened and refused from now on.
func (p *tunnel) route(t *testing.T, host, target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes[host] = target
	p.opened, p.refused = 0, nil
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.routes, host)
	})
}

func (p *tunnel) url() string { return "http://" + p.ln.Addr().String() }

func (p *tunnel) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.mu.Lock()
	target, ok := p.routes[req.Host]
	p.mu.Unlock()
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
