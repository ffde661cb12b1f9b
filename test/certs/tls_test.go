package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// twoReplicas starts two replicas with leader election, the validating webhook calling the
// first and the mutating webhook the second (each through a counting proxy), so that every
// request goes through both: leader and follower serve the Secret's certificate.
func twoReplicas(t *testing.T, e *env, o tlscerts.Options) (a, b *replica, pa, pb *proxy, readyA, readyB *readiness) {
	t.Helper()
	portA, portB := framework.FreePortT(t), framework.FreePortT(t)
	pa = startProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(portA)))
	pb = startProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(portB)))
	e.createWebhooks(pa.port, pb.port)
	a = e.start("replica-a", portA, true, o)
	b = e.start("replica-b", portB, true, o)
	// Whatever the moment a replica reports ready, the certificate it serves is already
	// trusted by the caBundle of every webhook: the apiserver can call it.
	check := func(r *replica) func() error {
		return func() error {
			c, err := served(r.addr)
			if err != nil {
				return err
			}
			return e.trusts(e.bundles(), c)
		}
	}
	readyA, readyB = watchReady(a.readyz, check(a)), watchReady(b.readyz, check(b))
	return a, b, pa, pb, readyA, readyB
}

// TestBuiltinTLS: two replicas (leader election) as the ServiceAccount with the chart's
// permissions create the Secret, inject the bundle into both webhook configurations (created
// without one), the apiserver calls them and trusts them, /readyz turns 200 only then; then a
// forced renewal of the serving certificate under load fails no request.
func TestBuiltinTLS(t *testing.T) {
	e := newEnv(t, "tls-renew")
	start := time.Now()
	a, b, pa, pb, readyA, readyB := twoReplicas(t, e, e.tlsOptions())

	data, created := e.waitSecret(60*time.Second, "a CA and a serving certificate", func(st tlscerts.State, _ map[string][]byte) bool {
		return st.Signer != nil && st.Serving != nil
	})
	st := tlscerts.ParseSecret(data)
	sec, err := admin.CoreV1().Secrets(e.names.Namespace).Get(context.Background(), e.names.TLSSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %q, want %q", sec.Type, corev1.SecretTypeTLS)
	}
	for _, k := range []string{tlscerts.TLSCertKey, tlscerts.TLSKeyKey, tlscerts.CACertKey, tlscerts.CAKeyKey} {
		if len(data[k]) == 0 {
			t.Errorf("Secret lacks %s", k)
		}
	}
	wantNames := []string{"bulwark.tls-renew.svc", "bulwark.tls-renew.svc.cluster.local"}
	leaf, ca := st.Serving.Cert, st.Signer.Cert
	if strings.Join(leaf.DNSNames, ",") != strings.Join(wantNames, ",") || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("serving certificate for %v %v, want %v and 127.0.0.1", leaf.DNSNames, leaf.IPAddresses, wantNames)
	}
	for name, c := range map[string]*x509.Certificate{"CA": ca, "serving": leaf} {
		if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Errorf("%s key is not ECDSA P-256", name)
		}
	}
	caYears := ca.NotAfter.Sub(created).Hours() / 24 / 365
	leafDays := leaf.NotAfter.Sub(created).Hours() / 24
	if caYears < 9.99 || caYears > 10.01 || leafDays < 364.9 || leafDays > 365.1 || len(st.Bundle) != 1 || leaf.CheckSignatureFrom(ca) != nil {
		t.Errorf("CA for %.2f years, serving certificate for %.1f days, %d CAs in ca.crt", caYears, leafDays, len(st.Bundle))
	}
	injected := e.waitBundles(30*time.Second, data[tlscerts.CACertKey])
	denied := e.waitDenied(60 * time.Second)
	atA, atB := readyA.wait(t, "replica-a"), readyB.wait(t, "replica-b")
	for _, r := range []*replica{a, b} {
		waitServed(t, r.addr, leaf, 10*time.Second)
	}
	t.Logf("bring-up: Secret created %s after start, bundle in both configurations %s, first denial through the apiserver %s; "+
		"/readyz 200 after %s (replica-a, %d not-ready answers before) and %s (replica-b, %d before)",
		ms(created.Sub(start)), ms(injected.Sub(start)), ms(denied.Sub(start)),
		ms(atA.Sub(start)), readyA.notReady, ms(atB.Sub(start)), readyB.notReady)

	if l, err := admin.CoordinationV1().Leases(e.names.Namespace).Get(context.Background(), server.LeaderElectionID, metav1.GetOptions{}); err != nil {
		t.Errorf("no Lease %s: %v", server.LeaderElectionID, err)
	} else if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		t.Errorf("Lease %s has no holder", server.LeaderElectionID)
	} else {
		t.Logf("leader: %s", *l.Spec.HolderIdentity)
	}

	// Forced renewal: the Secret gets a serving certificate (from the same CA) at 5/6 of its
	// lifetime; the leader replaces it at once while the load runs.
	l := e.startLoad()
	time.Sleep(time.Second)
	names := tlscerts.ServiceNames("bulwark", e.names.Namespace, nil, []net.IP{net.ParseIP("127.0.0.1")})
	old, err := tlscerts.NewServing(st.Signer, names, time.Now().Add(-50*time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sec.Data[tlscerts.TLSCertKey], sec.Data[tlscerts.TLSKeyKey] = old.CertPEM, old.KeyPEM
	if _, err := admin.CoreV1().Secrets(e.names.Namespace).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	edited := time.Now()
	data, renewed := e.waitSecret(30*time.Second, "a renewed serving certificate", func(st tlscerts.State, _ map[string][]byte) bool {
		return st.Serving != nil && !st.Serving.Cert.Equal(old.Cert) && !st.Serving.Cert.Equal(leaf)
	})
	next := tlscerts.ParseSecret(data)
	servedA := waitServed(t, a.addr, next.Serving.Cert, 30*time.Second)
	servedB := waitServed(t, b.addr, next.Serving.Cert, 30*time.Second)
	switched := servedA
	if servedB.After(switched) {
		switched = servedB
	}
	time.Sleep(2 * time.Second)
	ok, failed, took, errs := l.finish()
	t.Logf("renewal: the leader wrote the new serving certificate %s after the edit; replica-a served it %s and replica-b %s after the edit",
		ms(renewed.Sub(edited)), ms(servedA.Sub(edited)), ms(servedB.Sub(edited)))
	t.Logf("load: %d requests in %s (%.0f/s), %d failed; the apiserver opened %d new connections to replica-a and %d to replica-b after both served the new certificate",
		ok+failed, ms(took), float64(ok+failed)/took.Seconds(), failed, pa.openedSince(switched), pb.openedSince(switched))
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the renewal, first: %s", failed, ok+failed, strings.Join(errs, "\n"))
	}
	if pa.openedSince(switched)+pb.openedSince(switched) == 0 {
		t.Error("the apiserver opened no connection after the switch: the new certificate was never presented to it")
	}
	if !next.Signer.Cert.Equal(ca) || !bytes.Equal(data[tlscerts.CACertKey], sec.Data[tlscerts.CACertKey]) {
		t.Error("a serving renewal changed the CA")
	}
	if next.Serving.Cert.CheckSignatureFrom(ca) != nil || !tlscerts.NamesOf(next.Serving.Cert).Equal(names) {
		t.Error("the renewed serving certificate is not for the Service from the CA")
	}
	if err := e.trusts(e.bundles(), next.Serving.Cert); err != nil {
		t.Error(err)
	}

	// Failover: the leader stops (releasing the Lease); the other replica takes over and renews.
	leader, follower := a, b
	if !strings.Contains(a.logs.String(), `"msg":"serving certificate issued"`) {
		leader, follower = b, a
	}
	if strings.Contains(follower.logs.String(), `"msg":"serving certificate issued"`) {
		t.Fatal("both replicas issued certificates: two leaders")
	}
	if err := leader.stop(); err != nil {
		t.Fatalf("stopping %s: %v", leader.name, err)
	}
	stopped := time.Now()
	old, err = tlscerts.NewServing(next.Signer, names, time.Now().Add(-50*time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sec, err = admin.CoreV1().Secrets(e.names.Namespace).Get(context.Background(), e.names.TLSSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.Data[tlscerts.TLSCertKey], sec.Data[tlscerts.TLSKeyKey] = old.CertPEM, old.KeyPEM
	if _, err := admin.CoreV1().Secrets(e.names.Namespace).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	data, renewed = e.waitSecret(60*time.Second, "a serving certificate renewed by the new leader", func(st tlscerts.State, _ map[string][]byte) bool {
		return st.Serving != nil && !st.Serving.Cert.Equal(old.Cert) && !st.Serving.Cert.Equal(next.Serving.Cert)
	})
	// The log line follows the write the Secret shows.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(follower.logs.String(), `"msg":"serving certificate issued"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%s did not take over", follower.name)
			break
		}
	}
	servedF := waitServed(t, follower.addr, tlscerts.ParseSecret(data).Serving.Cert, 10*time.Second)
	t.Logf("failover: %s stopped; %s renewed the edited certificate %s later and served it %s after that",
		leader.name, follower.name, ms(renewed.Sub(stopped)), ms(servedF.Sub(renewed)))
}

// TestCARotation: with a CA valid for 30s, the leader rotates it at 2/3 of its lifetime: the
// bundle of new and old CA goes into every webhook first, the serving certificate signed by
// the new CA follows, the old CA leaves the bundle when it expires; the load fails no request.
func TestCARotation(t *testing.T) {
	e := newEnv(t, "tls-rotate")
	o := e.tlsOptions()
	o.CAValidity = 30 * time.Second
	o.TrustDelay = 2 * time.Second
	a, b, pa, pb, readyA, readyB := twoReplicas(t, e, o)
	data, _ := e.waitSecret(60*time.Second, "a CA and a serving certificate", func(st tlscerts.State, _ map[string][]byte) bool {
		return st.Signer != nil && st.Serving != nil
	})
	first := tlscerts.ParseSecret(data)
	oldCA := first.Signer.Cert
	readyA.wait(t, "replica-a")
	readyB.wait(t, "replica-b")
	e.waitDenied(30 * time.Second)
	if time.Until(tlscerts.RenewAt(oldCA)) < 2*time.Second {
		t.Fatalf("bring-up took until %s: too late to watch the rotation at %s", time.Now(), tlscerts.RenewAt(oldCA))
	}
	t.Logf("CA %s valid until %s, to be rotated at %s", oldCA.Subject.CommonName, oldCA.NotAfter.Format("15:04:05.000"),
		tlscerts.RenewAt(oldCA).Format("15:04:05.000"))

	l := e.startLoad()
	// Step 1: the new CA signs from now on, ca.crt holds both, and so does every caBundle.
	data, rotated := e.waitSecret(60*time.Second, "a second CA", func(st tlscerts.State, _ map[string][]byte) bool {
		return len(st.Bundle) == 2
	})
	mid := tlscerts.ParseSecret(data)
	newCA := mid.Signer.Cert
	if newCA.Equal(oldCA) || !mid.Bundle[1].Equal(oldCA) {
		t.Fatalf("ca.crt during the rotation: want [new, old]")
	}
	if !mid.Serving.Cert.Equal(first.Serving.Cert) && mid.Serving.Cert.CheckSignatureFrom(oldCA) != nil {
		t.Error("the serving certificate changed to the new CA together with the bundle")
	}
	injected := e.waitBundles(30*time.Second, data[tlscerts.CACertKey])
	// Step 2: a serving certificate from the new CA, only once every caBundle holds it.
	data, switched := e.waitSecret(60*time.Second, "a serving certificate from the new CA", func(st tlscerts.State, _ map[string][]byte) bool {
		return st.Serving != nil && st.Serving.Cert.CheckSignatureFrom(newCA) == nil
	})
	leaf := tlscerts.ParseSecret(data).Serving.Cert
	if err := e.trusts(e.bundles(), leaf); err != nil {
		t.Errorf("the serving certificate from the new CA is in the Secret before the bundle trusts it: %v", err)
	}
	servedA := waitServed(t, a.addr, leaf, 30*time.Second)
	servedB := waitServed(t, b.addr, leaf, 30*time.Second)
	servedBoth := servedA
	if servedB.After(servedBoth) {
		servedBoth = servedB
	}
	// Step 3: the old CA expires and leaves ca.crt and every caBundle.
	data, pruned := e.waitSecret(60*time.Second, "the old CA dropped", func(st tlscerts.State, _ map[string][]byte) bool {
		return len(st.Bundle) == 1 && st.Bundle[0].Equal(newCA)
	})
	prunedInjected := e.waitBundles(30*time.Second, data[tlscerts.CACertKey])
	time.Sleep(2 * time.Second)
	ok, failed, took, errs := l.finish()

	t.Logf("rotation: new CA in the Secret at %s (%s after the 2/3 mark), in every caBundle %s later; serving certificate from the new CA %s after that (TrustDelay %s), served by replica-a %s and replica-b %s after it was written",
		rotated.Format("15:04:05.000"), ms(rotated.Sub(tlscerts.RenewAt(oldCA))), ms(injected.Sub(rotated)),
		ms(switched.Sub(injected)), o.TrustDelay, ms(servedA.Sub(switched)), ms(servedB.Sub(switched)))
	t.Logf("old CA dropped from the Secret %s after it expired, from every caBundle %s later",
		ms(pruned.Sub(oldCA.NotAfter)), ms(prunedInjected.Sub(pruned)))
	t.Logf("load: %d requests in %s (%.0f/s), %d failed; the apiserver opened %d new connections to replica-a and %d to replica-b after both served the certificate from the new CA, %d and %d after the old CA left the bundle",
		ok+failed, ms(took), float64(ok+failed)/took.Seconds(), failed,
		pa.openedSince(servedBoth), pb.openedSince(servedBoth), pa.openedSince(prunedInjected), pb.openedSince(prunedInjected))
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the CA rotation, first: %s", failed, ok+failed, strings.Join(errs, "\n"))
	}
	if pa.openedSince(servedBoth)+pb.openedSince(servedBoth) == 0 {
		t.Error("the apiserver opened no connection after the switch: the new certificate was never presented to it")
	}
}

// TestReplacesUnusableSecret: a Secret holding garbage, then one holding a certificate for
// other names, is replaced (a log line and a Warning Event say why); without leader election.
func TestReplacesUnusableSecret(t *testing.T) {
	e := newEnv(t, "tls-garbage")
	ctx := context.Background()
	_, err := admin.CoreV1().Secrets(e.names.Namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: e.names.TLSSecret},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			tlscerts.TLSCertKey: []byte("not a certificate"), tlscerts.TLSKeyKey: []byte("not a key"),
			tlscerts.CACertKey: []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := framework.FreePortT(t)
	e.createWebhooks(port, port)
	r := e.start("replica", port, false, e.tlsOptions())
	data, _ := e.waitSecret(60*time.Second, "a usable CA and serving certificate", func(st tlscerts.State, _ map[string][]byte) bool {
		return st.Signer != nil && st.Serving != nil
	})
	e.waitDenied(60 * time.Second)
	logs := r.logs.String()
	for _, want := range []string{`"msg":"replacing unusable content of the TLS Secret"`, `no usable CA: ca.crt:`, `no usable serving certificate: tls.crt/tls.key: certificate: not PEM`,
		`"msg":"no usable certificate in the TLS Secret yet: serving a temporary one`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	waitEvent(t, e.names.Namespace, tlscerts.ReasonSecretReplaced, "no usable CA")

	// A certificate for other names, from the same CA: only the serving certificate is replaced.
	st := tlscerts.ParseSecret(data)
	other, err := tlscerts.NewServing(st.Signer, tlscerts.ServiceNames("other", "elsewhere", nil, nil), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := admin.CoreV1().Secrets(e.names.Namespace).Get(ctx, e.names.TLSSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.Data[tlscerts.TLSCertKey], sec.Data[tlscerts.TLSKeyKey] = other.CertPEM, other.KeyPEM
	if _, err := admin.CoreV1().Secrets(e.names.Namespace).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	data, _ = e.waitSecret(30*time.Second, "a serving certificate for the Service", func(st tlscerts.State, _ map[string][]byte) bool {
		return st.Serving != nil && !st.Serving.Cert.Equal(other.Cert) && len(st.Serving.Cert.DNSNames) > 0 && st.Serving.Cert.DNSNames[0] == "bulwark.tls-garbage.svc"
	})
	if !bytes.Equal(data[tlscerts.CAKeyKey], sec.Data[tlscerts.CAKeyKey]) {
		t.Error("the CA was replaced too")
	}
	if !strings.Contains(r.logs.String(), "the serving certificate is for other.elsewhere.svc, other.elsewhere.svc.cluster.local, not bulwark.tls-garbage.svc") {
		t.Error("no log line names the wrong names")
	}
	waitServed(t, r.addr, tlscerts.ParseSecret(data).Serving.Cert, 10*time.Second)
	e.waitDenied(30 * time.Second)
}

// waitEvent waits for an Event with reason whose note contains text in ns.
func waitEvent(t *testing.T, ns, reason, text string) {
	t.Helper()
	var seen []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list, err := admin.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen = seen[:0]
		for _, ev := range list.Items {
			seen = append(seen, ev.Reason+": "+ev.Note)
			if ev.Reason == reason && strings.Contains(ev.Note, text) && ev.Regarding.Kind == "Secret" {
				return
			}
		}
	}
	t.Errorf("no %s Event mentioning %q; events: %q", reason, text, seen)
}

// TestServiceAccountIsRestricted: the ServiceAccount the other tests run as holds no more than
// the chart's rules, so that their passing shows those rules suffice: it may read and watch
// its own Secret (by name) but no other, and may not list or touch other webhook configurations.
func TestServiceAccountIsRestricted(t *testing.T) {
	e := newEnv(t, "tls-rbac")
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(e.saConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Secrets(e.names.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(e.names.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: e.names.TLSSecret}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("create the TLS Secret: %v", err)
	}
	allowed := map[string]error{}
	_, allowed["get the TLS Secret"] = cs.CoreV1().Secrets(e.names.Namespace).Get(ctx, e.names.TLSSecret, metav1.GetOptions{})
	_, allowed["list the TLS Secret by name"] = cs.CoreV1().Secrets(e.names.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + e.names.TLSSecret})
	for what, err := range allowed {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	denied := map[string]error{}
	_, denied["get another Secret"] = cs.CoreV1().Secrets(e.names.Namespace).Get(ctx, "someone-elses", metav1.GetOptions{})
	_, denied["list every Secret"] = cs.CoreV1().Secrets(e.names.Namespace).List(ctx, metav1.ListOptions{})
	_, denied["list Secrets elsewhere"] = cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + e.names.TLSSecret})
	_, denied["list webhook configurations"] = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	_, denied["get another webhook configuration"] = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "someone-elses", metav1.GetOptions{})
	denied["delete a Lease"] = cs.CoordinationV1().Leases(e.names.Namespace).Delete(ctx, server.LeaderElectionID, metav1.DeleteOptions{})
	for what, err := range denied {
		if err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("%s: want forbidden, got %v", what, err)
		}
	}
}
