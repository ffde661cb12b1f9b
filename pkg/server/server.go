// Package server wires the admission handlers into a controller-runtime manager: the HTTPS
// webhook server, the metrics endpoint and the health probes. `bulwark serve` and the
// integration tests run exactly this.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
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
	mgr, err := ctrl.NewManager(o.RestConfig, ctrl.Options{
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
	// The manager runs the webhook server only once it has been asked for it.
	hookServer = mgr.GetWebhookServer()
	hopts := admission.Options{Policy: policy.NewHolder(o.Policy), Metrics: rec, Log: o.Log.WithName("admission")}
	hookServer.Register(ValidatePath, &webhook.Admission{Handler: admission.NewValidator(hopts)})
	hookServer.Register(MutatePath, &webhook.Admission{Handler: admission.NewMutator(hopts)})
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", hookServer.StartedChecker()); err != nil {
		return err
	}
	o.Log.Info("starting", "policy", o.Policy.Source, "policyHash", o.Policy.Hash,
		"webhook", fmt.Sprintf("%s:%d", o.Host, o.Port), "certDir", o.CertDir, "mutation", o.Policy.Mutation != nil)
	return mgr.Start(ctx)
}
