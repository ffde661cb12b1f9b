package server

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// ClientAuth makes the webhook serve only callers with a client certificate: the apiserver
// presents one when its AdmissionConfiguration names a kubeconfig with a certificate for
// Bulwark's Service (docs/security.md). Without it the webhook port answers whoever reaches
// it; with it, a caller without a certificate the CA signed is refused before its body is
// read.
type ClientAuth struct {
	// CAFile holds the PEM certificates of the CAs that sign callers' certificates. It is
	// read again when it changes (a ConfigMap volume update), at most every caRecheck; a
	// change that cannot be read keeps the CAs in force.
	CAFile string
	// Names, when not empty, are the names a caller's certificate must carry (its subject's
	// common name or a DNS name): needed when the CA also signs the certificates of others,
	// as a cluster CA does.
	Names []string
}

// caRecheck is how often, at most, the CA file is looked at for a change.
const caRecheck = 10 * time.Second

// clientCAs holds the CA pool from a file, read again when the file changes.
type clientCAs struct {
	file string
	log  logr.Logger

	mu      sync.Mutex
	pool    *x509.CertPool
	sum     [sha256.Size]byte
	checked time.Time
}

// loadClientCAs reads file; it fails if the file holds no certificate.
func loadClientCAs(file string, log logr.Logger) (*clientCAs, error) {
	c := &clientCAs{file: file, log: log}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	pool, err := parseCAs(data)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file %s: %w", file, err)
	}
	c.pool, c.sum, c.checked = pool, sha256.Sum256(data), time.Now()
	return c, nil
}

func parseCAs(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate in it")
	}
	return pool, nil
}

// current is the pool in force, after reading the file again if it is due.
func (c *clientCAs) current() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < caRecheck {
		return c.pool
	}
	c.checked = time.Now()
	data, err := os.ReadFile(c.file)
	if err != nil {
		c.log.Error(err, "client CA file unreadable; the CAs read before stay in force", "file", c.file)
		return c.pool
	}
	if sum := sha256.Sum256(data); sum != c.sum {
		pool, err := parseCAs(data)
		if err != nil {
			c.log.Error(err, "client CA file changed but cannot be used; the CAs read before stay in force", "file", c.file)
			return c.pool
		}
		c.pool, c.sum = pool, sum
		c.log.Info("client CA file changed: its CAs are in force from now on", "file", c.file)
	}
	return c.pool
}

// tlsOption asks every caller for a certificate and verifies one given against the CAs in
// force. A connection without one is still accepted, so that it gets an HTTP answer that
// says what is missing (and is counted) rather than a failed handshake.
func (c *clientCAs) tlsOption(base *tls.Config) {
	base.ClientAuth = tls.VerifyClientCertIfGiven
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = c.current()
		return cfg, nil
	}
}

// authenticate decides whether a request's caller may be served: its connection carries a
// certificate one of the CAs signed (the handshake verified it, for client authentication)
// and, when names are given, the certificate names one of them.
func authenticate(names []string) func(*http.Request) error {
	return func(r *http.Request) error {
		// A certificate the CAs do not verify fails the handshake: a connection here has a
		// verified one or none.
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return errors.New("Bulwark serves callers with a client certificate only (--client-ca-file), and none was presented: configure the apiserver's AdmissionConfiguration with a kubeconfig for this webhook")
		}
		leaf := r.TLS.VerifiedChains[0][0]
		if len(names) == 0 || slices.Contains(names, leaf.Subject.CommonName) || slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return slices.Contains(names, n) }) {
			return nil
		}
		dns := ""
		if len(leaf.DNSNames) > 0 {
			dns = ", DNS names " + strings.Join(leaf.DNSNames, ", ")
		}
		return fmt.Errorf("the client certificate (CN %q%s) names none of --client-names %s", leaf.Subject.CommonName, dns, strings.Join(names, ","))
	}
}
