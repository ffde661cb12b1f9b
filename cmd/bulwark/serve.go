package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
)

type serveFlags struct {
	kubeconfig      string
	bindAddress     string
	port            int
	certDir         string
	profile         string
	policyFile      string
	policyConfigMap string
	namespace       string
	metricsAddr     string
	metricsSecure   bool
	metricsCertDir  string
	probeAddr       string
	pprofAddr       string
	pprofContention bool
	enableHTTP2     bool
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	shutdownDelay   time.Duration
	readHeaderTO    time.Duration
	tlsSecret       string
	serviceName     string
	webhookConfig   string
	leaderElect     bool
	clientCAFile    string
	clientNames     string
	audit           server.AuditOptions
	reportScope     string
	// guardrails runs the guardrail keeper.
	guardrails bool
	// resolveImages, imageBudget and imagePullSecrets configure the image lookups.
	resolveImages    bool
	imageBudget      time.Duration
	imagePullSecrets bool
}

func serve(args []string, stderr io.Writer) int {
	var f serveFlags
	fs := flag.NewFlagSet("bulwark serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file; empty for in-cluster configuration or $KUBECONFIG")
	fs.StringVar(&f.bindAddress, "bind-address", "", "address the webhook server listens on (empty for all)")
	fs.IntVar(&f.port, "port", 9443, "port of the HTTPS webhook server")
	fs.StringVar(&f.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with tls.crt and tls.key; reloaded when they change")
	fs.StringVar(&f.profile, "profile", policy.NSA, "policy profile: nsa, baseline or restricted (ignored with --policy-file)")
	fs.StringVar(&f.policyFile, "policy-file", "", "policy document (bulwark.dev/v1alpha1 Policy, or a ConfigMap holding one under policy.yaml)")
	fs.StringVar(&f.policyConfigMap, "policy-configmap", "", "NAMESPACE/NAME of a ConfigMap holding the policy under policy.yaml; watched, and changes apply without a restart")
	fs.StringVar(&f.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the namespace Bulwark runs in, always exempt (default $POD_NAMESPACE)")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443", "address of the Prometheus metrics endpoint (path /metrics); 0 disables it. With --metrics-secure=false it must be a loopback address, e.g. 127.0.0.1:8080")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true, "serve metrics over HTTPS to callers whose bearer token the apiserver authenticates and allows to get the non-resource URL /metrics (needs create on tokenreviews and subjectaccessreviews); false: plain HTTP without authentication, on a loopback address only (for an agent in the same pod)")
	fs.StringVar(&f.metricsCertDir, "metrics-cert-dir", "", "directory with tls.crt and tls.key for the HTTPS metrics endpoint, reloaded when they change; empty: a self-signed certificate generated at start")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&f.pprofAddr, "pprof-bind-address", "0", "address of the Go profiler's /debug/pprof/ endpoints, for performance work (e.g. 127.0.0.1:8082); 0 disables them. They are unauthenticated: never bind them to a reachable address")
	fs.BoolVar(&f.pprofContention, "pprof-contention", false, "with --pprof-bind-address, sample mutex and block contention for the mutex and block profiles (a fifth of the mutex events, and about every 10µs a goroutine spends blocked); it costs CPU on every contended lock")
	fs.BoolVar(&f.enableHTTP2, "enable-http2", false, "serve HTTP/2 on the webhook and metrics servers (off: HTTP/2 rapid-reset exposure)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json or console")
	fs.DurationVar(&f.shutdownTimeout, "graceful-shutdown-timeout", 25*time.Second, "time to finish in-flight requests once the shutdown delay is over")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 5*time.Second, "after SIGTERM, keep serving webhooks this long with /readyz failing, the time endpoints need to stop routing to the pod; then stop (a second signal exits at once)")
	fs.DurationVar(&f.readHeaderTO, "read-header-timeout", server.DefaultReadHeaderTimeout, "close a webhook connection whose client has not sent its request headers (TLS handshake included) within this time")
	fs.StringVar(&f.clientCAFile, "client-ca-file", "", "serve the webhooks only to callers with a client certificate signed by a CA in this PEM file (the apiserver presents one when its AdmissionConfiguration gives it a kubeconfig for the webhook); read again when it changes. Empty: any caller that reaches the port")
	fs.StringVar(&f.clientNames, "client-names", "", "with --client-ca-file, the names (comma-separated) a caller's certificate must carry as its common name or a DNS name; empty: any certificate the CAs signed")
	fs.StringVar(&f.tlsSecret, "tls-secret", "", "built-in TLS: keep a CA and a serving certificate in this Secret (in --namespace), write them to --cert-dir and inject the CA bundle into the webhook configurations; empty: use the files in --cert-dir as given")
	fs.StringVar(&f.serviceName, "service-name", "", "the Service in front of the webhook; the built-in certificate is for NAME.NAMESPACE.svc and NAME.NAMESPACE.svc.cluster.local")
	fs.StringVar(&f.webhookConfig, "webhook-config-name", server.ConfigName, "the ValidatingWebhookConfiguration and MutatingWebhookConfiguration that get the built-in CA bundle")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "leader election (Lease "+server.LeaderElectionID+" in --namespace): certificate creation and renewal and the audit run on the leader only; every replica serves, and one that loses the Lease keeps serving and campaigns again")
	fs.DurationVar(&f.audit.Interval, "audit-interval", 10*time.Minute, "audit the Pods and workloads already in the cluster this often (on the leader), at start and soon after each policy change; 0 disables the audit")
	fs.IntVar(&f.audit.MaxNamespaces, "audit-metrics-max-namespaces", 50, "namespaces named in bulwark_audit_violations, those with the most violating objects; the others are summed under namespace=\"_other\"")
	fs.BoolVar(&f.audit.Events, "audit-events", true, "record a Warning Event (reason PolicyViolation) on each violating object the audit finds, once per change and hour")
	fs.BoolVar(&f.guardrails, "guardrails", false, "on the leader, create and keep the LimitRange, ResourceQuota and default-deny NetworkPolicy the policy's guardrails section describes in every namespace where they are in force, while the policy turns guardrails.create on (needs get, list, watch, create and update on limitranges, resourcequotas and networkpolicies, and create on events, cluster-wide)")
	fs.BoolVar(&f.resolveImages, "resolve-images", false, "look up each pod's images in their registries before mutating it: leave runAsNonRoot out (with a warning that says why) where an image runs as root, as a name, or cannot be looked up, since the kubelet would refuse to start it; and, when the policy turns pin-digests on, pin each image to the digest its tag points at")
	fs.DurationVar(&f.imageBudget, "image-lookup-budget", images.DefaultBudget, "with --resolve-images, the time one request's image lookups may take together; a lookup still running then goes on in the background and fills the cache")
	fs.BoolVar(&f.imagePullSecrets, "image-pull-secrets", false, "with --resolve-images, authenticate lookups with the pods' imagePullSecrets, or their ServiceAccount's when they name none (Secrets of type kubernetes.io/dockerconfigjson; needs list and watch on secrets and serviceaccounts in every namespace)")
	fs.BoolVar(&f.audit.PolicyReports, "audit-policy-reports", true, "write wgpolicyk8s.io/v1alpha2 PolicyReports with the audit's results, when that CRD is installed")
	fs.StringVar(&f.reportScope, "audit-policy-report-scope", string(audit.ScopeResource), "what one PolicyReport covers: resource (one report per violating workload, its scope that workload, as Kyverno writes them) or namespace (one report named bulwark per namespace, without scope)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bulwark serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if f.shutdownDelay < 0 || f.shutdownTimeout < 0 {
		fmt.Fprintf(stderr, "bulwark serve: --shutdown-delay %s and --graceful-shutdown-timeout %s must not be negative\n", f.shutdownDelay, f.shutdownTimeout)
		return exitUsage
	}
	if f.readHeaderTO <= 0 || f.readHeaderTO > server.MaxWebhookTimeout {
		fmt.Fprintf(stderr, "bulwark serve: --read-header-timeout %s must be positive and at most %s (the apiserver's longest webhook timeout)\n", f.readHeaderTO, server.MaxWebhookTimeout)
		return exitUsage
	}
	if f.clientNames != "" && f.clientCAFile == "" {
		fmt.Fprintf(stderr, "bulwark serve: --client-names %s needs --client-ca-file: the names are checked on certificates its CAs signed\n", f.clientNames)
		return exitUsage
	}
	if f.audit.Interval < 0 {
		fmt.Fprintf(stderr, "bulwark serve: --audit-interval %s is negative; use 0 to disable the audit\n", f.audit.Interval)
		return exitUsage
	}
	if !f.resolveImages && (f.imagePullSecrets || f.imageBudget != images.DefaultBudget) {
		fmt.Fprintln(stderr, "bulwark serve: --image-pull-secrets and --image-lookup-budget are settings of --resolve-images: add --resolve-images")
		return exitUsage
	}
	if f.imageBudget <= 0 {
		fmt.Fprintf(stderr, "bulwark serve: --image-lookup-budget %v must be positive\n", f.imageBudget)
		return exitUsage
	}
	if f.audit.ReportScope = audit.ReportScope(f.reportScope); !f.audit.ReportScope.Valid() {
		fmt.Fprintf(stderr, "bulwark serve: --audit-policy-report-scope %q: want resource or namespace\n", f.reportScope)
		return exitUsage
	}
	if f.audit.MaxNamespaces < 1 {
		fmt.Fprintf(stderr, "bulwark serve: --audit-metrics-max-namespaces %d must be at least 1\n", f.audit.MaxNamespaces)
		return exitUsage
	}
	if err := runServer(f); err != nil {
		fmt.Fprintf(stderr, "bulwark serve: %v\n", err)
		return 1
	}
	return exitOK
}

func newLogger(level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	switch format {
	case "json":
	case "console":
		cfg.Encoding = "console"
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	default:
		return nil, fmt.Errorf("--log-format: want json or console, got %q", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	return cfg.Build()
}

// policySource parses --policy-configmap; nil when not given.
func policySource(f serveFlags) (*types.NamespacedName, error) {
	if f.policyConfigMap == "" {
		return nil, nil
	}
	if f.policyFile != "" {
		return nil, errors.New("--policy-file and --policy-configmap are mutually exclusive")
	}
	ns, name, ok := strings.Cut(f.policyConfigMap, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("--policy-configmap: want NAMESPACE/NAME, got %q", f.policyConfigMap)
	}
	return &types.NamespacedName{Namespace: ns, Name: name}, nil
}

func loadPolicy(ctx context.Context, cfg *rest.Config, f serveFlags, cm *types.NamespacedName) (*policy.Snapshot, error) {
	switch {
	case cm != nil:
		c, err := client.New(cfg, client.Options{})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return server.LoadConfigMap(ctx, c, *cm)
	case f.policyFile != "":
		return policy.LoadFile(f.policyFile)
	}
	return policy.FromProfile(f.profile)
}

// builtinTLS checks the built-in TLS flags; nil without --tls-secret.
func builtinTLS(f serveFlags) (*certs.Options, error) {
	if f.leaderElect && f.namespace == "" {
		return nil, errors.New("--leader-elect needs --namespace (or $POD_NAMESPACE): the Lease " + server.LeaderElectionID + " lives there")
	}
	if f.tlsSecret == "" {
		return nil, nil
	}
	var missing []string
	if f.namespace == "" {
		missing = append(missing, "--namespace (or $POD_NAMESPACE), where the Secret lives")
	}
	if f.serviceName == "" {
		missing = append(missing, "--service-name, the Service the certificate is for")
	}
	if f.webhookConfig == "" {
		missing = append(missing, "--webhook-config-name, the webhook configurations that get the CA bundle")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("--tls-secret needs %s", strings.Join(missing, " and "))
	}
	o := &certs.Options{
		SecretName: f.tlsSecret, Namespace: f.namespace, ServiceName: f.serviceName, WebhookConfigName: f.webhookConfig,
		CertDir: f.certDir,
	}
	if _, err := certs.New(*o); err != nil {
		return nil, fmt.Errorf("--tls-secret: %w", err)
	}
	return o, nil
}

// checkMetricsFlags checks the metrics endpoint's flags before anything starts: plain HTTP
// (no authentication) only on a loopback address, and a --metrics-cert-dir that holds the
// certificate and key (controller-runtime would otherwise fall back to a self-signed one).
func checkMetricsFlags(f serveFlags) error {
	if f.metricsAddr == "0" {
		return nil
	}
	host, port, err := net.SplitHostPort(f.metricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-bind-address %q: want HOST:PORT, :PORT, or 0 to disable the endpoint: %v", f.metricsAddr, err)
	}
	if !f.metricsSecure {
		if f.metricsCertDir != "" {
			return errors.New("--metrics-cert-dir is the certificate of the HTTPS metrics endpoint: it needs --metrics-secure")
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--metrics-secure=false serves /metrics over plain HTTP to anyone who connects, so --metrics-bind-address must be a loopback address (e.g. 127.0.0.1:%s), not %q; keep --metrics-secure to serve it to the network", port, f.metricsAddr)
		}
		return nil
	}
	if f.metricsCertDir != "" {
		for _, name := range []string{"tls.crt", "tls.key"} {
			if _, err := os.Stat(filepath.Join(f.metricsCertDir, name)); err != nil {
				return fmt.Errorf("--metrics-cert-dir: %w", err)
			}
		}
	}
	return nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

func runServer(f serveFlags) error {
	zl, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = zl.Sync() }()
	logger := zapr.NewLogger(zl)
	ctrl.SetLogger(logger)
	klog.SetLogger(logger.WithName("client-go"))
	gc := decideGC(os.Getenv, os.DirFS("/"))
	gc.apply()
	if f.pprofContention {
		// Contention is what the CPU profile does not show.
		runtime.SetMutexProfileFraction(5)
		runtime.SetBlockProfileRate(10_000)
	}

	cm, err := policySource(f)
	if err != nil {
		return err
	}
	tlsOpts, err := builtinTLS(f)
	if err != nil {
		return err
	}
	if err := checkMetricsFlags(f); err != nil {
		return err
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	ctx := signalContext(logger, zl)
	snap, err := loadPolicy(ctx, cfg, f, cm)
	if err != nil {
		return err
	}
	logger.Info("bulwark", append([]any{"version", version}, gc.logValues()...)...)
	var clientAuth *server.ClientAuth
	if f.clientCAFile != "" {
		clientAuth = &server.ClientAuth{CAFile: f.clientCAFile}
		for _, n := range strings.Split(f.clientNames, ",") {
			if n = strings.TrimSpace(n); n != "" {
				clientAuth.Names = append(clientAuth.Names, n)
			}
		}
	}
	return server.Run(ctx, server.Options{
		RestConfig: cfg, Host: f.bindAddress, Port: f.port, CertDir: f.certDir, Policy: snap, PolicyConfigMap: cm,
		OwnNamespace: f.namespace,
		MetricsAddr:  f.metricsAddr, MetricsSecure: f.metricsSecure, MetricsCertDir: f.metricsCertDir,
		ProbeAddr: f.probeAddr, PprofAddr: f.pprofAddr, EnableHTTP2: f.enableHTTP2,
		ShutdownTimeout: f.shutdownTimeout, ShutdownDelay: f.shutdownDelay, ReadHeaderTimeout: f.readHeaderTO, ClientAuth: clientAuth, TLS: tlsOpts, LeaderElect: f.leaderElect, Audit: &f.audit, Guardrails: f.guardrails,
		Images: imageOptions(f), Log: logger.WithName("bulwark"),
	})
}

// imageOptions are the image lookups of --resolve-images, nil without it.
func imageOptions(f serveFlags) *server.ImageOptions {
	if !f.resolveImages {
		return nil
	}
	return &server.ImageOptions{Budget: f.imageBudget, PullSecrets: f.imagePullSecrets}
}

// signalContext ends at the first SIGTERM or SIGINT, which starts the graceful shutdown (not
// ready at once, serving for --shutdown-delay, then draining); a second signal exits at once.
func signalContext(logger logr.Logger, zl *zap.Logger) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		logger.Info("shutting down gracefully; a second signal exits at once", "signal", sig.String())
		cancel()
		sig = <-signals
		logger.Info("second signal: exiting now", "signal", sig.String())
		_ = zl.Sync()
		os.Exit(1)
	}()
	return ctx
}
