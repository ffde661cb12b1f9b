package framework

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/pkg/certs"
)

// The node's addresses. They exist only inside the node's network namespace: the node's
// interface, its pods' bridge and the Service range routed by kube-proxy's rules there.
const (
	NodeIP        = "10.254.0.2"
	nodePrefixLen = 24
	PodCIDR       = "10.244.0.0/24"
	ServiceCIDR   = "10.96.0.0/16"
	// kubernetesServiceIP is the first address of ServiceCIDR, the `kubernetes` Service.
	kubernetesServiceIP = "10.96.0.1"
	NodeName            = "bulwark-node"
	apiserverPort       = 6443
	// kubeRouterHealthPort is kube-router's health endpoint, inside the node.
	kubeRouterHealthPort = 20244
)

// CNIBinDir is where Debian's containernetworking-plugins puts the plugins.
const CNIBinDir = "/usr/lib/cni"

// SandboxImage is the pause image the node's containerd starts every pod sandbox from,
// imported from the test images (hack/image testimages).
const SandboxImage = "bulwark.local/test/pause:1"

// nodeBinaries are the ones hack/tools.sh builds for the node, beside etcd, kube-apiserver and
// kubectl.
var nodeBinaries = []string{"kubelet", "kube-scheduler", "kube-controller-manager", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "kube-router"}

// nodePKI is what the control plane authenticates with: a CA for serving and client
// certificates, the apiserver's serving certificate, the apiserver's client certificate for
// the kubelet, the ServiceAccount signing key, and static tokens for the components and the
// admin (the kubelet's is system:node:NAME, so that the Node authorizer and NodeRestriction
// apply to it as in a real cluster).
type nodePKI struct {
	ca, serving, kubeletServing, kubeletClient *certs.KeyPair
	saKeyPEM, saPubPEM                         []byte
	tokens                                     map[string]string // user -> token
}

// The static token file's users: name, uid and groups.
var nodeUsers = []struct{ name, groups string }{
	{"admin", "system:masters"},
	{"system:kube-controller-manager", ""},
	{"system:kube-scheduler", ""},
	{"system:kube-proxy", ""},
	{"system:node:" + NodeName, "system:nodes"},
}

func newNodePKI() (*nodePKI, error) {
	now := time.Now()
	ca, err := certs.NewCA(now, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	names := certs.Names{
		DNS: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		IPs: []net.IP{net.ParseIP(NodeIP), net.ParseIP("127.0.0.1"), net.ParseIP(kubernetesServiceIP)},
	}
	serving, err := certs.NewServing(ca, names, now, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	ks, err := certs.NewServing(ca, certs.Names{DNS: []string{NodeName}, IPs: []net.IP{net.ParseIP(NodeIP)}}, now, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	kc, err := ClientCert(ca, "kube-apiserver-kubelet-client", []string{"system:masters"}, now)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	p := &nodePKI{
		ca: ca, serving: serving, kubeletServing: ks, kubeletClient: kc,
		saKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		saPubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		tokens:   map[string]string{},
	}
	for _, u := range nodeUsers {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		p.tokens[u.name] = fmt.Sprintf("%x", b)
	}
	return p, nil
}

// ClientCert is a client certificate for cn in the groups orgs, signed by ca.
func ClientCert(ca *certs.KeyPair, cn string, orgs []string, now time.Time) (*certs.KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     ca.Cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &certs.KeyPair{
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// tokenFile is the apiserver's --token-auth-file.
func (p *nodePKI) tokenFile() string {
	var b strings.Builder
	for _, u := range nodeUsers {
		fmt.Fprintf(&b, "%s,%s,%s", p.tokens[u.name], u.name, u.name)
		if u.groups != "" {
			fmt.Fprintf(&b, ",%q", u.groups)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// kubeconfig is a kubeconfig for user at server, trusting the node's CA.
func (p *nodePKI) kubeconfig(server, user string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: bulwark-node
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: bulwark-node
  context: {cluster: bulwark-node, user: %q}
current-context: bulwark-node
`, server, b64(p.ca.CertPEM), user, p.tokens[user], user)
}

// nodeFiles are the configuration files of the node's components, by path below the run's
// directory.
func nodeFiles(dir string, p *nodePKI, cgroupRoot string) map[string]string {
	inside := fmt.Sprintf("https://%s:%d", NodeIP, apiserverPort)
	files := map[string]string{
		"pki/ca.crt":                    string(p.ca.CertPEM),
		"pki/apiserver.crt":             string(p.serving.CertPEM),
		"pki/apiserver.key":             string(p.serving.KeyPEM),
		"pki/kubelet.crt":               string(p.kubeletServing.CertPEM),
		"pki/kubelet.key":               string(p.kubeletServing.KeyPEM),
		"pki/kubelet-client.crt":        string(p.kubeletClient.CertPEM),
		"pki/kubelet-client.key":        string(p.kubeletClient.KeyPEM),
		"pki/sa.key":                    string(p.saKeyPEM),
		"pki/sa.pub":                    string(p.saPubPEM),
		"pki/tokens.csv":                p.tokenFile(),
		"kubeconfig/admin":              p.kubeconfig(inside, "admin"),
		"kubeconfig/controller-manager": p.kubeconfig(inside, "system:kube-controller-manager"),
		"kubeconfig/scheduler":          p.kubeconfig(inside, "system:kube-scheduler"),
		"kubeconfig/kube-proxy":         p.kubeconfig(inside, "system:kube-proxy"),
		"kubeconfig/kubelet":            p.kubeconfig(inside, "system:node:"+NodeName),
		"containerd/config.toml":        containerdConfig(dir),
		"containerd/certs.d/" + RegistryHost + "/hosts.toml": registryHosts(),
		"cni/net.d/10-bulwark.conflist":                      cniConfig(dir),
		"kubelet/config.yaml":                                kubeletConfig(dir, cgroupRoot),
		"kube-proxy/config.yaml":                             kubeProxyConfig(dir),
	}
	return files
}

// containerdSocket is containerd's socket below the run's directory.
func containerdSocket(dir string) string { return filepath.Join(dir, "run", "containerd.sock") }

// containerdConfig sets containerd up for this machine kind: root without CAP_SYS_RESOURCE
// (restrict_oom_score_adj), no AppArmor, no hugetlb controller, cgroupfs, Debian's runc and CNI
// plugins; every path below the run's directory, pod network namespaces included.
func containerdConfig(dir string) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
temp = %[3]q
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %[4]q
[ttrpc]
  address = %[5]q
[debug]
  level = "warn"

[plugins.'io.containerd.internal.v1.opt']
  path = %[6]q

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  tolerate_missing_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = %[7]q
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[8]q]
    conf_dir = %[9]q

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[10]q
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = %[11]q
`, filepath.Join(dir, "containerd/root"), filepath.Join(dir, "containerd/state"), filepath.Join(dir, "containerd/tmp"),
		containerdSocket(dir), containerdSocket(dir)+".ttrpc", filepath.Join(dir, "containerd/opt"),
		runcPath(), CNIBinDir, filepath.Join(dir, "cni/net.d"), SandboxImage, filepath.Join(dir, "containerd/certs.d"))
}

// RegistryHost is where the node's registry (Node.ServeRegistry) is, for image references:
// on the node's address, so that containerd and pods reach it alike.
var RegistryHost = net.JoinHostPort(NodeIP, "5000")

// registryHosts tells containerd to pull from the node's registry over plain HTTP, as
// registries inside a cluster's network often are.
func registryHosts() string {
	return fmt.Sprintf(`server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`, RegistryHost)
}

func runcPath() string {
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "runc"
}

// cniConfig is a bridge with host-local addresses from PodCIDR, no masquerading (nothing
// leaves the node's namespace), and portmap for hostPort.
func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "bulwark-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, filepath.Join(dir, "cni/ipam"), PodCIDR)
}

// kubeletConfig carries the settings this machine kind needs (cgroup v1 allowed, cgroupfs, no
// swap check, oomScoreAdj 0 for root without CAP_SYS_RESOURCE) and keeps the kubelet's state
// below the run's directory and its cgroups below cgroupRoot. Image garbage collection is off:
// the images are imported and could not be pulled again.
func kubeletConfig(dir, cgroupRoot string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[2]q}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://%[3]s
cgroupDriver: cgroupfs
cgroupRoot: %[4]s
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
podLogsDir: %[5]q
podCIDR: %[6]s
resolvConf: ""
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
tlsCertFile: %[7]q
tlsPrivateKeyFile: %[8]q
rotateCertificates: false
serverTLSBootstrap: false
shutdownGracePeriod: 0s
`, NodeIP, filepath.Join(dir, "pki/ca.crt"), containerdSocket(dir), cgroupRoot, filepath.Join(dir, "pod-logs"), PodCIDR,
		filepath.Join(dir, "pki/kubelet.crt"), filepath.Join(dir, "pki/kubelet.key"))
}

// kubeProxyConfig is iptables mode with the conntrack settings left alone: those sysctls are
// the machine's, not the namespace's.
func kubeProxyConfig(dir string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
clientConnection: {kubeconfig: %q}
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, PodCIDR, NodeName, filepath.Join(dir, "kubeconfig/kube-proxy"))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
