package kustomize

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// The install, as the contract names it for release "bulwark" in namespace "bulwark-system".
const (
	namespace    = "bulwark-system"
	fullname     = "bulwark"
	tlsSecret    = "bulwark-tls"
	policyName   = "bulwark-policy"
	certDir      = "/tmp/k8s-webhook-server/serving-certs"
	tlsSecretArg = "--tls-secret=" + tlsSecret
	servingCert  = "bulwark-serving-cert"
	injectCAKey  = "cert-manager.io/inject-ca-from"
)

// wantArgs are bulwark serve's arguments with built-in TLS: the contract's, then the chart's
// defaults for the log level and the graceful shutdown.
var wantArgs = []string{
	"serve",
	"--namespace=$(POD_NAMESPACE)",
	"--policy-configmap=$(POD_NAMESPACE)/" + policyName,
	"--service-name=" + fullname,
	"--webhook-config-name=" + fullname,
	"--leader-elect",
	"--cert-dir=" + certDir,
	tlsSecretArg,
	"--log-level=info",
	"--graceful-shutdown-timeout=25s",
	"--shutdown-delay=5s",
	"--resolve-images",
	"--image-lookup-budget=1s",
	"--metrics-bind-address=:8443",
	"--metrics-secure=true",
	"--audit-interval=10m",
	"--audit-metrics-max-namespaces=50",
	"--audit-events=true",
	"--audit-policy-reports=true",
	"--audit-policy-report-scope=resource",
}

// defaultIDs are the objects of config/default.
var defaultIDs = []string{
	"bulwark-system configmap/bulwark-policy",
	"bulwark-system deployment.apps/bulwark",
	"bulwark-system poddisruptionbudget.policy/bulwark",
	"bulwark-system role.rbac.authorization.k8s.io/bulwark",
	"bulwark-system rolebinding.rbac.authorization.k8s.io/bulwark",
	"bulwark-system service/bulwark",
	"bulwark-system serviceaccount/bulwark",
	"clusterrole.rbac.authorization.k8s.io/bulwark",
	"clusterrole.rbac.authorization.k8s.io/bulwark-metrics-reader",
	"clusterrolebinding.rbac.authorization.k8s.io/bulwark",
	"mutatingwebhookconfiguration.admissionregistration.k8s.io/bulwark",
	"namespace/bulwark-system",
	"validatingwebhookconfiguration.admissionregistration.k8s.io/bulwark",
}

// certManagerIDs are what config/certmanager adds: a self-signed CA chain and the serving
// certificate, as the chart renders them with certManager.enabled.
var certManagerIDs = []string{
	"bulwark-system certificate.cert-manager.io/bulwark-ca",
	"bulwark-system certificate.cert-manager.io/bulwark-serving-cert",
	"bulwark-system issuer.cert-manager.io/bulwark-ca",
	"bulwark-system issuer.cert-manager.io/bulwark-selfsigned",
}

func TestDefaultObjects(t *testing.T) {
	objs := parse(t, render(t, "default"))
	if got := objs.ids(); !slices.Equal(got, defaultIDs) {
		t.Errorf("config/default renders\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(defaultIDs, "\n  "))
	}
}

// TestWebhookConfigurations: both configurations are exactly what pkg/server builds for a
// Service client config, with kube-system and Bulwark's namespace exempt.
func TestWebhookConfigurations(t *testing.T) {
	for _, dir := range []string{"default", "certmanager"} {
		t.Run(dir, func(t *testing.T) {
			objs := parse(t, render(t, dir))
			var validating admissionregistrationv1.ValidatingWebhookConfiguration
			var mutating admissionregistrationv1.MutatingWebhookConfiguration
			typed(t, objs.get(t, "ValidatingWebhookConfiguration", fullname), &validating)
			typed(t, objs.get(t, "MutatingWebhookConfiguration", fullname), &mutating)

			wantV, wantM := server.WebhookConfigurations(server.WebhookOptions{
				ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
					port := int32(443)
					return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
						Namespace: namespace, Name: fullname, Path: &path, Port: &port,
					}}
				},
				ExemptNamespaces: []string{"kube-system", namespace},
			})
			if validating.Name != server.ConfigName || mutating.Name != server.ConfigName {
				t.Errorf("configuration names %q, %q, want %q", validating.Name, mutating.Name, server.ConfigName)
			}
			if len(validating.Webhooks) != 2 || len(mutating.Webhooks) != 1 {
				t.Fatalf("want two validating webhooks (pods, RBAC) and one mutating, got %d and %d", len(validating.Webhooks), len(mutating.Webhooks))
			}
			if got := validating.Webhooks[0].Rules; !equality.Semantic.DeepEqual(got, server.Rules()) {
				t.Errorf("validating rules differ from server.Rules():\n%s", yamlDiff(t, got, server.Rules()))
			}
			if got := validating.Webhooks[1]; got.Name != server.RBACName || !equality.Semantic.DeepEqual(got.Rules, server.RBACRules()) {
				t.Errorf("validating webhook %s: rules differ from server.RBACRules():\n%s", got.Name, yamlDiff(t, got.Rules, server.RBACRules()))
			}
			if got := mutating.Webhooks[0].Rules; !equality.Semantic.DeepEqual(got, server.Rules()) {
				t.Errorf("mutating rules differ from server.Rules():\n%s", yamlDiff(t, got, server.Rules()))
			}
			if !equality.Semantic.DeepEqual(validating.Webhooks, wantV.Webhooks) {
				t.Errorf("validating webhook differs from pkg/server's:\n%s", yamlDiff(t, validating.Webhooks, wantV.Webhooks))
			}
			if !equality.Semantic.DeepEqual(mutating.Webhooks, wantM.Webhooks) {
				t.Errorf("mutating webhook differs from pkg/server's:\n%s", yamlDiff(t, mutating.Webhooks, wantM.Webhooks))
			}
		})
	}
}

// yamlDiff lists where got differs from want.
func yamlDiff(t *testing.T, got, want any) string {
	t.Helper()
	var g, w any
	for _, p := range []struct {
		v   any
		out *any
	}{{got, &g}, {want, &w}} {
		data, err := yaml.Marshal(p.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, p.out); err != nil {
			t.Fatal(err)
		}
	}
	return "  " + strings.Join(diff("", g, w), "\n  ") + "\n(left: rendered, right: want)"
}

// permission is one thing a role allows: a verb on a resource, by name or ("") any.
type permission struct{ group, resource, name, verb string }

// permissions expands rules into every permission they grant, sorted. (Rules with
// nonResourceURLs grant none here; TestRBAC requires that there are none.)
func permissions(rules []rbacv1.PolicyRule) []permission {
	var out []permission
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					for _, v := range r.Verbs {
						out = append(out, permission{g, res, n, v})
					}
				}
			}
		}
	}
	return sortedPermissions(out)
}

func expand(group string, resources, names, verbs []string) []permission {
	return permissions([]rbacv1.PolicyRule{{APIGroups: []string{group}, Resources: resources, ResourceNames: names, Verbs: verbs}})
}

// The contract's RBAC, rule by rule.
var (
	wantClusterRole = sortedPermissions(slices.Concat(
		expand("", []string{"namespaces"}, nil, []string{"get", "list", "watch"}),
		expand("admissionregistration.k8s.io", []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"}, []string{fullname}, []string{"get", "update", "patch"}),
		// The audit.
		expand("", []string{"pods", "podtemplates", "replicationcontrollers"}, nil, []string{"list"}),
		expand("apps", []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, nil, []string{"list"}),
		expand("batch", []string{"jobs", "cronjobs"}, nil, []string{"list"}),
		// The namespace checks.
		expand("", []string{"resourcequotas", "limitranges"}, nil, []string{"list"}),
		expand("networking.k8s.io", []string{"networkpolicies"}, nil, []string{"list"}),
		// The access-control checks.
		expand("rbac.authorization.k8s.io", []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, nil, []string{"list"}),
		expand("events.k8s.io", []string{"events"}, nil, []string{"create", "patch"}),
		expand("wgpolicyk8s.io", []string{"policyreports"}, nil, []string{"get", "list", "create", "update", "delete"}),
		// The metrics endpoint's authentication and authorization (--metrics-secure).
		expand("authentication.k8s.io", []string{"tokenreviews"}, nil, []string{"create"}),
		expand("authorization.k8s.io", []string{"subjectaccessreviews"}, nil, []string{"create"}),
	))
	wantRole = sortedPermissions(slices.Concat(
		expand("", []string{"configmaps"}, nil, []string{"get", "list", "watch"}),
		expand("", []string{"secrets"}, []string{tlsSecret}, []string{"get", "update", "patch", "list", "watch"}),
		expand("", []string{"secrets"}, nil, []string{"create"}),
		expand("events.k8s.io", []string{"events"}, nil, []string{"create", "patch"}),
		expand("", []string{"events"}, nil, []string{"create", "patch"}),
		expand("coordination.k8s.io", []string{"leases"}, nil, []string{"get", "create", "update"}),
	))
)

// sortedPermissions sorts p and drops duplicates (two rules may grant the same).
func sortedPermissions(p []permission) []permission {
	p = slices.Clone(p)
	key := func(a permission) string { return a.group + "/" + a.resource + "/" + a.name + "/" + a.verb }
	slices.SortFunc(p, func(a, b permission) int { return strings.Compare(key(a), key(b)) })
	return slices.Compact(p)
}

// TestRBAC: the ClusterRole and Role grant exactly the contract's permissions, bound to the
// ServiceAccount bulwark.
func TestRBAC(t *testing.T) {
	objs := parse(t, render(t, "default"))
	var cr rbacv1.ClusterRole
	var role rbacv1.Role
	typed(t, objs.get(t, "ClusterRole", fullname), &cr)
	typed(t, objs.get(t, "Role", fullname), &role)
	if cr.AggregationRule != nil {
		t.Error("the ClusterRole aggregates other roles")
	}
	for _, r := range slices.Concat(cr.Rules, role.Rules) {
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("a rule grants nonResourceURLs: %+v", r)
		}
	}
	if got, want := permissions(cr.Rules), wantClusterRole; !slices.Equal(got, want) {
		t.Errorf("ClusterRole %s grants\n  %v\nwant\n  %v", fullname, got, want)
	}
	if role.Namespace != namespace {
		t.Errorf("Role in namespace %q, want %q", role.Namespace, namespace)
	}
	if got, want := permissions(role.Rules), wantRole; !slices.Equal(got, want) {
		t.Errorf("Role %s grants\n  %v\nwant\n  %v", fullname, got, want)
	}

	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: fullname, Namespace: namespace}}
	var crb rbacv1.ClusterRoleBinding
	var rb rbacv1.RoleBinding
	typed(t, objs.get(t, "ClusterRoleBinding", fullname), &crb)
	typed(t, objs.get(t, "RoleBinding", fullname), &rb)
	if want := (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: fullname}); crb.RoleRef != want {
		t.Errorf("ClusterRoleBinding roleRef %+v, want %+v", crb.RoleRef, want)
	}
	if want := (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: fullname}); rb.RoleRef != want {
		t.Errorf("RoleBinding roleRef %+v, want %+v", rb.RoleRef, want)
	}
	if !slices.Equal(crb.Subjects, subjects) || !slices.Equal(rb.Subjects, subjects) {
		t.Errorf("binding subjects %+v and %+v, want %+v", crb.Subjects, rb.Subjects, subjects)
	}
	objs.get(t, "ServiceAccount", fullname)

	// Scrapers are bound to bulwark-metrics-reader, which grants get on /metrics only; the
	// install binds no one to it.
	var reader rbacv1.ClusterRole
	typed(t, objs.get(t, "ClusterRole", fullname+"-metrics-reader"), &reader)
	if want := framework.MetricsReaderRules(); !equality.Semantic.DeepEqual(reader.Rules, want) || reader.AggregationRule != nil {
		t.Errorf("ClusterRole %s-metrics-reader: rules %+v aggregation %+v, want only %+v", fullname, reader.Rules, reader.AggregationRule, want)
	}
	for _, o := range objs {
		if k := o.GetKind(); (k == "ClusterRoleBinding" || k == "RoleBinding") && o.GetName() != fullname {
			t.Errorf("%s: the install binds nothing but Bulwark's own roles", id(o))
		}
	}
}

func deployment(t *testing.T, objs objects) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	typed(t, objs.get(t, "Deployment", fullname), &d)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", n)
	}
	return &d, &d.Spec.Template.Spec.Containers[0]
}

// volumeAt returns the volume mounted at path in c.
func volumeAt(t *testing.T, pod *corev1.PodSpec, c *corev1.Container, path string) (*corev1.Volume, *corev1.VolumeMount) {
	t.Helper()
	for i, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for j, v := range pod.Volumes {
			if v.Name == m.Name {
				return &pod.Volumes[j], &c.VolumeMounts[i]
			}
		}
		t.Fatalf("volume %q mounted at %s is not defined", m.Name, path)
	}
	t.Fatalf("nothing mounted at %s", path)
	return nil, nil
}

// TestDeployment: two replicas, bulwark serve with the contract's arguments, the restricted
// security context, probes, and an emptyDir at the certificate directory.
func TestDeployment(t *testing.T) {
	objs := parse(t, render(t, "default"))
	d, c := deployment(t, objs)
	pod := &d.Spec.Template.Spec
	if d.Namespace != namespace {
		t.Errorf("Deployment in namespace %q", d.Namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	if pod.ServiceAccountName != fullname {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/bulwark-k8s/bulwark:") || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("image %q, want ghcr.io/bulwark-k8s/bulwark at a pinned tag", c.Image)
	}
	if len(c.Command) > 0 {
		t.Errorf("command %q overrides the image's entrypoint /bulwark", c.Command)
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args\n  %q\nwant\n  %q", c.Args, wantArgs)
	}
	wantEnv := []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}
	if !equality.Semantic.DeepEqual(c.Env, wantEnv) {
		t.Errorf("env %+v, want POD_NAMESPACE from metadata.namespace only", c.Env)
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("pod or container securityContext missing")
	}
	is := func(p *bool, want bool) bool { return p != nil && *p == want }
	if !is(psc.RunAsNonRoot, true) || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext runAsNonRoot %v runAsUser %v, want true, 65532", psc.RunAsNonRoot, psc.RunAsUser)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	if !is(sc.ReadOnlyRootFilesystem, true) || !is(sc.AllowPrivilegeEscalation, false) || is(sc.Privileged, true) {
		t.Errorf("container securityContext %+v, want a read-only root, no privilege escalation, unprivileged", sc)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and no add", sc.Capabilities)
	}

	v, m := volumeAt(t, pod, c, certDir)
	if v.EmptyDir == nil || m.ReadOnly {
		t.Errorf("%s: %+v mounted read-only=%v, want a writable emptyDir (built-in TLS writes there)", certDir, v.VolumeSource, m.ReadOnly)
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := map[string]int32{"webhook": 9443, "metrics": 8443, "health": 8081}; !equality.Semantic.DeepEqual(ports, want) {
		t.Errorf("container ports %v, want %v", ports, want)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want httpGet %s", what, path)
			return
		}
		port := p.HTTPGet.Port.IntVal
		if p.HTTPGet.Port.Type == intstr.String {
			port = ports[p.HTTPGet.Port.StrVal]
		}
		if p.HTTPGet.Path != path || port != 8081 {
			t.Errorf("%s probe: %s on port %d, want %s on 8081", what, p.HTTPGet.Path, port, path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")

	// The Service and the PodDisruptionBudget select these pods.
	var svc corev1.Service
	typed(t, objs.get(t, "Service", fullname), &svc)
	podLabels := d.Spec.Template.Labels
	selects := func(sel map[string]string) bool {
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !selects(svc.Spec.Selector) || !selects(d.Spec.Selector.MatchLabels) {
		t.Errorf("Service selector %v or Deployment selector %v does not select the pod labels %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels, podLabels)
	}
	svcPorts := map[int32]intstr.IntOrString{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Port] = p.TargetPort
	}
	for port, want := range map[int32]int32{443: 9443, 8443: 8443} {
		tp, ok := svcPorts[port]
		target := tp.IntVal
		if tp.Type == intstr.String {
			target = ports[tp.StrVal]
		}
		if !ok || target != want {
			t.Errorf("Service port %d -> %v, want container port %d", port, tp.String(), want)
		}
	}
	var pdb policyv1.PodDisruptionBudget
	typed(t, objs.get(t, "PodDisruptionBudget", fullname), &pdb)
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels) || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget %+v, want minAvailable 1 of these pods", pdb.Spec)
	}
}

// TestOwnPodPassesRestricted: Bulwark's own pod passes its own restricted profile, with no
// violation of any action, and nothing at warn or enforce under the nsa profile but the
// image-digest warning: config/ names Bulwark's image by its release tag.
func TestOwnPodPassesRestricted(t *testing.T) {
	for _, dir := range []string{"default", "certmanager"} {
		t.Run(dir, func(t *testing.T) {
			docs, err := scan.Read([]string{"-"}, strings.NewReader(string(render(t, dir))))
			if err != nil {
				t.Fatal(err)
			}
			for _, profile := range []string{policy.Restricted, policy.NSA} {
				snap, err := policy.FromProfile(profile)
				if err != nil {
					t.Fatal(err)
				}
				results, err := scan.EvaluatePolicy(docs, snap, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				evaluated := 0
				for _, r := range results {
					if r.Skipped {
						continue
					}
					// Its own Roles and bindings are judged too (access control), and must pass.
					if _, rbac := rbacspec.Lookup(schema.FromAPIVersionAndKind(r.Doc.APIVersion, r.Doc.Kind).GroupKind()); !rbac {
						evaluated++
					}
					if r.Exempt != "" {
						t.Errorf("%s: %s is exempt (%s), not evaluated", profile, r.Object(), r.Exempt)
					}
					for _, v := range r.Violations {
						if profile == policy.Restricted || v.Action != checks.Audit && v.Check != "image-digest" {
							t.Errorf("%s: %s: %s [%s] %s: %s", profile, r.Object(), v.Action, v.Check, v.Field, v.Message)
						}
					}
				}
				if evaluated != 1 {
					t.Errorf("%s: %d objects with a pod template evaluated, want 1 (the Deployment)", profile, evaluated)
				}
			}
		})
	}
}

// TestPolicyConfigMap: the ConfigMap holds a valid policy: the nsa profile, in mode audit (the
// first step of a roll-out, as the chart installs it).
func TestPolicyConfigMap(t *testing.T) {
	objs := parse(t, render(t, "default"))
	cm := objs.get(t, "ConfigMap", policyName)
	data, err := yaml.Marshal(cm.Object)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Parse(data, "config/default ConfigMap "+policyName)
	if err != nil {
		t.Fatal(err)
	}
	nsa, err := policy.FromProfile(policy.NSA)
	if err != nil {
		t.Fatal(err)
	}
	if nsa, err = nsa.WithMode("audit"); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(snap.Effective(), nsa.Effective()) {
		t.Errorf("the policy in %s is not the nsa profile in mode audit:\n%s", policyName, yamlDiff(t, snap.Effective(), nsa.Effective()))
	}
}

// TestCertManagerOverlay: config/certmanager is config/default with the cert-manager objects
// added, --tls-secret removed, the Secret bulwark-tls mounted read-only at the certificate
// directory, and cainjector's annotation on both webhook configurations. Nothing else differs.
func TestCertManagerOverlay(t *testing.T) {
	base := parse(t, render(t, "default"))
	overlay := parse(t, render(t, "certmanager"))
	if got, want := overlay.ids(), slices.Sorted(slices.Values(slices.Concat(defaultIDs, certManagerIDs))); !slices.Equal(got, want) {
		t.Errorf("config/certmanager renders\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	d, c := deployment(t, overlay)
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--tls-secret") }) {
		t.Errorf("args still hold --tls-secret: %q", c.Args)
	}
	wantCM := slices.DeleteFunc(slices.Clone(wantArgs), func(a string) bool { return a == tlsSecretArg })
	if !slices.Equal(c.Args, wantCM) {
		t.Errorf("args\n  %q\nwant\n  %q", c.Args, wantCM)
	}
	v, m := volumeAt(t, &d.Spec.Template.Spec, c, certDir)
	if v.Secret == nil || v.Secret.SecretName != tlsSecret || v.EmptyDir != nil || !m.ReadOnly {
		t.Errorf("%s: volume %+v read-only=%v, want the Secret %s, read-only", certDir, v.VolumeSource, m.ReadOnly, tlsSecret)
	}
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		if got := overlay.get(t, kind, fullname).GetAnnotations()[injectCAKey]; got != namespace+"/"+servingCert {
			t.Errorf("%s annotation %s = %q, want %q", kind, injectCAKey, got, namespace+"/"+servingCert)
		}
	}
	cert := overlay.get(t, "Certificate", servingCert)
	secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dns, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	if secret != tlsSecret || !slices.Equal(dns, []string{"bulwark.bulwark-system.svc", "bulwark.bulwark-system.svc.cluster.local"}) {
		t.Errorf("Certificate %s: secretName %q dnsNames %q", servingCert, secret, dns)
	}
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	overlay.get(t, "Issuer", issuer)

	// Nothing else changed: undo the three changes and compare with config/default.
	for _, o := range base {
		ov := overlay.get(t, o.GetKind(), o.GetName()).DeepCopy()
		switch o.GetKind() {
		case "Deployment":
			cont := &d.Spec.Template.Spec.Containers[0]
			cont.Args = slices.Insert(cont.Args, slices.Index(wantArgs, tlsSecretArg), tlsSecretArg)
			var bd appsv1.Deployment
			typed(t, o, &bd)
			bv, _ := volumeAt(t, &bd.Spec.Template.Spec, &bd.Spec.Template.Spec.Containers[0], certDir)
			vol, mnt := volumeAt(t, &d.Spec.Template.Spec, cont, certDir)
			vol.VolumeSource = bv.VolumeSource
			mnt.ReadOnly = false
			if !equality.Semantic.DeepEqual(d, &bd) {
				t.Errorf("the Deployment differs beyond --tls-secret and the certificate volume:\n%s", yamlDiff(t, d, &bd))
			}
			continue
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			a := ov.GetAnnotations()
			delete(a, injectCAKey)
			if len(a) == 0 {
				a = nil
			}
			ov.SetAnnotations(a)
		}
		if d := diff("", ov.Object, o.Object); len(d) > 0 {
			t.Errorf("%s differs from config/default's:\n  %s", id(o), strings.Join(d, "\n  "))
		}
	}
}

// TestServeAcceptsArgs: bulwark serve knows every flag the Deployments pass (a flag parse of
// the arguments followed by -h exits 0; an unknown flag exits 2).
func TestServeAcceptsArgs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bulwark")
	build := exec.Command("go", "build", "-o", bin, "./cmd/bulwark")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building bulwark: %v\n%s", err, out)
	}
	for _, dir := range []string{"default", "certmanager"} {
		_, c := deployment(t, parse(t, render(t, dir)))
		if len(c.Args) == 0 || c.Args[0] != "serve" {
			t.Fatalf("config/%s: args %q do not start with serve", dir, c.Args)
		}
		out, err := exec.Command(bin, append(slices.Clone(c.Args), "-h")...).CombinedOutput()
		if err != nil {
			t.Errorf("config/%s: bulwark %s -h: %v\n%s", dir, strings.Join(c.Args, " "), err, out)
		}
	}
}
