package framework

import (
	"errors"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubeconfigUser is one context of a kubeconfig: its name (the context's and its user's), and
// the credentials it authenticates with: the client certificate and key of Config, or Token.
type KubeconfigUser struct {
	Name   string
	Config *rest.Config
	Token  string
}

// kubeconfigCluster names the apiserver in every kubeconfig the framework writes, as envtest
// names it in its own.
const kubeconfigCluster = "envtest"

// WriteKubeconfigFile writes a kubeconfig for the apiserver of server (its address and CA) to
// path, readable by its owner only, with one context per user; the first is the current one.
func WriteKubeconfigFile(path string, server *rest.Config, users ...KubeconfigUser) error {
	if len(users) == 0 {
		return errors.New("a kubeconfig needs at least one user")
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[kubeconfigCluster] = &clientcmdapi.Cluster{Server: server.Host, CertificateAuthorityData: server.CAData}
	for _, u := range users {
		auth := &clientcmdapi.AuthInfo{Token: u.Token}
		if u.Config != nil {
			auth.ClientCertificateData, auth.ClientKeyData = u.Config.CertData, u.Config.KeyData
		}
		kc.AuthInfos[u.Name] = auth
		kc.Contexts[u.Name] = &clientcmdapi.Context{Cluster: kubeconfigCluster, AuthInfo: u.Name}
	}
	kc.CurrentContext = users[0].Name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// User adds a user with a client certificate for name and groups to the control plane and
// returns it as a kubeconfig context named name.
func (c *Cluster) User(name string, groups ...string) (KubeconfigUser, error) {
	u, err := c.Env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return KubeconfigUser{}, err
	}
	return KubeconfigUser{Name: name, Config: rest.CopyConfig(u.Config())}, nil
}

// WriteKubeconfig writes an admin (system:masters) kubeconfig for the cluster to path. Its
// one context is named envtest, as in the kubeconfigs envtest writes.
func (c *Cluster) WriteKubeconfig(path string) error {
	admin, err := c.User("admin", "system:masters")
	if err != nil {
		return err
	}
	admin.Name = kubeconfigCluster
	return WriteKubeconfigFile(path, c.Config, admin)
}

// WriteClientKubeconfig writes a kubeconfig holding cfg's server and client certificate (as
// ServiceAccountConfig returns) to path, as the context bulwark.
func WriteClientKubeconfig(path string, cfg *rest.Config) error {
	return WriteKubeconfigFile(path, cfg, KubeconfigUser{Name: "bulwark", Config: cfg})
}
