package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

var testNames = ServiceNames("bulwark", "bulwark-system", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})

func testConfig() Config {
	return Config{Names: testNames, CAValidity: DefaultCAValidity, CertValidity: DefaultCertValidity, TrustDelay: DefaultTrustDelay}
}

// always trusts every CA since long ago; never trusts none.
func always(*x509.Certificate) (time.Time, bool) { return time.Time{}, true }
func never(*x509.Certificate) (time.Time, bool)  { return time.Time{}, false }

func TestServiceNames(t *testing.T) {
	n := ServiceNames("hook", "ns", []string{"hook.ns.svc", "extra.example"}, nil)
	want := []string{"hook.ns.svc", "hook.ns.svc.cluster.local", "extra.example"}
	if strings.Join(n.DNS, ",") != strings.Join(want, ",") {
		t.Errorf("DNS names %v, want %v", n.DNS, want)
	}
	if !n.Equal(Names{DNS: []string{"extra.example", "hook.ns.svc.cluster.local", "hook.ns.svc"}}) {
		t.Error("the same names in another order are not Equal")
	}
	if n.Equal(Names{DNS: want, IPs: []net.IP{net.ParseIP("10.0.0.1")}}) {
		t.Error("names with an extra IP are Equal")
	}
}

func TestGenerate(t *testing.T) {
	now := time.Now()
	ca, err := NewCA(now, DefaultCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := NewServing(ca, testNames, now, DefaultCertValidity)
	if err != nil {
		t.Fatal(err)
	}
	for name, kp := range map[string]*KeyPair{"CA": ca, "serving": leaf} {
		if kp.Key.Curve != elliptic.P256() {
			t.Errorf("%s key is not P-256", name)
		}
		pub, ok := kp.Cert.PublicKey.(*ecdsa.PublicKey)
		if !ok || !pub.Equal(&kp.Key.PublicKey) {
			t.Errorf("%s certificate is not for its key", name)
		}
		if _, err := ParseKeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
			t.Errorf("%s PEM: %v", name, err)
		}
	}
	if !ca.Cert.IsCA || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 || ca.Cert.CheckSignatureFrom(ca.Cert) != nil {
		t.Error("the CA is not a self-signed CA")
	}
	// Certificates hold whole seconds.
	near := func(got, want time.Duration) bool { return got > want-time.Second && got <= want }
	if got := ca.Cert.NotAfter.Sub(now); !near(got, DefaultCAValidity) {
		t.Errorf("CA valid for %s after now, want %s", got, DefaultCAValidity)
	}
	if d := now.Sub(ca.Cert.NotBefore); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("CA NotBefore %s before now, want about 5m of backdating", d)
	}
	if got := leaf.Cert.NotAfter.Sub(now); !near(got, DefaultCertValidity) {
		t.Errorf("serving certificate valid for %s after now, want %s", got, DefaultCertValidity)
	}
	if leaf.Cert.IsCA || len(leaf.Cert.ExtKeyUsage) != 1 || leaf.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("serving certificate: IsCA %v, ExtKeyUsage %v", leaf.Cert.IsCA, leaf.Cert.ExtKeyUsage)
	}
	if !NamesOf(leaf.Cert).Equal(testNames) {
		t.Errorf("serving certificate names %s, want %s", NamesOf(leaf.Cert), testNames)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, host := range []string{"bulwark.bulwark-system.svc", "bulwark.bulwark-system.svc.cluster.local", "127.0.0.1"} {
		if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.bulwark-system.svc"}); err == nil {
		t.Error("the serving certificate verifies for another name")
	}

	// A serving certificate never outlives its CA.
	short, _ := NewCA(now, time.Hour)
	capped, err := NewServing(short, testNames, now, DefaultCertValidity)
	if err != nil {
		t.Fatal(err)
	}
	if !capped.Cert.NotAfter.Equal(short.Cert.NotAfter) {
		t.Errorf("serving certificate ends %s, its CA %s", capped.Cert.NotAfter, short.Cert.NotAfter)
	}
	if _, err := NewServing(ca, Names{}, now, time.Hour); err == nil {
		t.Error("a serving certificate without names was made")
	}
}

func TestRenewAt(t *testing.T) {
	now := time.Now()
	for _, v := range []time.Duration{30 * time.Second, time.Hour, DefaultCertValidity, DefaultCAValidity} {
		ca, _ := NewCA(now, v)
		life := ca.Cert.NotAfter.Sub(ca.Cert.NotBefore)
		if got := RenewAt(ca.Cert).Sub(ca.Cert.NotBefore); got != life*2/3 {
			t.Errorf("validity %s: renew %s after NotBefore, want 2/3 of %s", v, got, life)
		}
		// Backdating never eats much of the lifetime.
		if d := ca.Cert.NotBefore.Sub(now); d < -v/20-time.Second {
			t.Errorf("validity %s: NotBefore %s before now", v, -d)
		}
	}
}

// decide runs Decide and fails the test on error.
func decide(t *testing.T, data map[string][]byte, cfg Config, now time.Time, trusted TrustedSince) *Plan {
	t.Helper()
	p, err := Decide(data, cfg, now, trusted)
	if err != nil {
		t.Fatal(err)
	}
	if got := ParseSecret(p.Data); got.Signer == nil || got.Serving == nil || got.CAProblem != "" || got.ServingProblem != "" {
		t.Fatalf("planned Secret is unusable: %+v", got)
	}
	return p
}

func bundleOf(t *testing.T, p *Plan) []*x509.Certificate {
	t.Helper()
	certs, err := ParseCertificates(p.Data[CACertKey])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Bundle, p.Data[CACertKey]) {
		t.Error("the bundle to inject is not ca.crt")
	}
	return certs
}

func TestDecideCreateAndKeep(t *testing.T) {
	cfg := testConfig()
	now := time.Now()
	p := decide(t, nil, cfg, now, never)
	if !p.Changed || p.NewCA != "no CA yet" || p.NewServing != "no serving certificate yet" || len(p.Replaced) > 0 {
		t.Fatalf("create: changed %v, CA %q, serving %q, replaced %v", p.Changed, p.NewCA, p.NewServing, p.Replaced)
	}
	if b := bundleOf(t, p); len(b) != 1 || !b[0].Equal(p.Signer) {
		t.Errorf("bundle of a new Secret: %d CAs", len(b))
	}
	if p.Serving.CheckSignatureFrom(p.Signer) != nil {
		t.Error("serving certificate not signed by the CA")
	}
	if !p.NextCheck.Equal(RenewAt(p.Serving)) {
		t.Errorf("next check %s, want the serving certificate's renewal %s", p.NextCheck, RenewAt(p.Serving))
	}
	// Unchanged while nothing is due, trusted or not.
	for _, at := range []time.Time{now, now.Add(time.Hour), RenewAt(p.Serving).Add(-time.Second)} {
		again := decide(t, p.Data, cfg, at, never)
		if again.Changed || again.NewCA != "" || again.NewServing != "" || again.Pending != "" {
			t.Errorf("at %s: changed %v %q %q %q", at, again.Changed, again.NewCA, again.NewServing, again.Pending)
		}
	}
	// Keys that are not Bulwark's stay.
	p.Data["extra"] = []byte("kept")
	if again := decide(t, p.Data, cfg, now, never); again.Changed || string(again.Data["extra"]) != "kept" {
		t.Error("an unrelated key changed the plan or was lost")
	}
}

func TestDecideServingRenewal(t *testing.T) {
	cfg := testConfig()
	now := time.Now()
	p := decide(t, nil, cfg, now, never)
	at := RenewAt(p.Serving).Add(time.Second)

	// At 2/3 of its lifetime, a new serving certificate from the same CA, once that CA is trusted.
	r := decide(t, p.Data, cfg, at, always)
	if !r.Changed || r.NewCA != "" || !strings.Contains(r.NewServing, "2/3 of its lifetime") {
		t.Fatalf("renewal: changed %v, CA %q, serving %q", r.Changed, r.NewCA, r.NewServing)
	}
	if !r.Signer.Equal(p.Signer) || !bytes.Equal(r.Data[CACertKey], p.Data[CACertKey]) || !bytes.Equal(r.Data[CAKeyKey], p.Data[CAKeyKey]) {
		t.Error("a serving renewal changed the CA")
	}
	if r.Serving.Equal(p.Serving) || r.Serving.CheckSignatureFrom(p.Signer) != nil || !r.Serving.NotBefore.Before(at) {
		t.Error("the renewed serving certificate is not a new one from the same CA")
	}
	if len(r.Replaced) > 0 {
		t.Errorf("a due renewal is reported as a replacement: %v", r.Replaced)
	}

	// A CA the webhooks have not had for TrustDelay yet: the renewal waits, and says until when.
	recent := func(*x509.Certificate) (time.Time, bool) { return at.Add(-time.Second), true }
	w := decide(t, p.Data, cfg, at, recent)
	if w.Changed || w.Pending == "" || !w.NextCheck.Equal(at.Add(-time.Second).Add(cfg.TrustDelay)) || !w.NextCheck.After(at) {
		t.Errorf("pending renewal: changed %v, pending %q, next %s", w.Changed, w.Pending, w.NextCheck)
	}
}

func TestDecideCARotation(t *testing.T) {
	cfg := testConfig()
	cfg.CAValidity = 30 * 24 * time.Hour
	cfg.CertValidity = 20 * 24 * time.Hour
	t0 := time.Now()
	p := decide(t, nil, cfg, t0, never)
	oldCA := p.Signer
	at := RenewAt(oldCA).Add(time.Second)
	// Keep the serving certificate fresh so that only the CA is due.
	data := p.Data
	for RenewAt(ParseSecret(data).Serving.Cert).Before(at) {
		step := decide(t, data, cfg, RenewAt(ParseSecret(data).Serving.Cert).Add(time.Second), always)
		data = step.Data
	}
	leafBefore := ParseSecret(data).Serving.Cert

	// Step 1: a new CA signs from now on; ca.crt holds new and old; the serving certificate,
	// signed by the old CA and still valid, stays until the new CA is trusted.
	s1 := decide(t, data, cfg, at, never)
	if !s1.Changed || !strings.Contains(s1.NewCA, "2/3 of its lifetime") || s1.NewServing != "" || s1.Pending == "" {
		t.Fatalf("rotation step 1: CA %q, serving %q, pending %q", s1.NewCA, s1.NewServing, s1.Pending)
	}
	b := bundleOf(t, s1)
	if len(b) != 2 || !b[0].Equal(s1.Signer) || !b[1].Equal(oldCA) || s1.Signer.Equal(oldCA) {
		t.Fatalf("bundle during rotation: want [new, old], got %d CAs", len(b))
	}
	if !s1.Serving.Equal(leafBefore) || !bytes.Equal(s1.Data[TLSKeyKey], data[TLSKeyKey]) {
		t.Error("the serving certificate changed before the new CA was trusted")
	}
	if len(s1.Replaced) > 0 {
		t.Errorf("a rotation is reported as a replacement: %v", s1.Replaced)
	}
	if !s1.NextCheck.Equal(at.Add(cfg.TrustDelay)) {
		t.Errorf("next check %s, want %s", s1.NextCheck, at.Add(cfg.TrustDelay))
	}
	// Still waiting while the webhooks have had the new CA for less than TrustDelay.
	newCA := s1.Signer
	injectedAt := at.Add(time.Second)
	trust := func(c *x509.Certificate) (time.Time, bool) {
		if c.Equal(newCA) {
			return injectedAt, true
		}
		return t0, true
	}
	if s := decide(t, s1.Data, cfg, injectedAt.Add(cfg.TrustDelay/2), trust); s.Changed || s.Pending == "" {
		t.Errorf("switched before TrustDelay: changed %v, pending %q", s.Changed, s.Pending)
	}

	// Step 2: trusted long enough: a serving certificate signed by the new CA; the old CA stays.
	s2 := decide(t, s1.Data, cfg, injectedAt.Add(cfg.TrustDelay), trust)
	if !s2.Changed || s2.NewCA != "" || !strings.Contains(s2.NewServing, "previous CA") {
		t.Fatalf("rotation step 2: CA %q, serving %q, pending %q", s2.NewCA, s2.NewServing, s2.Pending)
	}
	if s2.Serving.CheckSignatureFrom(newCA) != nil {
		t.Error("the new serving certificate is not signed by the new CA")
	}
	if b := bundleOf(t, s2); len(b) != 2 || !b[0].Equal(newCA) || !b[1].Equal(oldCA) {
		t.Errorf("bundle after the switch: %d CAs", len(b))
	}
	if s2.NextCheck.After(oldCA.NotAfter) {
		t.Errorf("next check %s after the old CA expires (%s): it would not be pruned on time", s2.NextCheck, oldCA.NotAfter)
	}

	// Step 3: the old CA expires and leaves the bundle; nothing else changes.
	s3 := decide(t, s2.Data, cfg, oldCA.NotAfter.Add(time.Second), trust)
	if !s3.Changed || len(s3.Pruned) != 1 || !s3.Pruned[0].Equal(oldCA) || s3.NewCA != "" || s3.NewServing != "" {
		t.Fatalf("pruning: changed %v, pruned %d, CA %q, serving %q", s3.Changed, len(s3.Pruned), s3.NewCA, s3.NewServing)
	}
	if b := bundleOf(t, s3); len(b) != 1 || !b[0].Equal(newCA) {
		t.Errorf("bundle after the old CA expired: %d CAs", len(b))
	}
}

func TestDecideReplacesUnusable(t *testing.T) {
	cfg := testConfig()
	now := time.Now()
	good := decide(t, nil, cfg, now, never).Data
	otherCA, _ := NewCA(now, time.Hour*24*365)
	otherLeaf, _ := NewServing(otherCA, testNames, now, time.Hour)
	otherNames, _ := NewServing(ParseSecret(good).Signer, ServiceNames("other", "elsewhere", nil, nil), now, time.Hour)
	expiredLeaf, _ := NewServing(ParseSecret(good).Signer, testNames, now.Add(-2*time.Hour), time.Hour)
	with := func(kv ...string) map[string][]byte {
		d := map[string][]byte{}
		for k, v := range good {
			d[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			d[kv[i]] = []byte(kv[i+1])
		}
		return d
	}
	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		newCA   bool   // a new CA replaces the old one
		problem string // in Replaced
	}{
		{"garbage everywhere", map[string][]byte{TLSCertKey: []byte("garbage"), TLSKeyKey: []byte("x"), CACertKey: []byte("junk"), CAKeyKey: []byte("junk")}, true, "ca.crt: not PEM"},
		{"garbage serving certificate", with(TLSCertKey, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), false, "tls.crt/tls.key: certificate:"},
		{"serving key of another certificate", with(TLSKeyKey, string(otherLeaf.KeyPEM)), false, "does not match"},
		{"serving certificate from another CA", with(TLSCertKey, string(otherLeaf.CertPEM), TLSKeyKey, string(otherLeaf.KeyPEM)), false, "signed by no CA of ca.crt"},
		{"serving certificate for other names", with(TLSCertKey, string(otherNames.CertPEM), TLSKeyKey, string(otherNames.KeyPEM)), false, "is for other.elsewhere.svc"},
		{"expired serving certificate", with(TLSCertKey, string(expiredLeaf.CertPEM), TLSKeyKey, string(expiredLeaf.KeyPEM)), false, "expired at"},
		{"no CA", with(CACertKey, "", CAKeyKey, ""), true, "no usable CA: ca.crt and ca.key are missing"},
		{"CA certificate that is no CA", with(CACertKey, string(otherLeaf.CertPEM)), true, "holds no CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := decide(t, tc.data, cfg, now, always)
			if !p.Changed || p.NewServing == "" {
				t.Fatalf("not replaced: changed %v, serving %q, replaced %v", p.Changed, p.NewServing, p.Replaced)
			}
			if !strings.Contains(strings.Join(p.Replaced, "; "), tc.problem) {
				t.Errorf("replaced %q, want it to name %q", p.Replaced, tc.problem)
			}
			if keptCA := bytes.Equal(p.Data[CAKeyKey], good[CAKeyKey]); keptCA == tc.newCA {
				t.Errorf("new CA: %v, want %v (%q)", !keptCA, tc.newCA, p.NewCA)
			}
			if p.Serving.CheckSignatureFrom(p.Signer) != nil || !NamesOf(p.Serving).Equal(testNames) {
				t.Error("the new serving certificate is not for our names from our CA")
			}
		})
	}

	// A lost CA key while the serving certificate is fine: the new CA joins the old one in
	// the bundle and the serving certificate waits for it, as in a rotation.
	for name, data := range map[string]map[string][]byte{
		"garbage CA key":       with(CAKeyKey, "garbage"),
		"CA key of another CA": with(CAKeyKey, string(otherCA.KeyPEM)),
	} {
		p := decide(t, data, cfg, now, always)
		if p.NewCA == "" || len(p.Replaced) != 1 || p.NewServing != "" || p.Pending == "" || len(bundleOf(t, p)) != 2 {
			t.Errorf("%s: CA %q, replaced %q, serving %q, pending %q, %d CAs", name, p.NewCA, p.Replaced, p.NewServing, p.Pending, len(bundleOf(t, p)))
		}
	}
}

func TestParseSecret(t *testing.T) {
	st := ParseSecret(nil)
	if st.CAProblem != missingCA || st.ServingProblem != "missing" {
		t.Errorf("empty Secret: %q, %q", st.CAProblem, st.ServingProblem)
	}
	// PKCS #8 keys are read too.
	ca, _ := NewCA(time.Now(), time.Hour)
	if _, err := ParseKeyPair(ca.CertPEM, []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOq\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Error("a broken PKCS #8 key was accepted")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	now := time.Now()
	ca, _ := NewCA(now, time.Hour)
	first, _ := NewServing(ca, testNames, now, time.Hour)
	if err := WriteFiles(dir, map[string][]byte{TLSCertKey: first.CertPEM, TLSKeyKey: first.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, TLSCertKey)); !bytes.Equal(got, first.CertPEM) {
		t.Fatal("tls.crt is not the certificate written")
	}
	if fi, err := os.Stat(filepath.Join(dir, TLSKeyKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tls.key: %v, mode %v", err, fi.Mode())
	}

	// certwatcher, as the webhook server runs it, picks up the next pair.
	cw, err := certwatcher.New(filepath.Join(dir, TLSCertKey), filepath.Join(dir, TLSKeyKey))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = cw.Start(ctx) }()
	time.Sleep(100 * time.Millisecond) // the watches are added
	for i := range 3 {
		next, _ := NewServing(ca, testNames, time.Now(), time.Hour)
		start := time.Now()
		if err := WriteFiles(dir, map[string][]byte{TLSCertKey: next.CertPEM, TLSKeyKey: next.KeyPEM}); err != nil {
			t.Fatal(err)
		}
		for {
			c, _ := cw.GetCertificate(nil)
			if c != nil && bytes.Equal(c.Certificate[0], next.Cert.Raw) {
				t.Logf("swap %d: certwatcher serves the new certificate %s after the write", i+1, time.Since(start).Round(time.Microsecond))
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("swap %d: certwatcher still serves the old certificate", i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A directory left by a process that stopped half-way goes with the next write.
	if err := os.Mkdir(filepath.Join(dir, "..tls_stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir, map[string][]byte{TLSCertKey: first.CertPEM, TLSKeyKey: first.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 { // ..data, one ..tls_ directory, tls.crt, tls.key
		t.Errorf("left behind in %s: %v", dir, names)
	}
	if err := WriteFiles(dir, map[string][]byte{"../x": nil}); err == nil {
		t.Error("a file name outside the directory was accepted")
	}
}
