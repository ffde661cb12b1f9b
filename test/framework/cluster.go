// Package framework starts a real control plane (etcd and kube-apiserver through
// controller-runtime's envtest) with Bulwark's webhook configurations pointing at a local
// port. The integration tests and `make run` share it.
package framework

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bulwark-k8s/bulwark/pkg/server"
)

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl: $KUBEBUILDER_ASSETS,
// or the cache hack/tools.sh builds into. It fails, naming the fix, when a binary is missing.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache := os.Getenv("BULWARK_CACHE")
		if cache == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				return "", err
			}
			cache = filepath.Join(base, "bulwark")
		}
		dir = filepath.Join(cache, "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run hack/tools.sh (make tools) to build the control plane", b, dir)
		}
	}
	return dir, nil
}

// Cluster is a running control plane with Bulwark's webhooks registered.
type Cluster struct {
	Env    *envtest.Environment
	Config *rest.Config
	// Assets is the directory of kube-apiserver, etcd and kubectl.
	Assets string
	// WebhookHost and WebhookPort are where the apiserver calls Bulwark; CertDir holds the
	// serving certificate (tls.crt, tls.key) the apiserver trusts.
	WebhookHost string
	WebhookPort int
	CertDir     string
}

// Options configure Start.
type Options struct {
	// WebhookPort is the port Bulwark will listen on; 0 picks a free one.
	WebhookPort int
	// ExemptNamespaces are excluded by the webhooks' namespaceSelector.
	ExemptNamespaces []string
	// CRDs are CustomResourceDefinition files installed before Start returns.
	CRDs []string
	// APIServerFlags are extra kube-apiserver flags: name (without dashes) to value.
	APIServerFlags map[string]string
}

// PolicyReportCRD is the wgpolicyk8s.io PolicyReport CRD the chart can install, relative to
// the repository root.
const PolicyReportCRD = "charts/bulwark/files/wgpolicyk8s.io_policyreports.yaml"

// RepoFile returns the absolute path of a file of the repository, from a test's working
// directory (a package directory inside the repository).
func RepoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory to find %s", rel)
		}
		dir = parent
	}
}

// handedOut are the ports FreePort has returned in this process. The kernel may give a port
// that was just closed again, and a test that asks for two ports before listening on either
// (a webhook's metrics and probe ports) must not get the same one twice.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a free TCP port on 127.0.0.1, one it has not returned before.
func FreePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		handedOut.Lock()
		fresh := !handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if fresh {
			return port, nil
		}
	}
	return 0, errors.New("no free port on 127.0.0.1 that was not handed out before")
}

// FreePortT is FreePort for a test, which it fails when no port is free.
func FreePortT(t testing.TB) int {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatalf("no free port on 127.0.0.1: %v", err)
	}
	return p
}

// Start starts etcd and kube-apiserver and registers Bulwark's validating and mutating webhook
// configurations with URLs on 127.0.0.1. The caller starts Bulwark on WebhookPort with CertDir.
func Start(o Options) (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	port := o.WebhookPort
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	host := "127.0.0.1"
	validating, mutating := server.WebhookConfigurations(server.WebhookOptions{
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			url := "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
			return admissionregistrationv1.WebhookClientConfig{URL: &url}
		},
		ExemptNamespaces: o.ExemptNamespaces,
	})
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			LocalServingHost:   host,
			LocalServingPort:   port,
			ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{validating},
			MutatingWebhooks:   []*admissionregistrationv1.MutatingWebhookConfiguration{mutating},
		},
		CRDInstallOptions: envtest.CRDInstallOptions{Paths: o.CRDs, ErrorIfPathMissing: true},
	}
	for name, value := range o.APIServerFlags {
		env.ControlPlane.GetAPIServer().Configure().Set(name, value)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	return &Cluster{
		Env: env, Config: cfg, Assets: assets,
		WebhookHost: host, WebhookPort: port, CertDir: env.WebhookInstallOptions.LocalServingCertDir,
	}, nil
}

// Stop stops the apiserver and etcd and removes their data.
func (c *Cluster) Stop() error { return c.Env.Stop() }
