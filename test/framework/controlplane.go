package framework

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// StartControlPlane starts etcd and kube-apiserver with no webhook configuration at all: for
// tests that register their own (the built-in TLS tests inject the CA bundle themselves). The
// CustomResourceDefinition files crds are installed before it returns.
func StartControlPlane(crds ...string) (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true},
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	return &Cluster{Env: env, Config: cfg, Assets: assets}, nil
}
