package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Config is what the Secret must provide.
type Config struct {
	// Names of the serving certificate.
	Names Names
	// CAValidity and CertValidity are the lifetimes of new certificates.
	CAValidity   time.Duration
	CertValidity time.Duration
	// TrustDelay is how long the apiserver must have had a new CA in its caBundle before a
	// serving certificate signed by that CA replaces a still valid one.
	TrustDelay time.Duration
}

// State is the usable content of the Secret.
type State struct {
	// Bundle holds the CA certificates of ca.crt.
	Bundle []*x509.Certificate
	// Signer is the CA of Bundle whose key is ca.key; nil if there is none.
	Signer *KeyPair
	// Serving holds tls.crt and tls.key; nil if they do not parse or do not match.
	Serving *KeyPair
	// CAProblem and ServingProblem say why Signer or Serving is nil.
	CAProblem, ServingProblem string
}

const missingCA = CACertKey + " and " + CAKeyKey + " are missing"

// ParseSecret reads the Secret's data. Nothing in it is trusted: each part that cannot be used
// is nil, with the reason.
func ParseSecret(data map[string][]byte) State {
	var st State
	st.Signer, st.Bundle, st.CAProblem = parseCA(data)
	if st.Signer == nil && st.Bundle == nil && st.CAProblem == "" {
		st.CAProblem = missingCA
	}
	if len(data[TLSCertKey]) == 0 && len(data[TLSKeyKey]) == 0 {
		st.ServingProblem = "missing"
	} else if kp, err := ParseKeyPair(data[TLSCertKey], data[TLSKeyKey]); err != nil {
		st.ServingProblem = TLSCertKey + "/" + TLSKeyKey + ": " + err.Error()
	} else {
		st.Serving = kp
	}
	return st
}

func parseCA(data map[string][]byte) (*KeyPair, []*x509.Certificate, string) {
	if len(data[CACertKey]) == 0 && len(data[CAKeyKey]) == 0 {
		return nil, nil, ""
	}
	if len(data[CACertKey]) == 0 {
		return nil, nil, CACertKey + " is empty"
	}
	all, err := ParseCertificates(data[CACertKey])
	if err != nil {
		return nil, nil, CACertKey + ": " + err.Error()
	}
	var bundle []*x509.Certificate
	for _, c := range all {
		if c.IsCA {
			bundle = append(bundle, c)
		}
	}
	if len(bundle) == 0 {
		return nil, nil, CACertKey + " holds no CA certificate"
	}
	if len(data[CAKeyKey]) == 0 {
		return nil, bundle, CAKeyKey + " is empty"
	}
	key, err := parseKey(data[CAKeyKey])
	if err != nil {
		return nil, bundle, CAKeyKey + ": " + err.Error()
	}
	for _, c := range bundle {
		if key.PublicKey.Equal(c.PublicKey) {
			return &KeyPair{Cert: c, Key: key, CertPEM: EncodeCertificates([]*x509.Certificate{c}), KeyPEM: data[CAKeyKey]}, bundle, ""
		}
	}
	return nil, bundle, CAKeyKey + " matches no certificate of " + CACertKey
}

// Plan is what the leader does with the Secret.
type Plan struct {
	// Data is the Secret's data after the plan; Changed says whether it differs from before.
	Data    map[string][]byte
	Changed bool
	// Bundle is ca.crt: what every webhook's caBundle must hold.
	Bundle []byte
	// Signer and Serving are the CA and the serving certificate after the plan.
	Signer, Serving *x509.Certificate
	// NewCA and NewServing say why a new CA or serving certificate was made ("" when kept);
	// Pruned lists the expired CAs dropped from the bundle.
	NewCA, NewServing string
	Pruned            []*x509.Certificate
	// Replaced lists what was unusable in the existing Secret and is replaced (a warning).
	Replaced []string
	// Pending says why a due serving certificate waits (the new CA is not trusted long enough yet).
	Pending string
	// NextCheck is when the Secret needs looking at again.
	NextCheck time.Time
}

// TrustedSince reports since when every webhook's caBundle has held ca, as far as the caller
// has seen; false if it does not (yet).
type TrustedSince func(ca *x509.Certificate) (time.Time, bool)

// Decide works out the Secret's next content from its current data (nil or empty when there
// is no Secret) at now.
func Decide(data map[string][]byte, cfg Config, now time.Time, trusted TrustedSince) (*Plan, error) {
	st := ParseSecret(data)
	exists := len(data) > 0
	p := &Plan{}
	var next []time.Time

	signer := st.Signer
	switch {
	case signer == nil && exists:
		p.NewCA = "no usable CA: " + st.CAProblem
		p.Replaced = append(p.Replaced, p.NewCA)
	case signer == nil:
		p.NewCA = "no CA yet"
	case !now.Before(signer.Cert.NotAfter):
		p.NewCA = fmt.Sprintf("the CA expired at %s", stamp(signer.Cert.NotAfter))
		p.Replaced = append(p.Replaced, p.NewCA)
	case !now.Before(RenewAt(signer.Cert)):
		p.NewCA = fmt.Sprintf("the CA reached 2/3 of its lifetime (%s; it expires at %s)",
			stamp(RenewAt(signer.Cert)), stamp(signer.Cert.NotAfter))
	}
	if p.NewCA != "" {
		ca, err := NewCA(now, cfg.CAValidity)
		if err != nil {
			return nil, fmt.Errorf("generating a CA: %w", err)
		}
		signer = ca
	}
	// The signer first, then the earlier CAs until they expire.
	bundle := []*x509.Certificate{signer.Cert}
	for _, c := range st.Bundle {
		switch {
		case slices.ContainsFunc(bundle, c.Equal):
		case !now.Before(c.NotAfter):
			p.Pruned = append(p.Pruned, c)
		default:
			bundle = append(bundle, c)
			next = append(next, c.NotAfter)
		}
	}

	leaf := st.Serving
	var urgent, due string
	switch {
	case leaf == nil && st.ServingProblem == "missing":
		urgent = "no serving certificate yet"
	case leaf == nil:
		urgent = "no usable serving certificate: " + st.ServingProblem
	case !now.Before(leaf.Cert.NotAfter):
		urgent = fmt.Sprintf("the serving certificate expired at %s", stamp(leaf.Cert.NotAfter))
	case now.Before(leaf.Cert.NotBefore):
		urgent = fmt.Sprintf("the serving certificate is not valid before %s", stamp(leaf.Cert.NotBefore))
	case !NamesOf(leaf.Cert).Equal(cfg.Names):
		urgent = fmt.Sprintf("the serving certificate is for %s, not %s", NamesOf(leaf.Cert), cfg.Names)
	case !chainsTo(leaf.Cert, bundle, now):
		urgent = "the serving certificate is signed by no CA of " + CACertKey
	case leaf.Cert.CheckSignatureFrom(signer.Cert) != nil:
		due = "the serving certificate is signed by the previous CA"
	case !now.Before(RenewAt(leaf.Cert)):
		due = fmt.Sprintf("the serving certificate reached 2/3 of its lifetime (%s; it expires at %s)",
			stamp(RenewAt(leaf.Cert)), stamp(leaf.Cert.NotAfter))
	}
	if urgent != "" && exists && st.ServingProblem != "missing" {
		p.Replaced = append(p.Replaced, urgent)
	}
	issue := urgent != ""
	if !issue && due != "" {
		// The apiserver must trust the new certificate before any replica serves it.
		since, ok := time.Time{}, false
		if p.NewCA == "" {
			since, ok = trusted(signer.Cert)
		}
		switch {
		case ok && !now.Before(since.Add(cfg.TrustDelay)):
			issue = true
		case ok:
			p.Pending = fmt.Sprintf("%s; the new one waits until the apiserver has trusted CA %q for %s (%s)",
				due, signer.Cert.Subject.CommonName, cfg.TrustDelay, stamp(since.Add(cfg.TrustDelay)))
			next = append(next, since.Add(cfg.TrustDelay))
		default:
			p.Pending = fmt.Sprintf("%s; the new one waits until CA %q is in every webhook's caBundle, then %s more",
				due, signer.Cert.Subject.CommonName, cfg.TrustDelay)
			next = append(next, now.Add(cfg.TrustDelay))
		}
	}
	if issue {
		kp, err := NewServing(signer, cfg.Names, now, cfg.CertValidity)
		if err != nil {
			return nil, fmt.Errorf("generating the serving certificate: %w", err)
		}
		leaf = kp
		p.NewServing = urgent
		if p.NewServing == "" {
			p.NewServing = due
		}
	}

	p.Signer, p.Serving = signer.Cert, leaf.Cert
	p.Bundle = EncodeCertificates(bundle)
	p.Data = maps.Clone(data)
	if p.Data == nil {
		p.Data = map[string][]byte{}
	}
	for k, v := range map[string][]byte{
		TLSCertKey: leaf.CertPEM, TLSKeyKey: leaf.KeyPEM, CACertKey: p.Bundle, CAKeyKey: signer.KeyPEM,
	} {
		if !bytes.Equal(data[k], v) {
			p.Changed = true
			p.Data[k] = v
		}
	}
	next = append(next, RenewAt(leaf.Cert), RenewAt(signer.Cert))
	// A renewal already due is pending: its time has passed and must not make the caller spin.
	next = slices.DeleteFunc(next, func(t time.Time) bool { return !t.After(now) })
	p.NextCheck = now.Add(cfg.TrustDelay)
	if len(next) > 0 {
		p.NextCheck = slices.MinFunc(next, time.Time.Compare)
	}
	return p, nil
}

// chainsTo reports whether c is valid at now under one of the CAs of bundle.
func chainsTo(c *x509.Certificate, bundle []*x509.Certificate, now time.Time) bool {
	pool := x509.NewCertPool()
	for _, ca := range bundle {
		pool.AddCert(ca)
	}
	_, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}

// NamesOf returns the subject alternative names of c.
func NamesOf(c *x509.Certificate) Names {
	return Names{DNS: c.DNSNames, IPs: c.IPAddresses}
}

func (n Names) String() string {
	all := slices.Clone(n.DNS)
	for _, ip := range n.IPs {
		all = append(all, ip.String())
	}
	if len(all) == 0 {
		return "no name"
	}
	return strings.Join(all, ", ")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
