// Package certs is Bulwark's built-in certificate manager: a self-signed CA and a serving
// certificate it signs, kept in one Secret, written to the webhook server's certificate
// directory on every replica, and the CA bundle injected into Bulwark's own webhook
// configurations.
//
// # The Secret (type kubernetes.io/tls)
//
//   - tls.crt, tls.key: the serving certificate (ECDSA P-256, one year by default) and its key,
//     for SERVICE.NAMESPACE.svc and SERVICE.NAMESPACE.svc.cluster.local.
//   - ca.crt: the CA bundle, PEM: the signing CA first, then earlier CAs until they expire. It
//     is exactly what is injected as every webhook's clientConfig.caBundle, so it validates
//     whichever serving certificate a replica serves during a rotation.
//   - ca.key: the signing CA's key. The signing CA is the certificate in ca.crt whose public key
//     matches ca.key.
//
// # Renewal
//
// Each certificate is renewed at 2/3 of its lifetime. A serving certificate is signed by a CA
// the apiserver already trusts, so it is written at once. A CA rotation has two steps: the new
// CA is added to ca.crt (and becomes the signer) and the bundle of old and new CA is injected;
// only after the apiserver has had that bundle for Options.TrustDelay is a serving
// certificate signed by the new CA written. The old CA stays in the bundle until it expires,
// so a replica still serving the old certificate stays trusted. A serving certificate never
// outlives the CA that signed it.
//
// A Secret whose content cannot be used (garbage, a key that does not match, an expired
// certificate, a certificate for other names, one signed by no CA of the bundle) is replaced,
// with a log line and an Event saying why. A deleted Secret is created afresh (a new CA): a
// full re-key, during which requests can fail for the moment the apiserver takes to see the
// new bundle.
//
// # Who does what
//
//   - Before the manager starts, every replica reads the Secret straight from the apiserver and
//     writes its serving certificate to the certificate directory (controller-runtime's webhook
//     server fails to start without one); with no usable Secret yet, a temporary self-signed
//     certificate that nothing trusts.
//   - Every replica watches the Secret (a cache scoped to its name) and writes tls.crt and
//     tls.key to the directory in one atomic step (a ..data symlink swap, as the kubelet does),
//     where the webhook server's certwatcher picks them up.
//   - The leader alone creates, renews and replaces the Secret and injects ca.crt into every
//     webhook of the ValidatingWebhookConfiguration and MutatingWebhookConfiguration (get and
//     update by name; it rereads them every Resync, as it may not watch them).
//   - Readiness: a replica is ready once the certificate its webhook server presents is valid
//     for the Service under the caBundle of every webhook of both configurations, as read from
//     the apiserver (remembered per served certificate, so a rotation never makes replicas
//     unready).
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strconv"
	"time"
)

// Keys of the Secret.
const (
	TLSCertKey = "tls.crt"
	TLSKeyKey  = "tls.key"
	CACertKey  = "ca.crt"
	CAKeyKey   = "ca.key"
)

// Defaults of Options.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
	DefaultTrustDelay   = 30 * time.Second
)

// maxBackdate bounds how far NotBefore is set in the past, for clocks running behind.
const maxBackdate = 5 * time.Minute

// KeyPair is a certificate with its private key, parsed and in PEM.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	KeyPEM  []byte
}

// Names are the subject alternative names of the serving certificate.
type Names struct {
	DNS []string
	IPs []net.IP
}

// ServiceNames are the names the apiserver uses for a Service: SERVICE.NAMESPACE.svc and
// SERVICE.NAMESPACE.svc.cluster.local, then extra.
func ServiceNames(service, namespace string, extraDNS []string, extraIPs []net.IP) Names {
	dns := []string{service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local"}
	for _, d := range extraDNS {
		if !slices.Contains(dns, d) {
			dns = append(dns, d)
		}
	}
	return Names{DNS: dns, IPs: slices.Clone(extraIPs)}
}

// Equal reports whether n and o hold the same names, in any order.
func (n Names) Equal(o Names) bool {
	sameDNS := func(a, b []string) bool {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(slices.Compact(a), slices.Compact(b))
	}
	ips := func(l []net.IP) []string {
		out := make([]string, len(l))
		for i, ip := range l {
			out[i] = ip.String()
		}
		return out
	}
	return sameDNS(n.DNS, o.DNS) && sameDNS(ips(n.IPs), ips(o.IPs))
}

// backdate is how far before now a certificate's NotBefore is set: a tolerance for clocks
// behind ours, small against the validity so that 2/3 of the lifetime stays 2/3.
func backdate(validity time.Duration) time.Duration {
	return min(maxBackdate, validity/20)
}

// NewCA generates a self-signed CA valid for validity from now (ECDSA P-256).
func NewCA(now time.Time, validity time.Duration) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The timestamp tells the CAs of a bundle apart.
		Subject:               pkix.Name{CommonName: "bulwark-ca@" + strconv.FormatInt(now.Unix(), 10), Organization: []string{"bulwark"}},
		NotBefore:             now.Add(-backdate(validity)),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	return sign(tmpl, tmpl, key, key)
}

// NewServing generates a serving certificate for names signed by ca, valid for validity from
// now but never beyond the CA's own expiry (ECDSA P-256).
func NewServing(ca *KeyPair, names Names, now time.Time, validity time.Duration) (*KeyPair, error) {
	if len(names.DNS) == 0 && len(names.IPs) == 0 {
		return nil, errors.New("a serving certificate needs at least one name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	cn := ""
	if len(names.DNS) > 0 {
		cn = names.DNS[0]
	} else {
		cn = names.IPs[0].String()
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"bulwark"}},
		DNSNames:     slices.Clone(names.DNS),
		IPAddresses:  slices.Clone(names.IPs),
		NotBefore:    now.Add(-backdate(notAfter.Sub(now))),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		Cert: cert, Key: key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}

// RenewAt is when a certificate is due for renewal: at 2/3 of its lifetime.
func RenewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(life * 2 / 3)
}

// Fingerprint is the SHA-256 of a certificate, in hex, as logs and tests name it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseCertificates reads every CERTIFICATE block of a PEM bundle. Anything else in it, or a
// block that does not parse, is an error.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := bytes.TrimSpace(data)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("not PEM")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		rest = bytes.TrimSpace(rest)
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

// EncodeCertificates is the PEM bundle of certs, in order.
func EncodeCertificates(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// parseKey reads an ECDSA private key in SEC 1 or PKCS #8 PEM.
func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an ECDSA private key")
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ECDSA private key", k)
	}
	return ec, nil
}

// ParseKeyPair reads a certificate (the first of certPEM) and its private key, and checks that
// they belong together.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	if len(certPEM) == 0 {
		return nil, errors.New("no certificate")
	}
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if len(keyPEM) == 0 {
		return nil, errors.New("no private key")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	if !key.PublicKey.Equal(certs[0].PublicKey) {
		return nil, errors.New("the private key does not match the certificate")
	}
	return &KeyPair{Cert: certs[0], Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}
