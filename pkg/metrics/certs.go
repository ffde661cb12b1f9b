package metrics

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The certificates CertificateCollector reports, by the value of its certificate label, and
// the file of the certificate directory each is read from.
const (
	CertificateServing = "serving" // tls.crt: the certificate the webhook server presents
	CertificateCA      = "ca"      // ca.crt: the CA bundle, when the directory has one
)

var certificateFiles = []struct{ label, file string }{
	{CertificateServing, "tls.crt"},
	{CertificateCA, "ca.crt"},
}

// maxCertificateFile bounds what is read of a certificate file: a PEM bundle of a few CAs is
// a few kilobytes.
const maxCertificateFile = 1 << 20

// CertificateCollector exports bulwark_certificate_expiry_timestamp_seconds: the notAfter of
// the first certificate of tls.crt and of ca.crt in a directory, read when Prometheus scrapes,
// whatever wrote the files (the built-in certificate manager, cert-manager through a mounted
// Secret, a file copied by hand). A file is parsed again only when its identity, modification
// time or size changed. A file that is missing, unreadable or holds no parsable certificate
// exports no series.
type CertificateCollector struct {
	dir  string
	desc *prometheus.Desc

	mu    sync.Mutex
	cache map[string]certificateFile // by file name
}

// certificateFile is what was parsed of one file, and the file's state when it was.
type certificateFile struct {
	info     os.FileInfo
	notAfter time.Time
	ok       bool // false: the file held no parsable certificate
}

// NewCertificateCollector registers on reg a CertificateCollector for certDir (empty: the
// webhook server's default, <temp-dir>/k8s-webhook-server/serving-certs). A second call in the
// same process keeps the collector registered first (and so its directory), as the other
// collectors of this package share their series.
func NewCertificateCollector(reg prometheus.Registerer, certDir string) error {
	if certDir == "" {
		certDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	_, err := register(reg, newCertificateCollector(certDir))
	return err
}

func newCertificateCollector(certDir string) *CertificateCollector {
	return &CertificateCollector{
		dir: certDir,
		desc: prometheus.NewDesc("bulwark_certificate_expiry_timestamp_seconds",
			"Unix time at which a certificate Bulwark serves with expires (its notAfter), by certificate: serving (tls.crt, the first certificate of the file) or ca (ca.crt, the first certificate of the bundle, when the file exists). Read from the certificate directory at scrape time.",
			[]string{"certificate"}, nil),
		cache: map[string]certificateFile{},
	}
}

// Describe implements prometheus.Collector.
func (c *CertificateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *CertificateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range certificateFiles {
		notAfter, ok := c.notAfter(f.file)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(notAfter.Unix()), f.label)
	}
}

// notAfter returns the notAfter of the first certificate of file, parsing the file only when
// it is not the one parsed last time. Called with c.mu held.
func (c *CertificateCollector) notAfter(file string) (time.Time, bool) {
	path := filepath.Join(c.dir, file)
	info, err := os.Stat(path) // follows the symlinks of a mounted Secret to the current file
	if err != nil {
		delete(c.cache, file)
		return time.Time{}, false
	}
	if prev, ok := c.cache[file]; ok && sameFile(prev.info, info) {
		return prev.notAfter, prev.ok
	}
	entry := certificateFile{info: info}
	entry.notAfter, entry.ok = readNotAfter(path)
	c.cache[file] = entry
	return entry.notAfter, entry.ok
}

// sameFile reports whether cur is the file prev described, unchanged: the same file (a Secret
// volume or an atomic writer replaces the file, changing its identity), modification time and
// size.
func sameFile(prev, cur os.FileInfo) bool {
	return os.SameFile(prev, cur) && prev.ModTime().Equal(cur.ModTime()) && prev.Size() == cur.Size()
}

// readNotAfter parses the first CERTIFICATE block of the PEM file at path.
func readNotAfter(path string) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertificateFile))
	if err != nil {
		return time.Time{}, false
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return time.Time{}, false
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return time.Time{}, false
		}
		return cert.NotAfter, true
	}
}
