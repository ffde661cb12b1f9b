package helm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// cluster is a kube-apiserver and etcd (envtest) with an admin kubeconfig, and no Bulwark:
// the chart's webhooks point at a Service that has no endpoints (there is no kubelet).
type cluster struct {
	cfg        *rest.Config
	cs         *kubernetes.Clientset
	c          client.Client
	kubeconfig string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	helmBinary(t) // fail before starting anything when helm is missing
	cp, err := framework.StartControlPlane()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cp.Config)
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{cfg: cfg, cs: cs, c: c, kubeconfig: kubeconfig}
}

// webhooks reads back the two webhook configurations named name.
func (c *cluster) webhooks(t *testing.T, name string) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	ctx := context.Background()
	v, err := c.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the ValidatingWebhookConfiguration: %v", err)
	}
	m, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the MutatingWebhookConfiguration: %v", err)
	}
	return v, m
}

// createPod creates (server-side dry run: the webhooks are still called, nothing is stored)
// a minimal compliant pod in namespace and returns the apiserver's answer.
func (c *cluster) createPod(namespace string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: namespace},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// expectWebhookFailure asserts the documented failure mode: with failurePolicy Fail and no
// Bulwark serving, the apiserver refuses a pod in a covered namespace because it cannot call
// the webhook.
func (c *cluster) expectWebhookFailure(t *testing.T, namespace string) {
	t.Helper()
	err := c.createPod(namespace)
	if err == nil {
		t.Fatalf("a pod in %s was admitted although the webhook cannot be reached and failurePolicy is Fail", namespace)
	}
	t.Logf("as documented, a pod in %s is refused: %v", namespace, err)
	if !strings.Contains(err.Error(), "failed calling webhook") || !strings.Contains(err.Error(), ".bulwark.dev") {
		t.Fatalf("a pod in %s was refused, but not because the webhook cannot be reached: %v", namespace, err)
	}
}

func (c *cluster) expectAdmitted(t *testing.T, namespace, why string) {
	t.Helper()
	if err := c.createPod(namespace); err != nil {
		t.Fatalf("a pod in %s was refused (%s): %v", namespace, why, err)
	}
}

// checkReleaseObjects reads back every object of the release's manifest: each was accepted.
func (c *cluster) checkReleaseObjects(t *testing.T, h *helmCLI, wantKinds ...string) {
	t.Helper()
	manifest := h.mustRun(t, "get", "manifest", releaseName, "--namespace", releaseNamespace)
	kinds := map[string]bool{}
	for _, o := range parseManifest(t, manifest) {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(o.APIVersion)
		u.SetKind(o.Kind)
		if err := c.c.Get(context.Background(), types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, u); err != nil {
			t.Errorf("%s of the release is not in the cluster: %v", o, err)
			continue
		}
		if got := u.GetLabels()["app.kubernetes.io/managed-by"]; got != "Helm" {
			t.Errorf("%s: app.kubernetes.io/managed-by %q", o, got)
		}
		kinds[o.Kind] = true
	}
	for _, k := range wantKinds {
		if !kinds[k] {
			t.Errorf("the release has no %s", k)
		}
	}
}

type releaseStatus struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Info    struct {
		Status string `json:"status"`
	} `json:"info"`
}

func status(t *testing.T, h *helmCLI) releaseStatus {
	t.Helper()
	var s releaseStatus
	if err := json.Unmarshal([]byte(h.mustRun(t, "status", releaseName, "--namespace", releaseNamespace, "-o", "json")), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// kubectl runs the real kubectl against the cluster and returns its output.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	assets, err := framework.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// selfSignedCA returns a PEM CA certificate, as the certificate manager would inject.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bulwark-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// canI asks the apiserver whether Bulwark's ServiceAccount may do something.
func (c *cluster) canI(t *testing.T, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	return c.allowed(t, authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + releaseNamespace + ":bulwark",
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace, "system:authenticated"},
		ResourceAttributes: &attrs,
	})
}

// mayScrape asks the apiserver what Bulwark asks it on every scrape of its metrics endpoint:
// may the ServiceAccount namespace/name get the non-resource URL /metrics?
func (c *cluster) mayScrape(t *testing.T, namespace, name string) bool {
	t.Helper()
	return c.allowed(t, authorizationv1.SubjectAccessReviewSpec{
		User:                  "system:serviceaccount:" + namespace + ":" + name,
		Groups:                []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	})
}

func (c *cluster) allowed(t *testing.T, spec authorizationv1.SubjectAccessReviewSpec) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: spec}
	got, err := c.cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Status.Allowed
}

// TestInstallUpgradeUninstall installs the chart with the real helm into a real apiserver,
// upgrades it, and uninstalls it: every object is accepted, the webhook configurations read
// back equal pkg/server's, the RBAC grants what the contract says and nothing near it, a
// schema violation is refused, and the failure mode and the break-glass steps of the README
// behave as documented. Without a kubelet no pod runs, so helm runs without --wait.
//
// The cert-manager variant is not installed: cert-manager's CRDs are not in this cluster, so
// its Certificate and Issuers would be refused (helm install --dry-run=server refuses them as
// well). The golden helm template output covers it.
func TestInstallUpgradeUninstall(t *testing.T) {
	cl := startCluster(t)
	h := newHelm(t, cl.kubeconfig)
	ctx := context.Background()

	t.Log("helm install")
	notes := h.mustRun(t, "install", releaseName, chartDir, "--namespace", releaseNamespace, "--create-namespace")
	// NOTES.txt tells the admin how the roll-out goes on from mode audit, and how to see a denial.
	for _, want := range []string{
		"The policy is in mode audit", "bulwark scan --cluster --policy policy.yaml --mode warn",
		"bulwark scan --cluster --policy policy.yaml --mode enforce", "--set policy.mode=warn", "--set policy.mode=enforce",
		"kinds: [DaemonSet]", "expires:", "kubectl label namespace NAME bulwark.dev/mode=warn",
		`kubectl -n bulwark-demo run node-sniffer`, `"hostNetwork":true`, `[host-network] spec.hostNetwork`,
		"kubectl get events -A --field-selector reason=FailedCreate", "kubectl get events -n bulwark-system",
		"kubectl -n bulwark-system rollout status deployment/bulwark",
		"kubectl create clusterrolebinding prometheus-bulwark-metrics --clusterrole=bulwark-metrics-reader",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("helm install's notes lack %q:\n%s", want, notes)
		}
	}
	if s := status(t, h); s.Info.Status != "deployed" || s.Version != 1 {
		t.Fatalf("release after install: %+v", s)
	}
	cl.checkReleaseObjects(t, h, "Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget",
		"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")

	v, m := cl.webhooks(t, "bulwark")
	wantV, wantM := wantWebhooks("bulwark", releaseNamespace, []string{"kube-system", releaseNamespace}, admissionregistrationv1.Fail, 5)
	checkWebhooks(t, v, m, wantV, wantM)

	// RBAC as stored, and as the authorizer applies it.
	wantCluster, wantRole := contractRules("bulwark", releaseNamespace)
	cr, err := cl.cs.RbacV1().ClusterRoles().Get(ctx, "bulwark", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compareRules(t, "stored ClusterRole", cr.Rules, wantCluster)
	role, err := cl.cs.RbacV1().Roles(releaseNamespace).Get(ctx, "bulwark", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compareRules(t, "stored Role", role.Rules, wantRole)
	for _, c := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "watch", Resource: "namespaces"}, true},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "bulwark"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "bulwark"}, true},
		{authorizationv1.ResourceAttributes{Verb: "watch", Namespace: releaseNamespace, Resource: "configmaps"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Namespace: releaseNamespace, Resource: "secrets", Name: "bulwark-tls"}, true},
		{authorizationv1.ResourceAttributes{Verb: "watch", Namespace: releaseNamespace, Resource: "secrets", Name: "bulwark-tls"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Namespace: releaseNamespace, Resource: "secrets"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Namespace: releaseNamespace, Group: "events.k8s.io", Resource: "events"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Namespace: releaseNamespace, Group: "coordination.k8s.io", Resource: "leases", Name: "bulwark-leader"}, true},
		// The metrics endpoint asks the apiserver about each scraper.
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, true},
		// Near misses: other webhook configurations, other secrets, other namespaces, deletes.
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "someone-else"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "bulwark"}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Namespace: releaseNamespace, Resource: "secrets", Name: "sh.helm.release.v1.bulwark.v1"}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Namespace: releaseNamespace, Resource: "secrets", Name: "sh.helm.release.v1.bulwark.v1"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Namespace: releaseNamespace, Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Verb: "watch", Namespace: releaseNamespace, Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Namespace: releaseNamespace, Resource: "secrets", Name: "bulwark-tls"}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Namespace: "default", Resource: "secrets", Name: "bulwark-tls"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Namespace: "default", Resource: "configmaps"}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Resource: "namespaces", Name: "default"}, false},
		// The audit lists pods everywhere, but may neither read one by name nor watch them.
		{authorizationv1.ResourceAttributes{Verb: "list", Namespace: "default", Resource: "pods"}, true},
		{authorizationv1.ResourceAttributes{Verb: "get", Namespace: "default", Resource: "pods", Name: "web"}, false},
		{authorizationv1.ResourceAttributes{Verb: "watch", Namespace: "default", Resource: "pods"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Namespace: "default", Resource: "secrets"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Namespace: releaseNamespace, Group: "coordination.k8s.io", Resource: "leases", Name: "bulwark-leader"}, false},
	} {
		if got := cl.canI(t, c.attrs); got != c.want {
			t.Errorf("bulwark's ServiceAccount may %s %s/%s %q in %q: %v, want %v", c.attrs.Verb, c.attrs.Group, c.attrs.Resource, c.attrs.Name, c.attrs.Namespace, got, c.want)
		}
	}

	// The metrics reader ClusterRole is installed, bound to no one: Prometheus may not scrape
	// yet, and Bulwark itself may not either.
	reader, err := cl.cs.RbacV1().ClusterRoles().Get(ctx, "bulwark-metrics-reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compareRules(t, "stored ClusterRole bulwark-metrics-reader", reader.Rules, framework.MetricsReaderRules())
	if cl.mayScrape(t, "monitoring", "prometheus") || cl.mayScrape(t, releaseNamespace, "bulwark") {
		t.Error("a ServiceAccount may get /metrics before metrics.readerSubjects names it")
	}

	// The documented failure mode: no Bulwark serving and failurePolicy Fail refuse pods in
	// covered namespaces; the release namespace and kube-system are never sent to Bulwark.
	cl.expectWebhookFailure(t, "default")
	cl.expectAdmitted(t, releaseNamespace, "the release namespace is excluded by the namespaceSelector")
	cl.expectAdmitted(t, "kube-system", "kube-system is excluded by the namespaceSelector")

	// The built-in certificate manager injects the CA bundle with its own field manager; an
	// upgrade must leave it in place (the chart does not render the field).
	bundle := selfSignedCA(t)
	v.Webhooks[0].ClientConfig.CABundle = bundle
	if _, err := cl.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{FieldManager: "bulwark"}); err != nil {
		t.Fatal(err)
	}
	m.Webhooks[0].ClientConfig.CABundle = bundle
	if _, err := cl.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{FieldManager: "bulwark"}); err != nil {
		t.Fatal(err)
	}

	t.Log("helm upgrade: 3 replicas, failurePolicy Ignore, an extra exempt namespace, a stricter policy, the NetworkPolicy, Prometheus bound to the metrics reader")
	h.mustRun(t, "upgrade", releaseName, chartDir, "--namespace", releaseNamespace,
		"--set", "replicaCount=3", "--set", "failurePolicy=Ignore", "--set", "exemptNamespaces={team-a}",
		"--set", "policy.profile=restricted", "--set", "networkPolicy.enabled=true", "--set", "timeoutSeconds=3",
		"--set", "metrics.readerSubjects[0].kind=ServiceAccount", "--set", "metrics.readerSubjects[0].name=prometheus",
		"--set", "metrics.readerSubjects[0].namespace=monitoring")
	if !cl.mayScrape(t, "monitoring", "prometheus") {
		t.Error("the ServiceAccount monitoring/prometheus named in metrics.readerSubjects may not get /metrics")
	}
	if cl.mayScrape(t, "monitoring", "grafana") || cl.mayScrape(t, "default", "prometheus") {
		t.Error("a ServiceAccount not named in metrics.readerSubjects may get /metrics")
	}
	if s := status(t, h); s.Info.Status != "deployed" || s.Version != 2 {
		t.Fatalf("release after upgrade: %+v", s)
	}
	cl.checkReleaseObjects(t, h, "NetworkPolicy", "PodDisruptionBudget")
	v, m = cl.webhooks(t, "bulwark")
	wantV, wantM = wantWebhooks("bulwark", releaseNamespace, []string{"kube-system", releaseNamespace, "team-a"}, admissionregistrationv1.Ignore, 3)
	checkWebhooks(t, v, m, wantV, wantM)
	if string(v.Webhooks[0].ClientConfig.CABundle) != string(bundle) || string(m.Webhooks[0].ClientConfig.CABundle) != string(bundle) {
		t.Errorf("helm upgrade removed the injected caBundle (validating %d bytes, mutating %d bytes)",
			len(v.Webhooks[0].ClientConfig.CABundle), len(m.Webhooks[0].ClientConfig.CABundle))
	}
	dep, err := cl.cs.AppsV1().Deployments(releaseNamespace).Get(ctx, "bulwark", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(dep.Spec.Replicas, 0); got != 3 {
		t.Errorf("Deployment replicas %d after the upgrade, want 3", got)
	}
	cm, err := cl.cs.CoreV1().ConfigMaps(releaseNamespace).Get(ctx, "bulwark-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["policy.yaml"], "profile: restricted") {
		t.Errorf("policy after the upgrade:\n%s", cm.Data["policy.yaml"])
	}
	// failurePolicy Ignore: the unreachable webhook no longer blocks (break glass by upgrade).
	cl.expectAdmitted(t, "default", "failurePolicy is Ignore")

	// The NetworkPolicy admits the webhook port from the apiserver's addresses, as it
	// publishes them.
	slice, err := cl.cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var apiservers []string
	for _, ep := range slice.Endpoints {
		for _, a := range ep.Addresses {
			apiservers = append(apiservers, a+"/32")
		}
	}
	np, err := cl.cs.NetworkingV1().NetworkPolicies(releaseNamespace).Get(ctx, "bulwark", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var from []string
	if len(np.Spec.Ingress) > 0 && len(np.Spec.Ingress[0].Ports) == 1 && np.Spec.Ingress[0].Ports[0].Port.String() == "webhook" {
		for _, peer := range np.Spec.Ingress[0].From {
			if peer.IPBlock != nil && peer.PodSelector == nil && peer.NamespaceSelector == nil {
				from = append(from, peer.IPBlock.CIDR)
			}
		}
	}
	if len(apiservers) == 0 || !slices.Equal(from, apiservers) {
		t.Errorf("the NetworkPolicy admits the webhook port from %q, want the apiserver's addresses %q", from, apiservers)
	}

	t.Log("a values.schema.json violation is refused by helm upgrade and helm install")
	if _, err := h.run("upgrade", releaseName, chartDir, "--namespace", releaseNamespace, "--reuse-values", "--set", "timeoutSeconds=60"); err == nil {
		t.Error("helm upgrade accepted timeoutSeconds=60")
	} else if !strings.Contains(err.Error(), "/timeoutSeconds") {
		t.Errorf("helm upgrade's error does not name timeoutSeconds: %v", err)
	}
	if s := status(t, h); s.Version != 2 || s.Info.Status != "deployed" {
		t.Errorf("a refused upgrade changed the release: %+v", s)
	}
	for _, c := range []struct{ set, want string }{
		{"failurePolicy=Sometimes", "at '/failurePolicy': value must be one of 'Fail', 'Ignore'"},
		{"replicaCount=two", "at '/replicaCount': got string, want integer"},
		{"replica=2", "additional properties 'replica' not allowed"},
	} {
		_, err := h.run("install", "refused", chartDir, "--namespace", "refused", "--create-namespace", "--set", c.set)
		if err == nil {
			t.Errorf("helm install accepted --set %s", c.set)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm install --set %s: the error does not say %q:\n%v", c.set, c.want, err)
		}
	}
	if _, err := cl.cs.CoreV1().Namespaces().Get(ctx, "refused", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused install created its namespace (err %v)", err)
	}
	if out := h.mustRun(t, "list", "--all-namespaces", "-q"); strings.TrimSpace(out) != releaseName {
		t.Errorf("releases after the refused installs: %q, want only %s", out, releaseName)
	}

	t.Log("one namespace: the bulwark.dev/mode=off label needs Bulwark up, exemptNamespaces does not")
	h.mustRun(t, "upgrade", releaseName, chartDir, "--namespace", releaseNamespace, "--reset-values", "--set", "exemptNamespaces={team-a}")
	if cl.mayScrape(t, "monitoring", "prometheus") {
		t.Error("monitoring/prometheus may still get /metrics after metrics.readerSubjects was reset")
	}
	v, m = cl.webhooks(t, "bulwark")
	wantV, wantM = wantWebhooks("bulwark", releaseNamespace, []string{"kube-system", releaseNamespace, "team-a"}, admissionregistrationv1.Fail, 5)
	checkWebhooks(t, v, m, wantV, wantM)
	cl.kubectl(t, "create", "namespace", "team-a")
	cl.kubectl(t, "create", "namespace", "team-b")
	cl.kubectl(t, "label", "namespace", "team-b", "bulwark.dev/mode=off")
	cl.expectWebhookFailure(t, "default")
	cl.expectWebhookFailure(t, "team-b") // the apiserver still calls Bulwark, which is down
	cl.expectAdmitted(t, "team-a", "team-a is in exemptNamespaces")

	t.Log("break glass by deleting the webhook configurations; helm upgrade restores them")
	cl.kubectl(t, "delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration", "bulwark")
	cl.expectAdmitted(t, "default", "the webhook configurations were deleted")
	h.mustRun(t, "upgrade", releaseName, chartDir, "--namespace", releaseNamespace, "--reuse-values")
	v, m = cl.webhooks(t, "bulwark")
	checkWebhooks(t, v, m, wantV, wantM)
	cl.expectWebhookFailure(t, "default")

	t.Log("break glass with kubectl patch (failurePolicy Ignore); helm upgrade restores Fail")
	for _, kind := range []string{"validatingwebhookconfiguration", "mutatingwebhookconfiguration"} {
		cl.kubectl(t, "patch", kind, "bulwark", "--type=json", "-p", `[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]`)
	}
	cl.expectAdmitted(t, "default", "failurePolicy was patched to Ignore")
	// kubectl now owns failurePolicy: a plain helm upgrade stops at the server-side apply
	// conflict (as the README says) and --force-conflicts takes the field back.
	if _, err := h.run("upgrade", releaseName, chartDir, "--namespace", releaseNamespace, "--reuse-values"); err == nil {
		t.Error("helm upgrade overwrote failurePolicy set with kubectl patch without --force-conflicts; the README says it stops at a conflict")
	} else if !strings.Contains(err.Error(), "conflict") || !strings.Contains(err.Error(), "failurePolicy") {
		t.Errorf("helm upgrade after kubectl patch failed, but not with the conflict the README describes: %v", err)
	}
	h.mustRun(t, "upgrade", releaseName, chartDir, "--namespace", releaseNamespace, "--reuse-values", "--force-conflicts")
	v, m = cl.webhooks(t, "bulwark")
	checkWebhooks(t, v, m, wantV, wantM)
	cl.expectWebhookFailure(t, "default")

	t.Log("helm uninstall")
	h.mustRun(t, "uninstall", releaseName, "--namespace", releaseNamespace)
	if _, err := cl.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "bulwark", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ValidatingWebhookConfiguration after uninstall: %v", err)
	}
	if _, err := cl.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "bulwark", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("MutatingWebhookConfiguration after uninstall: %v", err)
	}
	if _, err := cl.cs.RbacV1().ClusterRoles().Get(ctx, "bulwark", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRole after uninstall: %v", err)
	}
	cl.expectAdmitted(t, "default", "the release is uninstalled")
}

// TestInstallOverrides installs values-overrides.yaml into a real apiserver: it accepts the
// per-webhook selectors and CEL matchConditions, the PodDisruptionBudget by maxUnavailable and
// the pod in the node's network; the webhooks read back as rendered; the apiserver sends to
// the validating webhook only the namespaces its selector picks, never the release namespace;
// and the RBAC binds the existing ServiceAccount.
func TestInstallOverrides(t *testing.T) {
	cl := startCluster(t)
	h := newHelm(t, cl.kubeconfig)
	ctx := context.Background()
	r := renders[3]
	cl.kubectl(t, "create", "namespace", r.namespace)
	cl.kubectl(t, "label", "namespace", r.namespace, "example.com/team=platform")
	cl.kubectl(t, "-n", r.namespace, "create", "serviceaccount", r.serviceAccount)
	cl.kubectl(t, "create", "namespace", "team-a")
	cl.kubectl(t, "label", "namespace", "team-a", "example.com/team=a")

	h.mustRun(t, append([]string{"install", r.release, chartDir, "--namespace", r.namespace}, r.flags...)...)
	v, m := cl.webhooks(t, r.fullname)
	wantV, wantM := wantWebhooks(r.fullname, r.namespace, []string{"kube-system", r.namespace}, admissionregistrationv1.Ignore, 8)
	overrideWebhooks(wantV, wantM)
	checkWebhooks(t, v, m, wantV, wantM)

	// The validating webhook (failurePolicy Fail, Bulwark not running) is called for team-a
	// only; the mutating one (Ignore) for every namespace but kube-system and the release's.
	cl.expectWebhookFailure(t, "team-a")
	cl.expectAdmitted(t, "default", "webhooks.validating.namespaceSelector does not pick default")
	cl.expectAdmitted(t, r.namespace, "the chart's exclusion stays in the user's namespaceSelector")

	pdb, err := cl.cs.PolicyV1().PodDisruptionBudgets(r.namespace).Get(ctx, r.fullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable.String() != "50%" {
		t.Errorf("stored PodDisruptionBudget %+v, want maxUnavailable 50%%", pdb.Spec)
	}
	dep, err := cl.cs.AppsV1().Deployments(r.namespace).Get(ctx, r.fullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if spec := dep.Spec.Template.Spec; !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet || spec.ServiceAccountName != r.serviceAccount {
		t.Errorf("stored pod spec: hostNetwork %v, dnsPolicy %s, serviceAccountName %s", spec.HostNetwork, spec.DNSPolicy, spec.ServiceAccountName)
	}
	if _, err := cl.cs.CoreV1().ServiceAccounts(r.namespace).Get(ctx, r.fullname, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a ServiceAccount %s was created with serviceAccount.create false (err %v)", r.fullname, err)
	}
	for _, c := range []struct {
		account string
		attrs   authorizationv1.ResourceAttributes
		want    bool
	}{
		{r.serviceAccount, authorizationv1.ResourceAttributes{Verb: "patch", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: r.fullname}, true},
		{r.serviceAccount, authorizationv1.ResourceAttributes{Verb: "update", Namespace: r.namespace, Resource: "secrets", Name: r.fullname + "-tls"}, true},
		{r.fullname, authorizationv1.ResourceAttributes{Verb: "watch", Resource: "namespaces"}, false},
	} {
		got := cl.allowed(t, authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + r.namespace + ":" + c.account,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + r.namespace, "system:authenticated"},
			ResourceAttributes: &c.attrs,
		})
		if got != c.want {
			t.Errorf("%s may %s %s %q: %v, want %v", c.account, c.attrs.Verb, c.attrs.Resource, c.attrs.Name, got, c.want)
		}
	}
	h.mustRun(t, "uninstall", r.release, "--namespace", r.namespace)
}
