// Package integration runs Bulwark against a real kube-apiserver and etcd (envtest with the
// binaries hack/tools.sh builds) and drives it through the Kubernetes API and the real kubectl.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

var (
	cluster    *framework.Cluster
	kubeconfig string
	metricsURL string
	readyzURL  string
	serverLogs framework.LogBuffer
)

func TestMain(m *testing.M) {
	framework.Main(m, "integration", setup)
}

func setup(s *framework.Suite) error {
	crd, err := framework.RepoFile(framework.PolicyReportCRD)
	if err != nil {
		return err
	}
	if cluster, err = s.Start(framework.Options{ExemptNamespaces: []string{"kube-system", ownNamespace}, CRDs: []string{crd}}); err != nil {
		return err
	}
	if kubeconfig, err = s.Kubeconfig(cluster); err != nil {
		return err
	}

	metricsPort, err := framework.FreePort()
	if err != nil {
		return err
	}
	probePort, err := framework.FreePort()
	if err != nil {
		return err
	}
	metricsURL = "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"
	readyzURL = "http://127.0.0.1:" + strconv.Itoa(probePort) + "/readyz"
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &serverLogs, zapcore.InfoLevel)
	logger := zapr.NewLogger(zap.New(core))
	ctrl.SetLogger(logger)

	// The policy comes from a ConfigMap, as in a cluster, so that the tests can change it.
	if err := framework.CreatePolicyConfigMap(cluster.Config, basePolicy); err != nil {
		return fmt.Errorf("policy ConfigMap: %w", err)
	}
	snap, err := policy.Parse([]byte(basePolicy), server.ConfigMapSource(policyKey))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Options{
			RestConfig: cluster.Config, Host: cluster.WebhookHost, Port: cluster.WebhookPort, CertDir: cluster.CertDir,
			Policy: snap, PolicyConfigMap: &policyKey, OwnNamespace: ownNamespace, MetricsAddr: "127.0.0.1:" + strconv.Itoa(metricsPort), ProbeAddr: "127.0.0.1:" + strconv.Itoa(probePort),
			ShutdownTimeout: 5 * time.Second, Log: logger,
			// A short interval, so that the audit tests see a change within seconds.
			Audit: &server.AuditOptions{Interval: auditInterval, MaxNamespaces: 50, Events: true, PolicyReports: true},
		})
	}()
	s.Defer(func() error {
		cancel()
		<-done
		return nil
	})
	if err := cluster.WaitForWebhook(done, 60*time.Second); err != nil {
		return fmt.Errorf("%v \nserver logs:\n %s", err, serverLogs.String())
	}
	return nil
}

// clientWithWarnings returns a clientset whose requests record the warnings the apiserver
// relays (kubectl prints the same headers).
func clientWithWarnings(t *testing.T) (*kubernetes.Clientset, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandler = w
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, w
}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// scrape returns the metrics endpoint's text.
func scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}
