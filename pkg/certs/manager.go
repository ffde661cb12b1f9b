package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Event reasons on the Secret.
const (
	ReasonCertificatesUpdated = "CertificatesUpdated"
	ReasonSecretReplaced      = "TLSSecretReplaced"
)

// DefaultResync is how often the leader rereads the webhook configurations (it may get and
// update them by name, not watch them) to put back a caBundle that something removed.
const DefaultResync = time.Minute

// retryMissing is how soon the leader looks again for a webhook configuration that does not
// exist (yet).
const retryMissing = 5 * time.Second

// Options configure the Manager.
type Options struct {
	// SecretName and Namespace name the Secret holding the CA and the serving certificate.
	SecretName string
	Namespace  string
	// ServiceName is the Service in front of the webhook: the certificate is for
	// SERVICE.NAMESPACE.svc and SERVICE.NAMESPACE.svc.cluster.local, and ExtraDNSNames and
	// ExtraIPs (tests, webhooks called by URL).
	ServiceName   string
	ExtraDNSNames []string
	ExtraIPs      []net.IP
	// WebhookConfigName names the ValidatingWebhookConfiguration and the
	// MutatingWebhookConfiguration whose webhooks get the CA bundle.
	WebhookConfigName string
	// CertDir receives tls.crt and tls.key; WebhookAddr (host:port) is where the webhook
	// server serves them, for the readiness check.
	CertDir     string
	WebhookAddr string
	// Lifetimes of new certificates: DefaultCAValidity and DefaultCertValidity when zero.
	CAValidity   time.Duration
	CertValidity time.Duration
	// TrustDelay is how long a new CA must have been in every webhook's caBundle before a
	// serving certificate it signed is written (the apiservers' informers must see it);
	// DefaultTrustDelay when zero.
	TrustDelay time.Duration
	// Resync is DefaultResync when zero.
	Resync time.Duration
	Log    logr.Logger
}

// Manager keeps the Secret, the certificate files and the webhook configurations' CA bundle.
// Every replica writes the Secret's serving certificate to CertDir; only the leader creates,
// renews and injects.
type Manager struct {
	o      Options
	cfg    Config
	key    types.NamespacedName
	log    logr.Logger
	cache  client.Reader // the manager's cache: only this Secret
	api    client.Reader // straight from the apiserver
	client client.Client
	events recorder.EventRecorder

	filesMu sync.Mutex
	written []byte // the tls.crt last written to CertDir

	trustMu sync.Mutex
	trusted map[string]time.Time // CA fingerprint -> first seen in every webhook's caBundle

	readyMu sync.Mutex
	readyFP string // the served certificate last found trusted by every webhook
}

// New checks the options and fills in the defaults.
func New(o Options) (*Manager, error) {
	var errs []string
	if o.SecretName == "" {
		errs = append(errs, "no Secret name")
	} else if msgs := validation.IsDNS1123Subdomain(o.SecretName); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("Secret name %q: %s", o.SecretName, strings.Join(msgs, "; ")))
	}
	if o.Namespace == "" {
		errs = append(errs, "no namespace")
	} else if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("namespace %q: %s", o.Namespace, strings.Join(msgs, "; ")))
	}
	if o.ServiceName == "" {
		errs = append(errs, "no Service name")
	} else if msgs := validation.IsDNS1035Label(o.ServiceName); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("Service name %q: %s", o.ServiceName, strings.Join(msgs, "; ")))
	}
	if o.WebhookConfigName == "" {
		errs = append(errs, "no webhook configuration name")
	}
	if o.CertDir == "" {
		errs = append(errs, "no certificate directory")
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, ", "))
	}
	if o.CAValidity <= 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity <= 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.TrustDelay <= 0 {
		o.TrustDelay = DefaultTrustDelay
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	return &Manager{
		o: o,
		cfg: Config{
			Names:      ServiceNames(o.ServiceName, o.Namespace, o.ExtraDNSNames, o.ExtraIPs),
			CAValidity: o.CAValidity, CertValidity: o.CertValidity, TrustDelay: o.TrustDelay,
		},
		key:     types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		log:     o.Log,
		trusted: map[string]time.Time{},
	}, nil
}

// CacheConfig scopes the manager's cache for Secrets to the one Secret (a field selector on
// metadata.name), so that list and watch need no permission on other Secrets.
func (m *Manager) CacheConfig() (client.Object, cache.ByObject) {
	return &corev1.Secret{}, cache.ByObject{Namespaces: map[string]cache.Config{m.key.Namespace: {
		FieldSelector: fields.OneTermEqualSelector("metadata.name", m.key.Name),
	}}}
}

// Bootstrap writes the certificate files before the webhook server starts (it fails without
// them): the Secret's serving certificate, read with c (not a cache), or, when the Secret does
// not exist or holds no usable one yet, a temporary self-signed certificate that nothing
// trusts; the replica is not ready until the leader's certificate replaces it.
func (m *Manager) Bootstrap(ctx context.Context, c client.Reader) error {
	var s corev1.Secret
	err := c.Get(ctx, m.key, &s)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading the TLS Secret %s: %w", m.key, err)
	default:
		if ok, err := m.writeServing(s.Data); err != nil {
			return err
		} else if ok {
			return nil
		}
	}
	now := time.Now()
	ca, err := NewCA(now, 24*time.Hour)
	if err != nil {
		return err
	}
	tmp, err := NewServing(ca, m.cfg.Names, now, 24*time.Hour)
	if err != nil {
		return err
	}
	if err := WriteFiles(m.o.CertDir, map[string][]byte{TLSCertKey: tmp.CertPEM, TLSKeyKey: tmp.KeyPEM}); err != nil {
		return fmt.Errorf("writing a temporary certificate to %s: %w", m.o.CertDir, err)
	}
	m.log.Info("no usable certificate in the TLS Secret yet: serving a temporary one, not ready until the leader has written the Secret",
		"secret", m.key.String())
	return nil
}

// writeServing writes the Secret's serving certificate to CertDir unless it is already there.
// false when the data holds no usable certificate.
func (m *Manager) writeServing(data map[string][]byte) (bool, error) {
	kp, err := ParseKeyPair(data[TLSCertKey], data[TLSKeyKey])
	if err != nil {
		m.log.Info("the TLS Secret holds no usable serving certificate: the files stay as they are",
			"secret", m.key.String(), "problem", err.Error())
		return false, nil
	}
	m.filesMu.Lock()
	defer m.filesMu.Unlock()
	if bytes.Equal(m.written, kp.CertPEM) {
		return true, nil
	}
	if err := WriteFiles(m.o.CertDir, map[string][]byte{TLSCertKey: kp.CertPEM, TLSKeyKey: kp.KeyPEM}); err != nil {
		return false, fmt.Errorf("writing the serving certificate to %s: %w", m.o.CertDir, err)
	}
	m.written = kp.CertPEM
	m.log.Info("serving certificate written", "dir", m.o.CertDir, "serial", kp.Cert.SerialNumber.Text(16),
		"issuer", kp.Cert.Issuer.CommonName, "notAfter", kp.Cert.NotAfter.UTC())
	return true, nil
}

// Setup adds to mgr, the manager every replica runs, the controller that writes the Secret's
// serving certificate to CertDir whenever it changes, and takes from it the clients that
// ReadyCheck and the leader's controller (SetupLeader) use. mgr's cache must be scoped to the
// Secret by CacheConfig.
func (m *Manager) Setup(mgr manager.Manager) error {
	m.cache = mgr.GetCache()
	m.api = mgr.GetAPIReader()
	m.client = mgr.GetClient()
	m.events = mgr.GetEventRecorder("bulwark")
	return ctrl.NewControllerManagedBy(mgr).Named("tls-files").
		For(&corev1.Secret{}, builder.WithPredicates(m.ours())).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), SkipNameValidation: ptr.To(true)}).
		Complete(reconcile.Func(m.reconcileFiles))
}

// SetupLeader adds to mgr the leader's controller, which keeps the Secret and the CA bundle and
// looks again before the next renewal is due. mgr may be the manager of Setup or one that
// runs only while its replica holds the leader's Lease (its cache scoped by CacheConfig too);
// it may be called again for each new manager, and needs Setup to have run.
func (m *Manager) SetupLeader(mgr manager.Manager) error {
	if m.api == nil {
		return errors.New("the leader's certificate controller set up before Setup: it uses the clients Setup takes")
	}
	// The Secret may not exist yet: the leader looks once when it starts, then on every
	// change of the Secret and when it asked to be called back.
	kick := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{NamespacedName: m.key})
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).Named("tls-certificates").
		For(&corev1.Secret{}, builder.WithPredicates(m.ours())).
		WatchesRawSource(kick).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(true), SkipNameValidation: ptr.To(true)}).
		Complete(reconcile.Func(m.reconcileSecret))
}

// ours selects the Secret.
func (m *Manager) ours() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == m.key.Namespace && obj.GetName() == m.key.Name
	})
}

func (m *Manager) reconcileFiles(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.NamespacedName != m.key {
		return reconcile.Result{}, nil
	}
	var s corev1.Secret
	if err := m.cache.Get(ctx, m.key, &s); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	_, err := m.writeServing(s.Data)
	return reconcile.Result{}, err
}

// reconcileSecret runs on the leader: it brings the Secret to its planned content, then every
// webhook's caBundle to the Secret's ca.crt.
func (m *Manager) reconcileSecret(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.NamespacedName != m.key {
		return reconcile.Result{}, nil
	}
	// Read straight from the apiserver: a cache a step behind our last write must not
	// take a CA out of the webhooks' bundle.
	var s corev1.Secret
	exists := true
	if err := m.api.Get(ctx, m.key, &s); apierrors.IsNotFound(err) {
		exists = false
	} else if err != nil {
		return reconcile.Result{}, fmt.Errorf("reading the TLS Secret: %w", err)
	}
	configs, missing, err := m.readWebhooks(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	m.observe(configs, time.Now())
	now := time.Now()
	plan, err := Decide(s.Data, m.cfg, now, m.trustedSince)
	if err != nil {
		return reconcile.Result{}, err
	}
	if plan.Changed {
		if err := m.writeSecret(ctx, &s, exists, plan); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
				m.log.V(1).Info("the TLS Secret changed meanwhile; looking again", "secret", m.key.String())
				return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
			}
			return reconcile.Result{}, err
		}
	} else if plan.Pending != "" {
		m.log.V(1).Info("serving certificate renewal pending", "reason", plan.Pending)
	}
	if err := m.inject(ctx, configs, plan.Bundle); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		return reconcile.Result{}, err
	}
	if len(configs) > 0 {
		m.markTrusted(plan.Bundle, time.Now())
	}
	after := min(time.Until(plan.NextCheck), m.o.Resync)
	if len(missing) > 0 {
		m.log.Info("webhook configuration not found; the CA bundle goes in once it exists", "missing", missing)
		after = min(after, retryMissing)
	}
	return reconcile.Result{RequeueAfter: max(after, 100*time.Millisecond)}, nil
}

func (m *Manager) writeSecret(ctx context.Context, s *corev1.Secret, exists bool, plan *Plan) error {
	if len(plan.Replaced) > 0 {
		m.log.Error(nil, "replacing unusable content of the TLS Secret", "secret", m.key.String(), "problems", plan.Replaced)
	}
	if !exists {
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: m.key.Name, Namespace: m.key.Namespace, Labels: map[string]string{
				"app.kubernetes.io/managed-by": "bulwark", "app.kubernetes.io/component": "webhook-tls",
			}},
			Type: corev1.SecretTypeTLS,
		}
	}
	s.Data = plan.Data
	var err error
	if exists {
		err = m.client.Update(ctx, s)
	} else {
		err = m.client.Create(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("writing the TLS Secret %s: %w", m.key, err)
	}
	var what []string
	if plan.NewCA != "" {
		what = append(what, "new CA "+plan.Signer.Subject.CommonName+" ("+plan.NewCA+")")
		m.log.Info("CA created", "secret", m.key.String(), "ca", plan.Signer.Subject.CommonName, "reason", plan.NewCA,
			"notAfter", plan.Signer.NotAfter.UTC(), "bundle", len(bundleNames(plan.Bundle)))
	}
	if plan.NewServing != "" {
		what = append(what, "new serving certificate ("+plan.NewServing+")")
		m.log.Info("serving certificate issued", "secret", m.key.String(), "serial", plan.Serving.SerialNumber.Text(16),
			"issuer", plan.Serving.Issuer.CommonName, "names", NamesOf(plan.Serving).String(),
			"reason", plan.NewServing, "notAfter", plan.Serving.NotAfter.UTC(), "renewAt", RenewAt(plan.Serving).UTC())
	}
	for _, c := range plan.Pruned {
		what = append(what, "expired CA "+c.Subject.CommonName+" dropped from "+CACertKey)
		m.log.Info("expired CA dropped from the bundle", "secret", m.key.String(), "ca", c.Subject.CommonName)
	}
	if plan.Pending != "" {
		m.log.Info("serving certificate renewal pending", "reason", plan.Pending)
	}
	if len(plan.Replaced) > 0 {
		m.events.Eventf(s, nil, corev1.EventTypeWarning, ReasonSecretReplaced, "Replace",
			"unusable content replaced: %s", strings.Join(plan.Replaced, "; "))
	}
	if len(what) > 0 {
		m.events.Eventf(s, nil, corev1.EventTypeNormal, ReasonCertificatesUpdated, "Renew", "%s", strings.Join(what, "; "))
	}
	return nil
}

func bundleNames(bundle []byte) []string {
	certs, _ := ParseCertificates(bundle)
	var out []string
	for _, c := range certs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// webhookConfig is a ValidatingWebhookConfiguration or MutatingWebhookConfiguration as read,
// with a pointer to each webhook's client configuration in it.
type webhookConfig struct {
	obj   client.Object
	kind  string
	hooks []webhookRef
}

type webhookRef struct {
	name   string
	client *admissionregistrationv1.WebhookClientConfig
}

// readWebhooks gets both webhook configurations by name, straight from the apiserver (there is
// no permission to list or watch them). missing names those that do not exist.
func (m *Manager) readWebhooks(ctx context.Context) (found []webhookConfig, missing []string, err error) {
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	var mu admissionregistrationv1.MutatingWebhookConfiguration
	for _, c := range []struct {
		kind  string
		obj   client.Object
		hooks func() []webhookRef
	}{
		{"ValidatingWebhookConfiguration", &v, func() (refs []webhookRef) {
			for i := range v.Webhooks {
				refs = append(refs, webhookRef{v.Webhooks[i].Name, &v.Webhooks[i].ClientConfig})
			}
			return refs
		}},
		{"MutatingWebhookConfiguration", &mu, func() (refs []webhookRef) {
			for i := range mu.Webhooks {
				refs = append(refs, webhookRef{mu.Webhooks[i].Name, &mu.Webhooks[i].ClientConfig})
			}
			return refs
		}},
	} {
		switch err := m.api.Get(ctx, types.NamespacedName{Name: m.o.WebhookConfigName}, c.obj); {
		case apierrors.IsNotFound(err):
			missing = append(missing, c.kind+" "+m.o.WebhookConfigName)
		case err != nil:
			return nil, nil, fmt.Errorf("reading %s %s: %w", c.kind, m.o.WebhookConfigName, err)
		default:
			found = append(found, webhookConfig{obj: c.obj, kind: c.kind, hooks: c.hooks()})
		}
	}
	return found, missing, nil
}

// inject sets every webhook's caBundle to bundle.
func (m *Manager) inject(ctx context.Context, configs []webhookConfig, bundle []byte) error {
	for _, c := range configs {
		changed := false
		for _, h := range c.hooks {
			if !bytes.Equal(h.client.CABundle, bundle) {
				h.client.CABundle = bundle
				changed = true
			}
		}
		if !changed {
			continue
		}
		if err := m.client.Update(ctx, c.obj); err != nil {
			return fmt.Errorf("injecting the CA bundle into %s %s: %w", c.kind, c.obj.GetName(), err)
		}
		m.log.Info("CA bundle injected", "config", c.kind+" "+c.obj.GetName(), "webhooks", len(c.hooks),
			"cas", bundleNames(bundle))
	}
	return nil
}

// observe records, for every CA that every webhook's caBundle holds, since when it has been
// seen there; a CA no longer in every bundle loses its record.
func (m *Manager) observe(configs []webhookConfig, now time.Time) {
	var common map[string]bool
	for _, c := range configs {
		for _, h := range c.hooks {
			here := map[string]bool{}
			certs, _ := ParseCertificates(h.client.CABundle)
			for _, c := range certs {
				here[Fingerprint(c)] = true
			}
			if common == nil {
				common = here
				continue
			}
			for fp := range common {
				if !here[fp] {
					delete(common, fp)
				}
			}
		}
	}
	m.trustMu.Lock()
	defer m.trustMu.Unlock()
	for fp := range m.trusted {
		if !common[fp] {
			delete(m.trusted, fp)
		}
	}
	for fp := range common {
		if _, ok := m.trusted[fp]; !ok {
			m.trusted[fp] = now
		}
	}
}

// markTrusted records the CAs of a bundle just injected into every webhook.
func (m *Manager) markTrusted(bundle []byte, now time.Time) {
	certs, _ := ParseCertificates(bundle)
	m.trustMu.Lock()
	defer m.trustMu.Unlock()
	for _, c := range certs {
		if _, ok := m.trusted[Fingerprint(c)]; !ok {
			m.trusted[Fingerprint(c)] = now
		}
	}
}

func (m *Manager) trustedSince(ca *x509.Certificate) (time.Time, bool) {
	m.trustMu.Lock()
	defer m.trustMu.Unlock()
	t, ok := m.trusted[Fingerprint(ca)]
	return t, ok
}

// ReadyCheck is the readiness check of built-in TLS: the webhook server serves a certificate
// for the Service that every webhook's caBundle trusts, so the apiserver can call this replica.
// A temporary certificate (no Secret yet) or a CA not injected yet is not ready. The result is
// remembered per served certificate: the configurations are read again only when it changes.
func (m *Manager) ReadyCheck(req *http.Request) error {
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	served, err := m.served(ctx)
	if err != nil {
		return err
	}
	fp := Fingerprint(served)
	m.readyMu.Lock()
	defer m.readyMu.Unlock()
	if fp == m.readyFP {
		return nil
	}
	if m.api == nil {
		return errors.New("not set up")
	}
	configs, missing, err := m.readWebhooks(ctx)
	if err != nil {
		return err
	}
	if len(configs) == 0 {
		return fmt.Errorf("no webhook configuration: %s", strings.Join(missing, ", "))
	}
	for _, c := range configs {
		for _, h := range c.hooks {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(h.client.CABundle)
			if _, err := served.Verify(x509.VerifyOptions{
				Roots: pool, DNSName: m.cfg.Names.DNS[0], KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				return fmt.Errorf("the served certificate (issuer %s, serial %s) is not trusted by the caBundle of webhook %s in %s %s yet: %v",
					served.Issuer.CommonName, served.SerialNumber.Text(16), h.name, c.kind, c.obj.GetName(), err)
			}
		}
	}
	m.readyFP = fp
	m.log.Info("serving a certificate the webhook configurations trust", "serial", served.SerialNumber.Text(16),
		"issuer", served.Issuer.CommonName)
	return nil
}

// served is the certificate the webhook server presents.
func (m *Manager) served(ctx context.Context) (*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // reads the certificate, verified below
	conn, err := d.DialContext(ctx, "tcp", m.o.WebhookAddr)
	if err != nil {
		return nil, fmt.Errorf("webhook server not reachable: %w", err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("the webhook server presented no certificate")
	}
	return certs[0], nil
}
