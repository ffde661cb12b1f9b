// Package server wires the admission handlers into a controller-runtime manager: the HTTPS
// webhook server, the metrics endpoint and the health probes. `bulwark serve` and the
// integration tests run exactly this.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/bulwark-k8s/bulwark/pkg/admission"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Paths of the two webhooks.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

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
	// EnableHTTP2 allows HTTP/2 on the webhook and metrics servers.
	EnableHTTP2 bool
	// ShutdownTimeout bounds the time in-flight requests get after the context ends.
	ShutdownTimeout time.Duration
	Log             logr.Logger
}

// TLSConfig applies Bulwark's TLS settings: TLS 1.2 at least, HTTP/1.1 only unless enabled.
func TLSConfig(enableHTTP2 bool) func(*tls.Config) {
	return func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		if !enableHTTP2 {
			c.NextProtos = []string{"http/1.1"}
		}
	}
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	if o.Policy == nil {
		return fmt.Errorf("no policy")
	}
	tlsOpts := []func(*tls.Config){TLSConfig(o.EnableHTTP2)}
	hookServer := webhook.NewServer(webhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir, TLSOpts: tlsOpts})
	timeout := o.ShutdownTimeout
	var cacheOpts cache.Options
	if key := o.PolicyConfigMap; key != nil {
		// Only the one ConfigMap is cached and watched, not every ConfigMap of its namespace.
		cacheOpts.ByObject = map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{key.Namespace: {
				FieldSelector: fields.OneTermEqualSelector("metadata.name", key.Name),
			}},
		}}
	}
	mgr, err := ctrl.NewManager(o.RestConfig, ctrl.Options{
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr, TLSOpts: tlsOpts},
		HealthProbeBindAddress:  o.ProbeAddr,
		WebhookServer:           hookServer,
		GracefulShutdownTimeout: &timeout,
		Logger:                  o.Log,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	rec, err := metrics.NewPrometheus(crmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	policyRec, err := metrics.NewPolicyPrometheus(crmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	holder := policy.NewHolder(o.Policy)
	policyRec.Reload(metrics.ReloadSuccess)
	policyRec.Loaded(o.Policy.Source, o.Policy.Hash, 1, time.Now())
	if key := o.PolicyConfigMap; key != nil {
		r := &policyReloader{
			key: *key, reader: mgr.GetCache(), holder: holder, events: mgr.GetEventRecorder("bulwark"),
			metrics: policyRec, log: o.Log.WithName("policy"), generation: 1,
		}
		err := ctrl.NewControllerManagedBy(mgr).Named("policy").
			For(&corev1.ConfigMap{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
				return obj.GetNamespace() == key.Namespace && obj.GetName() == key.Name
			}))).
			// Every replica keeps its own policy current, leader or not.
			WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), SkipNameValidation: ptr.To(true)}).
			Complete(r)
		if err != nil {
			return fmt.Errorf("watching the policy %s: %w", ConfigMapSource(*key), err)
		}
	}
	// The manager runs the webhook server only once it has been asked for it.
	hookServer = mgr.GetWebhookServer()
	// Namespace labels come from the cache (namespace rules, the bulwark.dev/mode label); the
	// informer is registered now so that it starts and syncs with the manager.
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{}); err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	namespaces := func(ctx context.Context, name string) (map[string]string, error) {
		var ns corev1.Namespace
		if err := mgr.GetCache().Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
			return nil, err
		}
		return ns.Labels, nil
	}
	hopts := admission.Options{
		Policy: holder, Metrics: rec, PolicyMetrics: policyRec, Namespaces: namespaces,
		OwnNamespace: o.OwnNamespace, Log: o.Log.WithName("admission"),
	}
	hookServer.Register(ValidatePath, &webhook.Admission{Handler: admission.NewValidator(hopts)})
	hookServer.Register(MutatePath, &webhook.Admission{Handler: admission.NewMutator(hopts)})
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", hookServer.StartedChecker()); err != nil {
		return err
	}
	// Ready once the namespaces (and the policy ConfigMap) are in the cache.
	if err := mgr.AddReadyzCheck("informers", func(*http.Request) error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("caches not synced yet")
		}
		return nil
	}); err != nil {
		return err
	}
	o.Log.Info("starting", "policy", o.Policy.Source, "policyHash", o.Policy.Hash,
		"webhook", fmt.Sprintf("%s:%d", o.Host, o.Port), "certDir", o.CertDir, "mutation", o.Policy.Mutation != nil)
	return mgr.Start(ctx)
}
