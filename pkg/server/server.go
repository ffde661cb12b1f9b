// Package server wires the admission handlers into a controller-runtime manager: the HTTPS
// webhook server, the metrics endpoint and the health probes. `bulwark serve` and the
// integration tests run exactly this.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bulwark-k8s/bulwark/pkg/admission"
	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/guardrails"
	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Paths of the two webhooks.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// LeaderElectionID is the Lease the replicas compete for (in OwnNamespace).
const LeaderElectionID = "bulwark-leader"

// Options configure the server.
type Options struct {
	RestConfig *rest.Config
	// Host and Port of the HTTPS webhook server; CertDir holds tls.crt and tls.key, reloaded on change.
	Host    string
	Port    int
	CertDir string
	// Policy is the policy in force at start.
	Policy *policy.Snapshot
	// PolicyConfigMap, when set, is the ConfigMap Policy was loaded from: it is watched, and a
	// valid change is put in force without a restart.
	PolicyConfigMap *types.NamespacedName
	// OwnNamespace is the namespace Bulwark runs in; it is always exempt.
	OwnNamespace string
	// MetricsAddr is the metrics endpoint address ("0" disables it); ProbeAddr serves /healthz and /readyz.
	MetricsAddr string
	ProbeAddr   string
	// PprofAddr serves the Go profiler's /debug/pprof/ endpoints; empty or "0" disables them.
	PprofAddr string
	// MetricsSecure serves the metrics endpoint over HTTPS (with TLSConfig) to authorized
	// callers only: the apiserver authenticates the caller's bearer token (TokenReview) and
	// decides whether it may get the non-resource URL /metrics (SubjectAccessReview), which
	// needs create on tokenreviews and subjectaccessreviews. False serves plain HTTP to anyone
	// who can connect: bind MetricsAddr to loopback then.
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for the secure metrics endpoint, reloaded on
	// change; empty: a self-signed certificate generated at start (unless controller-runtime's
	// default directory, <tmp>/k8s-metrics-server/serving-certs, holds those files).
	MetricsCertDir string
	// EnableHTTP2 allows HTTP/2 on the webhook and metrics servers.
	EnableHTTP2 bool
	// ShutdownTimeout bounds the time in-flight requests get once the shutdown delay is over.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long everything keeps serving after the context ends, with
	// /readyz failing (check "shutdown") from the first moment: the time endpoints need to
	// stop routing to this replica. Then the manager stops and the webhook server drains.
	ShutdownDelay time.Duration
	// ReadHeaderTimeout is how long a webhook client gets to send its request headers; 0 for
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ClientAuth, when set, serves the webhooks only to callers with a client certificate.
	ClientAuth *ClientAuth
	// TLS, when set, is built-in TLS (package certs): the CA and the serving certificate live in
	// a Secret in OwnNamespace, every replica writes the serving certificate to CertDir, and the
	// leader creates and renews them and injects the CA bundle into the webhook configurations.
	// Run fills in its Namespace (when empty), CertDir, WebhookAddr and Log.
	TLS *certs.Options
	// LeaderElect runs the leader-only work (built-in TLS renewal and injection, the audit) on
	// one replica, elected through the Lease LeaderElectionID in OwnNamespace. Everything else
	// runs on every replica. Losing the Lease (the apiserver unreachable for its renew
	// deadline) stops the leader-only work only: the replica keeps serving and campaigns again.
	LeaderElect bool
	// Audit, when set with a positive Interval, audits the objects already in the cluster on
	// the leader.
	Audit *AuditOptions
	// Guardrails runs the guardrail keeper on the leader: it creates and keeps the LimitRange,
	// ResourceQuota and NetworkPolicy of every namespace while the policy in force turns
	// guardrails.create on. It needs get, list, watch, create and update on those kinds, and
	// create on Events, cluster-wide.
	Guardrails bool
	// Images, when set, looks up the images of the pods the mutating webhook changes in their
	// registries, so that runAsNonRoot is not added where the kubelet would refuse it.
	Images *ImageOptions
	Log    logr.Logger
}

// ImageOptions configure the image lookups of the mutating webhook.
type ImageOptions struct {
	// Budget bounds the lookups of one request; 0 for images.DefaultBudget.
	Budget time.Duration
	// PullSecrets reads the pods' imagePullSecrets (Secrets of type
	// kubernetes.io/dockerconfigjson, watched cluster-wide) for private registries: a pod's
	// own, or when it names none, its ServiceAccount's (ServiceAccounts watched cluster-wide
	// too). Without it, images are looked up anonymously.
	PullSecrets bool
}

// AuditOptions configure the audit of running objects.
type AuditOptions struct {
	// Interval between audits; the first runs at start, and one runs soon after each policy change.
	Interval time.Duration
	// MaxNamespaces caps the namespaces named in bulwark_audit_violations.
	MaxNamespaces int
	// Events records a Warning Event on each violating object.
	Events bool
	// PolicyReports writes wgpolicyk8s.io/v1alpha2 PolicyReports when the CRD is installed.
	PolicyReports bool
	// ReportScope is what one PolicyReport covers (default audit.ScopeResource).
	ReportScope audit.ReportScope
}

// CipherSuites are the TLS 1.2 suites served: ECDHE key exchange with AES-GCM or
// ChaCha20-Poly1305 only (no CBC, no RSA key exchange). TLS 1.3 suites are all of that kind.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig applies Bulwark's TLS settings: TLS 1.2 at least with CipherSuites, HTTP/1.1
// only unless HTTP/2 is enabled.
func TLSConfig(enableHTTP2 bool) func(*tls.Config) {
	return func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		c.CipherSuites = CipherSuites
		if !enableHTTP2 {
			c.NextProtos = []string{"http/1.1"}
		}
	}
}

// Run serves until ctx ends, then shuts down gracefully. It builds the manager, then adds to
// it, one step each: the policy's reloader, the webhooks, the readiness checks and the
// leader-only work (built-in TLS, the audit).
func Run(ctx context.Context, o Options) error {
	if o.Policy == nil {
		return fmt.Errorf("no policy")
	}
	if o.LeaderElect && o.OwnNamespace == "" {
		return errors.New("leader election needs the namespace of the Lease (OwnNamespace)")
	}
	var tlsManager *certs.Manager
	if o.TLS != nil {
		var err error
		if tlsManager, err = builtinTLS(ctx, o); err != nil {
			return err
		}
	}
	tlsOpts := []func(*tls.Config){TLSConfig(o.EnableHTTP2)}
	webhookTLS, auth, err := clientAuthentication(o, tlsOpts)
	if err != nil {
		return err
	}
	webhookServer := NewWebhookServer(WebhookServerOptions{
		Host: o.Host, Port: o.Port, CertDir: o.CertDir, TLSOpts: webhookTLS,
		ReadHeaderTimeout: o.ReadHeaderTimeout, ShutdownTimeout: o.ShutdownTimeout, Log: o.Log.WithName("webhook"),
	})
	mgr, leaderCache, err := newManager(o, tlsManager, tlsOpts, webhookServer)
	if err != nil {
		return err
	}
	rec, policyRec, err := registerMetrics(o.CertDir)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	holder := policy.NewHolder(o.Policy)
	policyRec.Reload(metrics.ReloadSuccess)
	policyRec.Loaded(o.Policy.Source, o.Policy.Hash, 1, time.Now())
	if err := addPolicyReloader(ctx, mgr, o, holder, policyRec); err != nil {
		return err
	}
	namespaces, err := namespaceLabels(ctx, mgr)
	if err != nil {
		return err
	}
	auditRunner, err := newAuditRunner(mgr, o, holder, namespaces)
	if err != nil {
		return err
	}
	imageUsers, pullSecrets, err := imageLookups(ctx, mgr, o)
	if err != nil {
		return err
	}
	addWebhooks(webhookServer, admission.Options{
		Policy: holder, Metrics: rec, PolicyMetrics: policyRec, Namespaces: namespaces,
		OwnNamespace: o.OwnNamespace, Images: imageUsers, Log: o.Log.WithName("admission"),
	}, rec, auth, o.Log.WithName("webhook"))
	// From the first moment of a shutdown, not ready; the manager stops ShutdownDelay later.
	runCtx, shutdownCheck, stopRun := shutdownDelay(ctx, o.ShutdownDelay, o.Log, webhookServer.drain)
	defer stopRun()
	readyLog := o.Log.WithName("readiness")
	if err := addServingChecks(mgr, shutdownCheck, webhookServer, tlsManager, readyLog); err != nil {
		return err
	}
	keeper, err := newKeeper(o, holder)
	if err != nil {
		return err
	}
	if err := addLeaderWork(mgr, o, leaderCache, tlsManager, auditRunner, keeper); err != nil {
		return err
	}
	if err := addInformersCheck(mgr, pullSecrets, readyLog); err != nil {
		return err
	}
	o.Log.Info("starting", "policy", o.Policy.Source, "policyHash", o.Policy.Hash,
		"webhook", fmt.Sprintf("%s:%d", o.Host, o.Port), "certDir", o.CertDir, "mutation", o.Policy.Mutation != nil,
		"builtinTLS", o.TLS != nil, "leaderElection", o.LeaderElect, "audit", auditInterval(o.Audit), "imageLookups", o.Images != nil,
		"guardrails", guardrailsState(o.Guardrails, o.Policy))
	return mgr.Start(runCtx)
}

// clientAuthentication returns the webhook server's TLS options and the check of its callers:
// without ClientAuth, the common options and no check.
func clientAuthentication(o Options, tlsOpts []func(*tls.Config)) ([]func(*tls.Config), func(*http.Request) error, error) {
	ca := o.ClientAuth
	if ca == nil {
		return tlsOpts, nil, nil
	}
	cas, err := loadClientCAs(ca.CAFile, o.Log.WithName("webhook"))
	if err != nil {
		return nil, nil, err
	}
	o.Log.Info("webhooks served to callers with a client certificate only", "caFile", ca.CAFile, "names", ca.Names)
	return append(slices.Clip(tlsOpts), cas.tlsOption), authenticate(ca.Names), nil
}

// newManager builds the manager that serves, with a cache that holds only what admission
// reads, and returns the cache options of the leader's own manager.
func newManager(o Options, tlsManager *certs.Manager, tlsOpts []func(*tls.Config), webhookServer *WebhookServer) (manager.Manager, cache.Options, error) {
	timeout := o.ShutdownTimeout
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		// Namespaces are read on every admission request, for their labels only: the cache
		// hands out its own object instead of a deep copy, and keeps no managedFields.
		&corev1.Namespace{}: {UnsafeDisableDeepCopy: ptr.To(true), Transform: cache.TransformStripManagedFields()},
	}}
	if key := o.PolicyConfigMap; key != nil {
		// Only the one ConfigMap is cached and watched, not every ConfigMap of its namespace.
		cacheOpts.ByObject[&corev1.ConfigMap{}] = cache.ByObject{
			Namespaces: map[string]cache.Config{key.Namespace: {
				FieldSelector: fields.OneTermEqualSelector("metadata.name", key.Name),
			}},
		}
	}
	// The leader's controllers watch what they need in a cache of their own (leaderElection);
	// each cache copies the options it is given, so both can hold the same.
	var leaderCache cache.Options
	leaderCache.ByObject = map[client.Object]cache.ByObject{}
	if tlsManager != nil {
		obj, by := tlsManager.CacheConfig()
		cacheOpts.ByObject[obj] = by
		leaderCache.ByObject[obj] = by
	}
	if o.Guardrails {
		// The serving manager runs the leader's work itself without leader election.
		maps.Copy(cacheOpts.ByObject, guardrails.CacheConfig())
		maps.Copy(leaderCache.ByObject, guardrails.CacheConfig())
		leaderCache.ByObject[&corev1.Namespace{}] = cache.ByObject{Transform: cache.TransformStripManagedFields()}
	}
	// The manager that serves runs on every replica without leader election: losing the Lease
	// must not stop the webhook. The leader-only work runs in a manager of its own.
	mgr, err := ctrl.NewManager(o.RestConfig, ctrl.Options{
		Cache:                   cacheOpts,
		Metrics:                 metricsOptions(o, tlsOpts),
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		WebhookServer:           webhookServer,
		GracefulShutdownTimeout: &timeout,
		Logger:                  o.Log,
	})
	if err != nil {
		return nil, leaderCache, fmt.Errorf("creating manager: %w", err)
	}
	// The manager runs the webhook server only once it has been asked for it.
	mgr.GetWebhookServer()
	return mgr, leaderCache, nil
}

// registerMetrics registers the decision and policy metrics, and the expiry of the served
// certificate and CA, read from certDir at every scrape.
func registerMetrics(certDir string) (*metrics.Prometheus, *metrics.PolicyPrometheus, error) {
	rec, err := metrics.NewPrometheus(crmetrics.Registry)
	if err != nil {
		return nil, nil, err
	}
	policyRec, err := metrics.NewPolicyPrometheus(crmetrics.Registry)
	if err != nil {
		return nil, nil, err
	}
	if err := metrics.NewCertificateCollector(crmetrics.Registry, certDir); err != nil {
		return nil, nil, err
	}
	return rec, policyRec, nil
}

// addPolicyReloader keeps the policy of every replica, leader or not, in step with
// PolicyConfigMap, when the policy comes from one.
func addPolicyReloader(ctx context.Context, mgr manager.Manager, o Options, holder *policy.Holder, policyRec *metrics.PolicyPrometheus) error {
	key := o.PolicyConfigMap
	if key == nil {
		return nil
	}
	r := &policyReloader{
		key: *key, reader: mgr.GetCache(), holder: holder, events: mgr.GetEventRecorder("bulwark"),
		metrics: policyRec, log: o.Log.WithName("policy"), generation: 1,
	}
	// The informer is registered now, so that it starts and syncs with the manager and the
	// "informers" readiness check waits for it.
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.ConfigMap{}); err != nil {
		return fmt.Errorf("watching the policy %s: %w", ConfigMapSource(*key), err)
	}
	// The ConfigMap is compared once with the policy in force when the controller starts,
	// after the cache has synced (a worker takes it only then): a ConfigMap deleted
	// between the start-up read and the first list sends no event of its own.
	once := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{NamespacedName: *key})
		return nil
	})
	err := ctrl.NewControllerManagedBy(mgr).Named("policy").
		For(&corev1.ConfigMap{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
			return obj.GetNamespace() == key.Namespace && obj.GetName() == key.Name
		}))).
		WatchesRawSource(once).
		// Every replica keeps its own policy current, leader or not.
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), SkipNameValidation: ptr.To(true)}).
		Complete(r)
	if err != nil {
		return fmt.Errorf("watching the policy %s: %w", ConfigMapSource(*key), err)
	}
	return nil
}

// namespaceLabels returns how admission and the audit read a namespace's labels (namespace
// rules, the bulwark.dev/mode label): from the cache, whose informer is registered now so
// that it starts and syncs with the manager.
func namespaceLabels(ctx context.Context, mgr manager.Manager) (func(context.Context, string) (map[string]string, error), error) {
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{}); err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	return func(ctx context.Context, name string) (map[string]string, error) {
		var ns corev1.Namespace // shares the cache's labels: read only
		if err := mgr.GetCache().Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
			return nil, err
		}
		return ns.Labels, nil
	}, nil
}

// newAuditRunner returns the audit, or nil without one. It runs on the leader, with the
// serving manager's clients and namespace cache: one Runner for every term, so that its
// record of the Events recorded carries over.
func newAuditRunner(mgr manager.Manager, o Options, holder *policy.Holder, namespaces func(context.Context, string) (map[string]string, error)) (*audit.Runner, error) {
	a := o.Audit
	if a == nil || a.Interval <= 0 {
		return nil, nil
	}
	auditRec, err := metrics.NewAuditPrometheus(crmetrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	ro := audit.RunnerOptions{
		Reader: mgr.GetAPIReader(), Policy: holder, OwnNamespace: o.OwnNamespace,
		Interval: a.Interval, NamespaceLabels: namespaces, MaxNamespaces: a.MaxNamespaces,
		Metrics: auditRec, Log: o.Log.WithName("audit"), ReportScope: a.ReportScope,
	}
	if a.Events {
		ro.Events = mgr.GetEventRecorder("bulwark")
	}
	if a.PolicyReports {
		ro.Client = mgr.GetClient()
	}
	return audit.NewRunner(ro), nil
}

// addWebhooks registers the two webhooks, which share one budget for request bodies.
func addWebhooks(s *WebhookServer, hopts admission.Options, rec metrics.Recorder, auth func(*http.Request) error, log logr.Logger) {
	budget := admission.NewBodyBudget(admission.DefaultBodyBudget)
	s.Register(ValidatePath, admission.NewHTTP(admission.NewValidator(hopts), log.WithValues("webhook", ValidatePath),
		admission.HTTPOptions{Webhook: "validate", Metrics: rec, Budget: budget, Authenticate: auth}))
	s.Register(MutatePath, admission.NewHTTP(admission.NewMutator(hopts), log.WithValues("webhook", MutatePath),
		admission.HTTPOptions{Webhook: "mutate", Metrics: rec, Budget: budget, Authenticate: auth}))
}

// addServingChecks adds the liveness probe and the readiness checks of serving: not shutting
// down, the webhook server started and, with built-in TLS, the served certificate valid under
// the caBundle of every webhook. The probe endpoints name the checks and nothing more:
// withheld logs why a check fails instead of answering it on /readyz/NAME.
func addServingChecks(mgr manager.Manager, shutdown healthz.Checker, s *WebhookServer, tlsManager *certs.Manager, readyLog logr.Logger) error {
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("shutdown", withheld("shutdown", shutdown, readyLog)); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", withheld("webhook", s.StartedChecker(), readyLog)); err != nil {
		return err
	}
	if tlsManager == nil {
		return nil
	}
	if err := tlsManager.Setup(mgr); err != nil {
		return fmt.Errorf("built-in TLS: %w", err)
	}
	return mgr.AddReadyzCheck("tls", withheld("tls", tlsManager.ReadyCheck, readyLog))
}

// newKeeper returns the guardrail keeper, or nil without Options.Guardrails. Like the audit,
// it is one for every term, so that what it remembers carries over.
func newKeeper(o Options, holder *policy.Holder) (*guardrails.Keeper, error) {
	if !o.Guardrails {
		return nil, nil
	}
	rec, err := metrics.NewGuardrailPrometheus(crmetrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	return guardrails.NewKeeper(guardrails.Options{
		Policy: holder, OwnNamespace: o.OwnNamespace, Metrics: rec, Log: o.Log.WithName("guardrails"),
	}), nil
}

// guardrailsState describes the guardrails for the start-up log, saying so when the policy
// asks for guardrails that this replica may not create.
func guardrailsState(enabled bool, p *policy.Snapshot) string {
	g := p.Guardrails()
	if g.Create && !enabled {
		return "off: the policy turns guardrails.create on, but serve runs without --guardrails (the chart's policy.guardrails.create grants the rights and sets it)"
	}
	return g.String()
}

// addLeaderWork adds the leader-only work: the certificates' creation, renewal and CA
// injection, the audit and the guardrails. With leader election it runs in a manager of its
// own, on the replica that holds the Lease; without, this replica does it all.
func addLeaderWork(mgr manager.Manager, o Options, leaderCache cache.Options, tlsManager *certs.Manager, auditRunner *audit.Runner, keeper *guardrails.Keeper) error {
	leaderWork := func(m manager.Manager) error {
		if tlsManager != nil {
			if err := tlsManager.SetupLeader(m); err != nil {
				return fmt.Errorf("built-in TLS: %w", err)
			}
		}
		if auditRunner != nil {
			if err := m.Add(auditRunner); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
		}
		if keeper != nil {
			if err := keeper.AddToManager(m); err != nil {
				return fmt.Errorf("guardrails: %w", err)
			}
		}
		return nil
	}
	if !o.LeaderElect {
		return leaderWork(mgr)
	}
	le, err := newLeaderElection(leaderOptions{
		RestConfig: o.RestConfig, Lease: types.NamespacedName{Namespace: o.OwnNamespace, Name: LeaderElectionID},
		Cache: leaderCache, Mapper: mgr.GetRESTMapper(), Setup: leaderWork, ShutdownTimeout: o.ShutdownTimeout, Log: o.Log,
	})
	if err != nil {
		return err
	}
	if err := mgr.Add(le); err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	return nil
}

// addInformersCheck makes the replica ready once the namespaces, the policy ConfigMap, and the
// pull secrets and ServiceAccounts (pullSecrets, nil without them) are in their caches (their
// informers are registered before, so they start and sync with the manager).
func addInformersCheck(mgr manager.Manager, pullSecrets cache.Cache, readyLog logr.Logger) error {
	return mgr.AddReadyzCheck("informers", withheld("informers", func(*http.Request) error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("caches not synced yet")
		}
		if pullSecrets != nil && !pullSecrets.WaitForCacheSync(ctx) {
			return errors.New("pull secrets and service accounts not synced yet")
		}
		return nil
	}, readyLog))
}

// metricsOptions configure the metrics endpoint: plain HTTP, or HTTPS with the webhook's TLS
// settings behind the apiserver's authentication and authorization.
func metricsOptions(o Options, tlsOpts []func(*tls.Config)) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr, TLSOpts: tlsOpts}
	if o.MetricsSecure {
		m.SecureServing = true
		m.CertDir = o.MetricsCertDir
		m.FilterProvider = metricsAuth
	}
	return m
}

// builtinTLS prepares the certificate manager and writes the certificate files before the
// webhook server starts (it fails at start when tls.crt is missing): the Secret is read
// straight from the apiserver, as the policy is.
func builtinTLS(ctx context.Context, o Options) (*certs.Manager, error) {
	to := *o.TLS
	if to.Namespace == "" {
		to.Namespace = o.OwnNamespace
	}
	to.CertDir = o.CertDir
	to.WebhookAddr = net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	to.Log = o.Log.WithName("tls")
	m, err := certs.New(to)
	if err != nil {
		return nil, fmt.Errorf("built-in TLS: %w", err)
	}
	c, err := client.New(o.RestConfig, client.Options{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.Bootstrap(ctx, c); err != nil {
		return nil, fmt.Errorf("built-in TLS: %w", err)
	}
	return m, nil
}

// auditInterval is the audit interval for the start-up log line: "off" when there is no audit.
func auditInterval(a *AuditOptions) string {
	if a == nil || a.Interval <= 0 {
		return "off"
	}
	return a.Interval.String()
}

// imageLookups returns how the mutating webhook looks images up, nil without Options.Images,
// and the cache of pull secrets, nil without them. The pull secrets have a cache of their own:
// the manager's holds the one Secret of built-in TLS, and a cache holds one informer per kind.
// Of Secrets it holds only those of type kubernetes.io/dockerconfigjson, what a keychain reads;
// of ServiceAccounts, which name the pull secrets of the pods that name none, only their
// imagePullSecrets.
func imageLookups(ctx context.Context, mgr manager.Manager, o Options) (admission.ImageUsers, cache.Cache, error) {
	opts := o.Images
	if opts == nil {
		return nil, nil, nil
	}
	rec, err := metrics.NewImagePrometheus(crmetrics.Registry)
	if err != nil {
		return nil, nil, fmt.Errorf("registering metrics: %w", err)
	}
	log := o.Log.WithName("images")
	resolver := images.New(images.Options{Budget: opts.Budget, Metrics: rec, Log: log})
	if !opts.PullSecrets {
		return admission.ResolveImages(resolver, nil, nil), nil, nil
	}
	secrets, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Field:     fields.OneTermEqualSelector("type", string(corev1.SecretTypeDockerConfigJson)),
				Transform: cache.TransformStripManagedFields(),
			},
			&corev1.ServiceAccount{}: {Transform: pullSecretsOnly},
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pull secrets: %w", err)
	}
	if err := mgr.Add(secrets); err != nil {
		return nil, nil, fmt.Errorf("pull secrets: %w", err)
	}
	if _, err := secrets.GetInformer(ctx, &corev1.Secret{}); err != nil {
		return nil, nil, fmt.Errorf("watching pull secrets: %w", err)
	}
	if _, err := secrets.GetInformer(ctx, &corev1.ServiceAccount{}); err != nil {
		return nil, nil, fmt.Errorf("watching service accounts: %w", err)
	}
	read := func(ctx context.Context, namespace string, names []string) []corev1.Secret {
		out := make([]corev1.Secret, 0, len(names))
		for _, name := range names {
			var s corev1.Secret
			if err := secrets.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
				log.V(1).Info("pull secret unavailable; the image is looked up without it", "namespace", namespace, "name", name, "error", err.Error())
				continue
			}
			out = append(out, s)
		}
		return out
	}
	accounts := func(ctx context.Context, namespace, name string) []string {
		var sa corev1.ServiceAccount
		if err := secrets.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &sa); err != nil {
			log.V(1).Info("service account unavailable; the image is looked up without its pull secrets", "namespace", namespace, "name", name, "error", err.Error())
			return nil
		}
		names := make([]string, 0, len(sa.ImagePullSecrets))
		for _, s := range sa.ImagePullSecrets {
			names = append(names, s.Name)
		}
		return names
	}
	return admission.ResolveImages(resolver, read, accounts), secrets, nil
}

// pullSecretsOnly keeps of a ServiceAccount what the image lookups read: its name and its
// imagePullSecrets. A cluster has a ServiceAccount or more per namespace, with annotations
// and token secrets the cache has no use for.
func pullSecretsOnly(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	return &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: sa.Namespace, Name: sa.Name, UID: sa.UID, ResourceVersion: sa.ResourceVersion,
		},
		ImagePullSecrets: sa.ImagePullSecrets,
	}, nil
}
