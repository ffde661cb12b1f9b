package helm

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// renderCase is a value set the golden files pin.
type renderCase struct {
	name, release, namespace string
	flags                    []string
	certManager              bool
	dashboardNamespace       string // metrics.dashboard.namespace, when set
	serviceMonitorNamespace  string // metrics.serviceMonitor.namespace, when set
	pullSecrets              bool   // imageLookups with pullSecrets: list and watch on secrets and serviceaccounts
	fullname                 string // fullnameOverride, when set
	serviceAccount           string // serviceAccount.name of an existing ServiceAccount (create false), when set
	hostNetwork              bool   // the pod in the node's network: Bulwark's host-network check reports it
}

// renders are the value sets the golden files pin; each is also checked below.
var renders = []renderCase{
	{name: "default", release: releaseName, namespace: releaseNamespace},
	// The non-default set: cert-manager on, 3 replicas, failurePolicy Ignore, extra
	// exempt namespaces.
	{name: "nondefault", release: releaseName, namespace: releaseNamespace, flags: []string{"-f", "testdata/values-nondefault.yaml"}, certManager: true},
	// Every optional template, an external issuer, a release name without "bulwark", the
	// dashboard in the Grafana sidecar's namespace.
	{name: "extras", release: "prod", namespace: "security", flags: []string{"-f", "testdata/values-extras.yaml"}, certManager: true, dashboardNamespace: "monitoring", serviceMonitorNamespace: "monitoring", pullSecrets: true},
	// The names overridden, an existing ServiceAccount, the image from a mirror, the security
	// contexts changed, maxUnavailable, the node's network and per-webhook settings.
	{name: "overrides", release: "edge", namespace: "platform", flags: []string{"-f", "testdata/values-overrides.yaml"}, fullname: "edge-admission", serviceAccount: "platform-admission", hostNetwork: true},
}

// objectsName is the name of a render's objects: fullnameOverride, or the release's full name.
func (r renderCase) objectsName() string {
	if r.fullname != "" {
		return r.fullname
	}
	return releaseFullname(r.release)
}

// serviceAccountName is the ServiceAccount a render's pods run as and its RBAC binds.
func (r renderCase) serviceAccountName() string {
	if r.serviceAccount != "" {
		return r.serviceAccount
	}
	return r.objectsName()
}

// releaseFullname is the chart's name for a release's objects: the release name, with "-bulwark"
// added when it does not hold "bulwark".
func releaseFullname(release string) string {
	if strings.Contains(release, "bulwark") {
		return release
	}
	return release + "-bulwark"
}

func render(t *testing.T, h *helmCLI, release, namespace string, flags ...string) string {
	t.Helper()
	args := append([]string{"template", release, chartDir, "--namespace", namespace}, flags...)
	return h.mustRun(t, args...)
}

func TestLint(t *testing.T) {
	h := newHelm(t, "")
	h.mustRun(t, "lint", "--strict", chartDir)
	for _, r := range renders[1:] {
		h.mustRun(t, append([]string{"lint", "--strict", chartDir, "--namespace", r.namespace}, r.flags...)...)
	}
}

func TestTemplateGolden(t *testing.T) {
	h := newHelm(t, "")
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			golden(t, "template-"+r.name+".golden.yaml", render(t, h, r.release, r.namespace, r.flags...))
		})
	}
}

// TestTemplateDecodesStrictly decodes every rendered object of a built-in kind into its
// k8s.io/api type, refusing unknown fields: a misspelled field in a template fails here.
func TestTemplateDecodesStrictly(t *testing.T) {
	h := newHelm(t, "")
	types := map[string]func() any{
		"Deployment":                       func() any { return &appsv1.Deployment{} },
		"Service":                          func() any { return &corev1.Service{} },
		"ServiceAccount":                   func() any { return &corev1.ServiceAccount{} },
		"ConfigMap":                        func() any { return &corev1.ConfigMap{} },
		"PodDisruptionBudget":              func() any { return &policyv1.PodDisruptionBudget{} },
		"NetworkPolicy":                    func() any { return &networkingv1.NetworkPolicy{} },
		"ClusterRole":                      func() any { return &rbacv1.ClusterRole{} },
		"ClusterRoleBinding":               func() any { return &rbacv1.ClusterRoleBinding{} },
		"Role":                             func() any { return &rbacv1.Role{} },
		"RoleBinding":                      func() any { return &rbacv1.RoleBinding{} },
		"ValidatingWebhookConfiguration":   func() any { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
		"MutatingWebhookConfiguration":     func() any { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
		"ValidatingAdmissionPolicy":        func() any { return &admissionregistrationv1.ValidatingAdmissionPolicy{} },
		"ValidatingAdmissionPolicyBinding": func() any { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} },
	}
	// Custom resources whose CRDs are not in k8s.io/api, and the PolicyReport CRD (checked by
	// TestPolicyReportCRDInstall against the real apiserver); the golden files pin them.
	custom := map[string]bool{"Issuer": true, "Certificate": true, "ServiceMonitor": true, "PrometheusRule": true, "CustomResourceDefinition": true}
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			for _, o := range parseManifest(t, render(t, h, r.release, r.namespace, r.flags...)) {
				switch {
				case types[o.Kind] != nil:
					decode(t, o, types[o.Kind]())
				case custom[o.Kind]:
				default:
					t.Errorf("%s (%s): a kind this test does not know; add it", o, o.Source)
				}
				clusterScoped := o.Kind == "ClusterRole" || o.Kind == "ClusterRoleBinding" || o.Kind == "CustomResourceDefinition" ||
					strings.HasSuffix(o.Kind, "WebhookConfiguration") || strings.HasPrefix(o.Kind, "ValidatingAdmissionPolicy")
				want := r.namespace
				if o.Kind == "ConfigMap" && strings.HasSuffix(o.Name, "-dashboard") && r.dashboardNamespace != "" {
					want = r.dashboardNamespace // metrics.dashboard.namespace: where the Grafana sidecar looks
				}
				if o.Kind == "ServiceMonitor" && r.serviceMonitorNamespace != "" {
					want = r.serviceMonitorNamespace // metrics.serviceMonitor.namespace: where Prometheus looks
				}
				if clusterScoped && o.Namespace != "" {
					t.Errorf("%s: cluster-scoped, with namespace %q", o, o.Namespace)
				}
				if !clusterScoped && o.Namespace != want {
					t.Errorf("%s: namespace %q, want %q", o, o.Namespace, want)
				}
			}
		})
	}
}

// TestSchemaRejects: a wrong value fails at helm template (and so at helm install and
// upgrade) with a message naming the field.
func TestSchemaRejects(t *testing.T) {
	h := newHelm(t, "")
	for _, c := range []struct {
		set  []string
		want []string
	}{
		{[]string{"failurePolicy=Sometimes"}, []string{"at '/failurePolicy': value must be one of 'Fail', 'Ignore'"}},
		{[]string{"replicaCount=two"}, []string{"at '/replicaCount': got string, want integer"}},
		{[]string{"replicaCount=0"}, []string{"at '/replicaCount'", "minimum"}},
		{[]string{"replicas=2"}, []string{"additional properties 'replicas' not allowed"}},
		{[]string{"timeoutSeconds=0"}, []string{"at '/timeoutSeconds'", "minimum"}},
		{[]string{"timeoutSeconds=31"}, []string{"at '/timeoutSeconds': maximum: got 31, want 30"}},
		{[]string{"exemptNamespaces={Team_A}"}, []string{"at '/exemptNamespaces/0'"}},
		{[]string{"image.tagg=1.0"}, []string{"at '/image': additional properties 'tagg' not allowed"}},
		{[]string{"image.pullPolicy=Sometimes"}, []string{"at '/image/pullPolicy'"}},
		{[]string{"logLevel=verbose"}, []string{"at '/logLevel'"}},
		{[]string{"policy.profile=strict"}, []string{"at '/policy/profile': value must be one of 'nsa', 'baseline', 'restricted'"}},
		{[]string{"policy.apiVersion=bulwark.dev/v1"}, []string{"at '/policy/apiVersion'"}},
		{[]string{"certManager.enabled=yes"}, []string{"at '/certManager/enabled': got string, want boolean"}},
		{[]string{"certManager.issuerRef.kind=ClusterIssuer"}, []string{"at '/certManager/issuerRef': missing property 'name'"}},
		{[]string{"resources.limits.cpu=lots"}, []string{"at '/resources/limits/cpu'"}},
		{[]string{"podDisruptionBudget.minAvailable=half"}, []string{"at '/podDisruptionBudget/minAvailable'"}},
		{[]string{"metrics.serviceMonitor.enable=true"}, []string{"at '/metrics/serviceMonitor': additional properties 'enable' not allowed"}},
		{[]string{"networkPolicy.enabled=1"}, []string{"at '/networkPolicy/enabled'"}},
		{[]string{"namespaceLabelGuard.adminGroups={a'b}"}, []string{"at '/namespaceLabelGuard/adminGroups/0'"}},
		{[]string{"namespaceLabelGuard.adminGroups="}, []string{"at '/namespaceLabelGuard/adminGroups': got string, want array"}},
		{[]string{"metrics.prometheusRule.latencyBudgetSeconds=0"}, []string{"at '/metrics/prometheusRule/latencyBudgetSeconds'"}},
		{[]string{"metrics.prometheusRule.certificateExpiry.warningdays=7"}, []string{"at '/metrics/prometheusRule/certificateExpiry': additional properties 'warningdays' not allowed"}},
		{[]string{"metrics.prometheusRule.auditStaleSeconds=30m"}, []string{"at '/metrics/prometheusRule/auditStaleSeconds': got string, want integer"}},
		{[]string{"metrics.dashboard.namespace=Monitoring"}, []string{"at '/metrics/dashboard/namespace'"}},
		{[]string{"metrics.dashboard.label="}, []string{"at '/metrics/dashboard/label'"}},
		{[]string{"policyReports.installCRD=yes"}, []string{"at '/policyReports/installCRD': got string, want boolean"}},
		{[]string{"audit.policyReportScope=cluster"}, []string{"at '/audit/policyReportScope': value must be one of 'resource', 'namespace'"}},
		{[]string{"metrics.secure=yes"}, []string{"at '/metrics/secure': got string, want boolean"}},
		{[]string{"metrics.readerSubjects[0].kind=Robot", "metrics.readerSubjects[0].name=x"}, []string{"at '/metrics/readerSubjects/0/kind'"}},
		{[]string{"metrics.readerSubjects[0].kind=ServiceAccount", "metrics.readerSubjects[0].name=prometheus"}, []string{"at '/metrics/readerSubjects/0'", "missing property 'namespace'"}},
		{[]string{"metrics.serviceMonitor.tlsConfig=insecure"}, []string{"at '/metrics/serviceMonitor/tlsConfig': got string, want object"}},
		// Not schema rules: the ServiceMonitor needs the HTTPS endpoint and a token to send.
		{[]string{"metrics.serviceMonitor.enabled=true", "metrics.secure=false"}, []string{"metrics.serviceMonitor.enabled needs metrics.secure: without it the metrics are served on the pod's loopback only"}},
		{[]string{"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.bearerTokenFile="}, []string{"metrics.serviceMonitor needs bearerTokenFile or authorization"}},
		// Not a schema rule: the template checks the grace period against the preStop sleep.
		{[]string{"terminationGracePeriodSeconds=12"}, []string{"terminationGracePeriodSeconds (12) must be at least preStopSleepSeconds (0) + shutdownDelaySeconds (5) + 10"}},
		{[]string{"shutdownDelaySeconds=-1"}, []string{"shutdownDelaySeconds", "minimum"}},
		// helm template cannot look the apiserver's addresses up, and the CA must be named.
		{[]string{"networkPolicy.enabled=true"}, []string{"networkPolicy.enabled: networkPolicy.webhookFrom is empty and the kube-apiserver's addresses could not be looked up"}},
		{[]string{"clientAuth.enabled=true"}, []string{"clientAuth.enabled: set clientAuth.caConfigMap"}},
		{[]string{"clientAuth.enabled=true", "clientAuth.caConfigMap=ca", `clientAuth.allowedNames[0]=a\,b`}, []string{"at '/clientAuth/allowedNames/0'"}},
		{[]string{"image.digest=sha256:abc"}, []string{"at '/image/digest'"}},
		{[]string{"extraArgs[0]=log-level=debug"}, []string{"at '/extraArgs/0'"}},
		{[]string{"extraEnv[0].value=x"}, []string{"at '/extraEnv/0'", "missing property 'name'"}},
		{[]string{"imageLookups.enabled=false", "imageLookups.pullSecrets=true"}, []string{"imageLookups.pullSecrets: the pull secrets authenticate image lookups; set imageLookups.enabled too"}},
		{[]string{"imageLookups.enabled=true", "imageLookups.budget=1 second"}, []string{"at '/imageLookups/budget'"}},
		{[]string{"nameOverride=Bulwark_Guard"}, []string{"at '/nameOverride'"}},
		{[]string{"fullnameOverride=-x"}, []string{"at '/fullnameOverride'"}},
		{[]string{"commonLabels.team=1"}, []string{"at '/commonLabels/team': got number, want string"}},
		{[]string{`commonLabels.app\.kubernetes\.io/name=x`}, []string{"commonLabels: app.kubernetes.io/name is one of the chart's own labels"}},
		{[]string{"serviceAccount.create=false"}, []string{"serviceAccount.create is false: set serviceAccount.name to the existing ServiceAccount"}},
		{[]string{"serviceAccount.craete=false"}, []string{"at '/serviceAccount': additional properties 'craete' not allowed"}},
		{[]string{"podSecurityContext=restricted"}, []string{"at '/podSecurityContext': got string, want object"}},
		{[]string{"securityContext=[]"}, []string{"at '/securityContext'"}},
		{[]string{"image.registry=ghcr.io/ bulwark"}, []string{"at '/image/registry'"}},
		{[]string{"image.pullSecrets[0].nam=regcred"}, []string{"at '/image/pullSecrets/0'"}},
		{[]string{"global.imageRegistry=mirror.example.com", "image.repository=registry.example.com/bulwark"}, []string{"global.imageRegistry (mirror.example.com) cannot apply: image.repository (registry.example.com/bulwark) names a registry itself"}},
		{[]string{"image.registry=quay.io", "image.repository=ghcr.io/bulwark-k8s/bulwark"}, []string{"image.registry (quay.io) and image.repository (ghcr.io/bulwark-k8s/bulwark) both name a registry"}},
		{[]string{"metrics.serviceMonitor.namespace=Monitoring"}, []string{"at '/metrics/serviceMonitor/namespace'"}},
		{[]string{"metrics.serviceMonitor.scrapeTimeout=10"}, []string{"at '/metrics/serviceMonitor/scrapeTimeout'"}},
		{[]string{"metrics.serviceMonitor.relabelings=drop"}, []string{"at '/metrics/serviceMonitor/relabelings': got string, want array"}},
		{[]string{"podDisruptionBudget.maxUnavailable=1"}, []string{"podDisruptionBudget: minAvailable and maxUnavailable are both set", "set podDisruptionBudget.minAvailable to null"}},
		{[]string{"podDisruptionBudget.minAvailable=null", "podDisruptionBudget.maxUnavailable=all"}, []string{"at '/podDisruptionBudget/maxUnavailable'"}},
		{[]string{"podDisruptionBudget.minAvailable=null"}, []string{"podDisruptionBudget: set minAvailable or maxUnavailable"}},
		{[]string{"hostNetwork=yes"}, []string{"at '/hostNetwork': got string, want boolean"}},
		{[]string{"webhookPort=443"}, []string{"at '/webhookPort'", "minimum"}},
		{[]string{"metrics.port=70000"}, []string{"at '/metrics/port'", "maximum"}},
		{[]string{"webhookPort=8081"}, []string{"webhookPort (8081), healthPort (8081) and metrics.port (8443) must differ"}},
		{[]string{"webhooks.validating.failurePolicy=Sometimes"}, []string{"at '/webhooks/validating/failurePolicy'"}},
		{[]string{"webhooks.mutating.timeoutSeconds=31"}, []string{"at '/webhooks/mutating/timeoutSeconds'", "maximum: got 31, want 30"}},
		{[]string{"webhooks.validating.matchConditions[0].name=skip-nodes"}, []string{"at '/webhooks/validating/matchConditions/0': missing property 'expression'"}},
		{[]string{"webhooks.mutating.namespaceSelector.matchExpressions[0].key=team", "webhooks.mutating.namespaceSelector.matchExpressions[0].operator=Equals"}, []string{"at '/webhooks/mutating/namespaceSelector/matchExpressions/0/operator'"}},
		{[]string{"webhooks.mutating.objectSelector.matchLabel.team=a"}, []string{"at '/webhooks/mutating/objectSelector': additional properties 'matchLabel' not allowed"}},
		{[]string{"webhooks.audit.failurePolicy=Fail"}, []string{"at '/webhooks': additional properties 'audit' not allowed"}},
	} {
		t.Run(strings.Join(c.set, ","), func(t *testing.T) {
			args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace}
			for _, s := range c.set {
				args = append(args, "--set", s)
			}
			_, err := h.run(args...)
			if err == nil {
				t.Fatalf("helm template accepted --set %v", c.set)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// contractRules are the exact RBAC rules of the install contract for a release, as
// test/framework states them for every part of the install (the certificate manager's tests
// run Bulwark with exactly these, so the chart's rules are also known to be sufficient).
func contractRules(fullname, namespace string) (cluster, namespaced []rbacv1.PolicyRule) {
	n := framework.RBACNames{Namespace: namespace, Name: fullname, WebhookConfig: fullname, TLSSecret: fullname + "-tls"}
	return framework.ClusterRules(n), framework.NamespaceRules(n)
}

// literalRules pin the contract's rules for the default release once more, written out, so
// that a change to the shared definition in test/framework shows here too.
var literalRules = struct{ cluster, namespaced []rbacv1.PolicyRule }{
	cluster: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		{
			APIGroups:     []string{"admissionregistration.k8s.io"},
			Resources:     []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
			ResourceNames: []string{"bulwark"},
			Verbs:         []string{"get", "update", "patch"},
		},
		{APIGroups: []string{""}, Resources: []string{"pods", "podtemplates", "replicationcontrollers"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, Verbs: []string{"list"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"resourcequotas", "limitranges"}, Verbs: []string{"list"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"list"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, Verbs: []string{"list"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	},
	namespaced: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"bulwark-tls"}, Verbs: []string{"get", "update", "patch", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	},
}

// normalizeRules sorts every list in each rule and the rules themselves, so rules compare
// as sets; any extra verb, resource, group or name, or a missing resourceNames, differs.
func normalizeRules(rules []rbacv1.PolicyRule) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		field := func(name string, v []string) string {
			v = slices.Clone(v)
			sort.Strings(v)
			return name + "=" + strconv.Quote(strings.Join(v, ","))
		}
		out = append(out, strings.Join([]string{
			field("apiGroups", r.APIGroups), field("resources", r.Resources), field("resourceNames", r.ResourceNames),
			field("nonResourceURLs", r.NonResourceURLs), field("verbs", r.Verbs),
		}, " "))
	}
	sort.Strings(out)
	return out
}

func compareRules(t *testing.T, what string, got, want []rbacv1.PolicyRule) {
	t.Helper()
	g, w := normalizeRules(got), normalizeRules(want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s rules differ from the install contract:\n got:\n  %s\n want:\n  %s", what, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

// TestRBACExactRules asserts the ClusterRole and Role rules, and the bindings, in every
// rendering: a broadened (or narrowed) permission fails here.
func TestRBACExactRules(t *testing.T) {
	h := newHelm(t, "")
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			fullname := r.objectsName()
			objs := parseManifest(t, render(t, h, r.release, r.namespace, r.flags...))
			wantCluster, wantRole := contractRules(fullname, r.namespace)
			if r.name == "default" {
				compareRules(t, "test/framework's ClusterRules", wantCluster, literalRules.cluster)
				compareRules(t, "test/framework's NamespaceRules", wantRole, literalRules.namespaced)
			}
			if r.pullSecrets {
				wantCluster = append(wantCluster,
					rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}},
					rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"list", "watch"}})
			}
			var cr rbacv1.ClusterRole
			decode(t, find(t, objs, "ClusterRole", fullname), &cr)
			compareRules(t, "ClusterRole", cr.Rules, wantCluster)
			if cr.AggregationRule != nil {
				t.Errorf("ClusterRole has an aggregationRule: %+v", cr.AggregationRule)
			}
			var role rbacv1.Role
			decode(t, find(t, objs, "Role", fullname), &role)
			compareRules(t, "Role", role.Rules, wantRole)

			// The bindings bind the ServiceAccount the pods run as: the chart's, or the existing one
			// serviceAccount.name names (and then the chart renders none).
			subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: r.serviceAccountName(), Namespace: r.namespace}}
			var d appsv1.Deployment
			decode(t, find(t, objs, "Deployment", fullname), &d)
			if got := d.Spec.Template.Spec.ServiceAccountName; got != r.serviceAccountName() {
				t.Errorf("serviceAccountName %q, want %q", got, r.serviceAccountName())
			}
			var accounts []string
			for _, o := range objs {
				if o.Kind == "ServiceAccount" {
					accounts = append(accounts, o.Name)
				}
			}
			if wantAccounts := []string{fullname}; r.serviceAccount != "" && len(accounts) != 0 || r.serviceAccount == "" && !slices.Equal(accounts, wantAccounts) {
				t.Errorf("ServiceAccounts rendered: %v (serviceAccount.name %q)", accounts, r.serviceAccount)
			}
			var crb rbacv1.ClusterRoleBinding
			decode(t, find(t, objs, "ClusterRoleBinding", fullname), &crb)
			if want := (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: fullname}); crb.RoleRef != want || !reflect.DeepEqual(crb.Subjects, subjects) {
				t.Errorf("ClusterRoleBinding: roleRef %+v subjects %+v, want %+v %+v", crb.RoleRef, crb.Subjects, want, subjects)
			}
			var rb rbacv1.RoleBinding
			decode(t, find(t, objs, "RoleBinding", fullname), &rb)
			if want := (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: fullname}); rb.RoleRef != want || !reflect.DeepEqual(rb.Subjects, subjects) {
				t.Errorf("RoleBinding: roleRef %+v subjects %+v, want %+v %+v", rb.RoleRef, rb.Subjects, want, subjects)
			}
			// The metrics reader grants get on /metrics and nothing else; it is bound only to the
			// subjects metrics.readerSubjects names (the extras render names Prometheus's).
			reader := fullname + "-metrics-reader"
			var readerRole rbacv1.ClusterRole
			decode(t, find(t, objs, "ClusterRole", reader), &readerRole)
			compareRules(t, "ClusterRole "+reader, readerRole.Rules, framework.MetricsReaderRules())
			if readerRole.AggregationRule != nil {
				t.Errorf("ClusterRole %s has an aggregationRule: %+v", reader, readerRole.AggregationRule)
			}
			var wantReaders []rbacv1.Subject
			if r.name == "extras" {
				wantReaders = []rbacv1.Subject{{Kind: "ServiceAccount", Name: "kube-prometheus-stack-prometheus", Namespace: "monitoring"}}
			}
			var readerBinding *rbacv1.ClusterRoleBinding
			for _, o := range objs {
				if o.Kind == "ClusterRoleBinding" && o.Name == reader {
					readerBinding = &rbacv1.ClusterRoleBinding{}
					decode(t, o, readerBinding)
				}
			}
			switch {
			case wantReaders == nil && readerBinding != nil:
				t.Errorf("ClusterRoleBinding %s rendered with no metrics.readerSubjects: %+v", reader, readerBinding.Subjects)
			case wantReaders != nil && readerBinding == nil:
				t.Errorf("no ClusterRoleBinding %s for metrics.readerSubjects", reader)
			case readerBinding != nil:
				if want := (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: reader}); readerBinding.RoleRef != want || !reflect.DeepEqual(readerBinding.Subjects, wantReaders) {
					t.Errorf("ClusterRoleBinding %s: roleRef %+v subjects %+v, want %+v %+v", reader, readerBinding.RoleRef, readerBinding.Subjects, want, wantReaders)
				}
			}
			// No other RBAC object sneaks in.
			for _, o := range objs {
				isReader := o.Name == reader && (o.Kind == "ClusterRole" || o.Kind == "ClusterRoleBinding")
				if strings.HasPrefix(o.APIVersion, "rbac.authorization.k8s.io/") && o.Name != fullname && !isReader {
					t.Errorf("unexpected RBAC object %s", o)
				}
			}
		})
	}
}

// wantWebhooks are the webhook configurations pkg/server builds for a release, which the
// chart must render.
func wantWebhooks(fullname, namespace string, exempt []string, failure admissionregistrationv1.FailurePolicyType, timeout int32) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration) {
	v, m := server.WebhookConfigurations(server.WebhookOptions{
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: namespace, Name: fullname, Path: ptr.To(path), Port: ptr.To[int32](443),
			}}
		},
		ExemptNamespaces: exempt,
		FailurePolicy:    failure,
	})
	v.Name, m.Name = fullname, fullname
	for i := range v.Webhooks {
		v.Webhooks[i].TimeoutSeconds = ptr.To(timeout)
	}
	m.Webhooks[0].TimeoutSeconds = ptr.To(timeout)
	return v, m
}

// overrideWebhooks applies values-overrides.yaml's webhooks.validating and webhooks.mutating
// to pkg/server's configurations: each webhook's own settings, with the chart's exclusion of
// kube-system and the release namespace added to its namespaceSelector's matchExpressions.
func overrideWebhooks(v *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration) {
	vw, mw := &v.Webhooks[0], &m.Webhooks[0]
	exclusion := vw.NamespaceSelector.MatchExpressions[0]
	vw.FailurePolicy = ptr.To(admissionregistrationv1.Fail)
	vw.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "example.com/team", Operator: metav1.LabelSelectorOpExists}, exclusion,
	}}
	vw.MatchConditions = []admissionregistrationv1.MatchCondition{
		{Name: "not-node-users", Expression: "!request.userInfo.username.startsWith('system:node:')"},
	}
	mw.TimeoutSeconds = ptr.To[int32](3)
	mw.NamespaceSelector = &metav1.LabelSelector{
		MatchLabels:      map[string]string{"example.com/mutate": "true"},
		MatchExpressions: []metav1.LabelSelectorRequirement{exclusion},
	}
	mw.ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "example.com/skip-bulwark", Operator: metav1.LabelSelectorOpDoesNotExist},
	}}
}

// checkWebhooks compares the webhooks of rendered or stored configurations with pkg/server's:
// rules (exactly server.Rules(), server.RBACRules() for rbac.bulwark.dev), namespaceSelector, failurePolicy, sideEffects, timeout,
// matchPolicy, admissionReviewVersions, reinvocationPolicy, the Service. The caBundle is not
// compared: the certificate manager owns it.
func checkWebhooks(t *testing.T, gotV *admissionregistrationv1.ValidatingWebhookConfiguration, gotM *admissionregistrationv1.MutatingWebhookConfiguration,
	wantV *admissionregistrationv1.ValidatingWebhookConfiguration, wantM *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	if len(gotV.Webhooks) != len(wantV.Webhooks) || len(gotM.Webhooks) != 1 {
		t.Fatalf("want %d validating webhooks and one mutating, got %d validating and %d mutating", len(wantV.Webhooks), len(gotV.Webhooks), len(gotM.Webhooks))
	}
	// The apiserver defaults an absent objectSelector to {}: the same selection.
	normalize := func(sel **metav1.LabelSelector, ca *[]byte) {
		if *sel != nil && (*sel).Size() == 0 {
			*sel = nil
		}
		*ca = nil
	}
	for i := range gotV.Webhooks {
		v := gotV.Webhooks[i].DeepCopy()
		normalize(&v.ObjectSelector, &v.ClientConfig.CABundle)
		rules := server.Rules()
		if v.Name == server.RBACName {
			rules = server.RBACRules()
		}
		if !reflect.DeepEqual(v.Rules, rules) {
			t.Errorf("validating webhook %s: rules differ from pkg/server's:\n got  %+v\n want %+v", v.Name, v.Rules, rules)
		}
		if !reflect.DeepEqual(*v, wantV.Webhooks[i]) {
			t.Errorf("validating webhook %d differs from pkg/server's:\n got  %s\n want %s", i, webhookString(*v), webhookString(wantV.Webhooks[i]))
		}
	}
	m := gotM.Webhooks[0].DeepCopy()
	normalize(&m.ObjectSelector, &m.ClientConfig.CABundle)
	if !reflect.DeepEqual(m.Rules, server.Rules()) {
		t.Errorf("mutating webhook rules differ from server.Rules():\n got  %+v\n want %+v", m.Rules, server.Rules())
	}
	if !reflect.DeepEqual(*m, wantM.Webhooks[0]) {
		t.Errorf("mutating webhook differs from pkg/server's:\n got  %s\n want %s", webhookString(*m), webhookString(wantM.Webhooks[0]))
	}
	if gotV.Name != wantV.Name || gotM.Name != wantM.Name {
		t.Errorf("configuration names %q, %q; want %q", gotV.Name, gotM.Name, wantV.Name)
	}
}

func webhookString(w any) string {
	switch w := w.(type) {
	case admissionregistrationv1.ValidatingWebhook:
		return fmt.Sprintf("name=%s service=%+v path=%s selector=%s objectSelector=%s matchConditions=%+v failurePolicy=%s sideEffects=%s timeout=%d matchPolicy=%s versions=%v",
			w.Name, *w.ClientConfig.Service, ptr.Deref(w.ClientConfig.Service.Path, ""), w.NamespaceSelector, w.ObjectSelector, w.MatchConditions, ptr.Deref(w.FailurePolicy, ""), ptr.Deref(w.SideEffects, ""),
			ptr.Deref(w.TimeoutSeconds, 0), ptr.Deref(w.MatchPolicy, ""), w.AdmissionReviewVersions)
	case admissionregistrationv1.MutatingWebhook:
		return fmt.Sprintf("name=%s service=%+v path=%s selector=%s objectSelector=%s matchConditions=%+v failurePolicy=%s sideEffects=%s timeout=%d matchPolicy=%s versions=%v reinvocation=%s",
			w.Name, *w.ClientConfig.Service, ptr.Deref(w.ClientConfig.Service.Path, ""), w.NamespaceSelector, w.ObjectSelector, w.MatchConditions, ptr.Deref(w.FailurePolicy, ""), ptr.Deref(w.SideEffects, ""),
			ptr.Deref(w.TimeoutSeconds, 0), ptr.Deref(w.MatchPolicy, ""), w.AdmissionReviewVersions, ptr.Deref(w.ReinvocationPolicy, ""))
	}
	return fmt.Sprint(w)
}

func TestWebhookConfigurationsRendered(t *testing.T) {
	h := newHelm(t, "")
	for _, c := range []struct {
		render   int
		fullname string
		exempt   []string
		failure  admissionregistrationv1.FailurePolicyType
		timeout  int32
	}{
		{0, "bulwark", []string{"kube-system", "bulwark-system"}, admissionregistrationv1.Fail, 5},
		{1, "bulwark", []string{"kube-system", "bulwark-system", "monitoring", "ci"}, admissionregistrationv1.Ignore, 5},
		{2, "prod-bulwark", []string{"kube-system", "security"}, admissionregistrationv1.Fail, 10},
		{3, "edge-admission", []string{"kube-system", "platform"}, admissionregistrationv1.Ignore, 8},
	} {
		r := renders[c.render]
		t.Run(r.name, func(t *testing.T) {
			objs := parseManifest(t, render(t, h, r.release, r.namespace, r.flags...))
			var v admissionregistrationv1.ValidatingWebhookConfiguration
			var m admissionregistrationv1.MutatingWebhookConfiguration
			decode(t, find(t, objs, "ValidatingWebhookConfiguration", c.fullname), &v)
			decode(t, find(t, objs, "MutatingWebhookConfiguration", c.fullname), &m)
			wantV, wantM := wantWebhooks(c.fullname, r.namespace, c.exempt, c.failure, c.timeout)
			if r.name == "overrides" {
				overrideWebhooks(wantV, wantM)
			}
			checkWebhooks(t, &v, &m, wantV, wantM)
			// The caBundle is left to the certificate manager; cert-manager's cainjector is
			// pointed at the serving Certificate.
			for _, cfg := range []struct {
				name        string
				annotations map[string]string
				bundle      []byte
			}{{"validating", v.Annotations, v.Webhooks[0].ClientConfig.CABundle}, {"mutating", m.Annotations, m.Webhooks[0].ClientConfig.CABundle}} {
				if len(cfg.bundle) != 0 {
					t.Errorf("%s: the chart renders a caBundle", cfg.name)
				}
				want := ""
				if r.certManager {
					want = r.namespace + "/" + c.fullname + "-serving-cert"
				}
				if got := cfg.annotations["cert-manager.io/inject-ca-from"]; got != want {
					t.Errorf("%s: cert-manager.io/inject-ca-from = %q, want %q", cfg.name, got, want)
				}
			}
		})
	}
}

// TestDeployment checks the Deployment's contract: the args, POD_NAMESPACE, probes, the
// grace period against the shutdown timeout, the cert dir volume per TLS mode, and the PDB.
func TestDeployment(t *testing.T) {
	h := newHelm(t, "")
	common := []string{
		"serve",
		"--namespace=$(POD_NAMESPACE)",
		"--policy-configmap=$(POD_NAMESPACE)/bulwark-policy",
		"--service-name=bulwark",
		"--webhook-config-name=bulwark",
		"--leader-elect",
		"--cert-dir=/tmp/k8s-webhook-server/serving-certs",
	}
	for _, c := range []struct {
		name        string
		flags       []string
		args        []string
		certVolume  corev1.VolumeSource
		replicas    int32
		pdb         bool
		grace       int64
		priority    string
		shutdownArg string
	}{
		{
			name: "built-in TLS", args: append(slices.Clone(common), "--tls-secret=bulwark-tls", "--log-level=info", "--graceful-shutdown-timeout=25s", "--shutdown-delay=5s",
				"--resolve-images", "--image-lookup-budget=1s", "--metrics-bind-address=:8443", "--metrics-secure=true", "--audit-interval=10m", "--audit-metrics-max-namespaces=50", "--audit-events=true", "--audit-policy-reports=true", "--audit-policy-report-scope=resource"),
			certVolume: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, replicas: 2, pdb: true, grace: 35,
		},
		{
			name: "cert-manager", flags: []string{"--set", "certManager.enabled=true", "--set", "replicaCount=1", "--set", "priorityClassName=system-cluster-critical",
				"--set", "terminationGracePeriodSeconds=60", "--set", "preStopSleepSeconds=3", "--set", "shutdownDelaySeconds=2", "--set", "logLevel=debug",
				"--set", "audit.interval=1h", "--set", "audit.events=false", "--set", "audit.policyReportScope=namespace"},
			args: append(slices.Clone(common), "--log-level=debug", "--graceful-shutdown-timeout=50s", "--shutdown-delay=2s",
				"--resolve-images", "--image-lookup-budget=1s", "--metrics-bind-address=:8443", "--metrics-secure=true", "--audit-interval=1h", "--audit-metrics-max-namespaces=50", "--audit-events=false", "--audit-policy-reports=true", "--audit-policy-report-scope=namespace"),
			certVolume: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "bulwark-tls"}}, replicas: 1, pdb: false, grace: 60,
			priority: "system-cluster-critical",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := parseManifest(t, h.template(t, c.flags...))
			var d appsv1.Deployment
			decode(t, find(t, objs, "Deployment", "bulwark"), &d)
			spec := d.Spec.Template.Spec
			if len(spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(spec.Containers))
			}
			ctr := spec.Containers[0]
			if !reflect.DeepEqual(ctr.Args, c.args) {
				t.Errorf("args:\n got  %q\n want %q", ctr.Args, c.args)
			}
			if ctr.Image != defaultImage(t) {
				t.Errorf("image %q", ctr.Image)
			}
			wantEnv := []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}
			if !reflect.DeepEqual(ctr.Env, wantEnv) {
				t.Errorf("env %+v, want POD_NAMESPACE from metadata.namespace", ctr.Env)
			}
			probe := func(name string, p *corev1.Probe, path string) {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "health" {
					t.Errorf("%s probe %+v, want GET %s on the health port", name, p, path)
				}
			}
			probe("liveness", ctr.LivenessProbe, "/healthz")
			probe("readiness", ctr.ReadinessProbe, "/readyz")
			ports := map[string]int32{}
			for _, p := range ctr.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if want := map[string]int32{"webhook": 9443, "metrics": 8443, "health": 8081}; !reflect.DeepEqual(ports, want) {
				t.Errorf("ports %v, want %v", ports, want)
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Cpu().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want cpu and memory requests and limits", ctr.Resources)
			}
			// The kubelet waits for the preStop sleep, the shutdown delay and the graceful
			// shutdown before SIGKILL.
			var shutdown time.Duration
			for _, a := range ctr.Args {
				for _, flag := range []string{"--graceful-shutdown-timeout=", "--shutdown-delay="} {
					if v, ok := strings.CutPrefix(a, flag); ok {
						d, err := time.ParseDuration(v)
						if err != nil {
							t.Fatal(err)
						}
						shutdown += d
					}
				}
			}
			var preStop time.Duration
			if ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil && ctr.Lifecycle.PreStop.Sleep != nil {
				preStop = time.Duration(ctr.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			grace := time.Duration(ptr.Deref(spec.TerminationGracePeriodSeconds, 30)) * time.Second
			if ptr.Deref(spec.TerminationGracePeriodSeconds, 0) != c.grace || grace <= preStop+shutdown {
				t.Errorf("terminationGracePeriodSeconds %s, preStop sleep %s, shutdown delay and graceful shutdown %s: want grace %ds > sleep + shutdown", grace, preStop, shutdown, c.grace)
			}
			if !ptr.Deref(spec.AutomountServiceAccountToken, false) {
				t.Error("automountServiceAccountToken is not true: Bulwark talks to the API")
			}
			if spec.ServiceAccountName != "bulwark" {
				t.Errorf("serviceAccountName %q", spec.ServiceAccountName)
			}
			if spec.PriorityClassName != c.priority {
				t.Errorf("priorityClassName %q, want %q", spec.PriorityClassName, c.priority)
			}
			if ptr.Deref(d.Spec.Replicas, 0) != c.replicas {
				t.Errorf("replicas %d, want %d", ptr.Deref(d.Spec.Replicas, 0), c.replicas)
			}
			if len(spec.TopologySpreadConstraints) == 0 || spec.TopologySpreadConstraints[0].TopologyKey != "kubernetes.io/hostname" ||
				spec.TopologySpreadConstraints[0].LabelSelector == nil {
				t.Errorf("topologySpreadConstraints %+v, want a spread over kubernetes.io/hostname selecting the release's pods", spec.TopologySpreadConstraints)
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range spec.Volumes {
				volumes[v.Name] = v
			}
			mounts := map[string]string{}
			for _, m := range ctr.VolumeMounts {
				mounts[m.MountPath] = m.Name
			}
			if tmp := volumes[mounts["/tmp"]]; tmp.EmptyDir == nil {
				t.Errorf("/tmp is not an emptyDir: %+v", tmp)
			}
			cert := volumes[mounts["/tmp/k8s-webhook-server/serving-certs"]]
			switch {
			case c.certVolume.EmptyDir != nil && cert.EmptyDir == nil:
				t.Errorf("cert dir volume %+v, want an emptyDir", cert)
			case c.certVolume.Secret != nil && (cert.Secret == nil || cert.Secret.SecretName != c.certVolume.Secret.SecretName):
				t.Errorf("cert dir volume %+v, want the Secret %s", cert, c.certVolume.Secret.SecretName)
			}
			hasPDB := false
			for _, o := range objs {
				if o.Kind == "PodDisruptionBudget" {
					hasPDB = true
					var pdb policyv1.PodDisruptionBudget
					decode(t, o, &pdb)
					if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 ||
						!reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
						t.Errorf("PodDisruptionBudget %+v, want minAvailable 1 over the Deployment's pods", pdb.Spec)
					}
				}
			}
			if hasPDB != c.pdb {
				t.Errorf("PodDisruptionBudget rendered: %v, want %v (only with more than one replica)", hasPDB, c.pdb)
			}
		})
	}
}

// TestPodPassesOwnProfiles: Bulwark's own pod passes its restricted profile with no
// violation, and the default nsa profile with only the audit of the service account token
// (which Bulwark needs) and the image-digest warning (the chart names its image by tag), in
// every rendering.
func TestPodPassesOwnProfiles(t *testing.T) {
	h := newHelm(t, "")
	restricted, err := policy.FromProfile(policy.Restricted)
	if err != nil {
		t.Fatal(err)
	}
	nsa, err := policy.FromProfile(policy.NSA)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			var deployment string
			for _, o := range parseManifest(t, render(t, h, r.release, r.namespace, r.flags...)) {
				if o.Kind == "Deployment" {
					deployment = string(o.YAML)
				}
			}
			docs, err := scan.Read([]string{"-"}, strings.NewReader(deployment))
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 1 {
				t.Fatalf("%d documents, want the Deployment", len(docs))
			}
			res, err := scan.EvaluatePolicy(docs, restricted, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Exempt != "" || res[0].Skipped {
				t.Fatalf("the Deployment was not evaluated: exempt %q, skipped %v", res[0].Exempt, res[0].Skipped)
			}
			for _, v := range res[0].Violations {
				// hostNetwork: true is the value's point; the check reports nothing else.
				if r.hostNetwork && v.Check == "host-network" {
					continue
				}
				t.Errorf("restricted: %s", v)
			}
			res, err = scan.EvaluatePolicy(docs, nsa, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res[0].Violations {
				audited := v.Check == "automount-service-account-token" && v.Action == checks.Audit
				tagged := v.Check == "image-digest" && v.Action == checks.Warn
				if !audited && !tagged && !(r.hostNetwork && v.Check == "host-network") {
					t.Errorf("nsa: %s (%s)", v, v.Action)
				}
			}
		})
	}
}

// TestPolicyConfigMap: the policy rendered from values is a valid Bulwark policy (as
// `bulwark serve` validates it at start), under the key and name the Deployment reads.
func TestPolicyConfigMap(t *testing.T) {
	h := newHelm(t, "")
	for _, c := range []struct {
		render  int
		name    string
		profile string
	}{
		{0, "bulwark-policy", policy.NSA},
		{1, "bulwark-policy", policy.Restricted},
		{2, "prod-bulwark-policy", policy.NSA},
	} {
		r := renders[c.render]
		t.Run(r.name, func(t *testing.T) {
			objs := parseManifest(t, render(t, h, r.release, r.namespace, r.flags...))
			var cm corev1.ConfigMap
			decode(t, find(t, objs, "ConfigMap", c.name), &cm)
			doc, ok := cm.Data[policy.ConfigMapKey]
			if !ok || len(cm.Data) != 1 {
				t.Fatalf("ConfigMap data keys %v, want only %s", keys(cm.Data), policy.ConfigMapKey)
			}
			snap, err := policy.Parse([]byte(doc), "ConfigMap "+c.name)
			if err != nil {
				t.Fatalf("the rendered policy is invalid: %v\n%s", err, doc)
			}
			if !strings.Contains(doc, "profile: "+c.profile+"\n") {
				t.Errorf("policy.yaml does not select profile %s:\n%s", c.profile, doc)
			}
			_ = snap
		})
	}
	// The non-default policy keeps its per-check actions through Helm's YAML 1.1: the quoted
	// "off" stays a string.
	objs := parseManifest(t, h.template(t, "-f", "testdata/values-nondefault.yaml"))
	var cm corev1.ConfigMap
	decode(t, find(t, objs, "ConfigMap", "bulwark-policy"), &cm)
	for _, want := range []string{"image-tag:\n    action: enforce", "read-only-root-filesystem:\n    action: \"off\""} {
		if !strings.Contains(cm.Data[policy.ConfigMapKey], want) {
			t.Errorf("policy.yaml lacks %q:\n%s", want, cm.Data[policy.ConfigMapKey])
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRBACFollowsAuditValues: the audit's rules come with the audit, and its Events and
// reports rules with those features; nothing else changes.
func TestRBACFollowsAuditValues(t *testing.T) {
	h := newHelm(t, "")
	all, _ := contractRules("bulwark", "bulwark-system")
	without := func(drop func(rbacv1.PolicyRule) bool) []rbacv1.PolicyRule {
		var out []rbacv1.PolicyRule
		for _, r := range all {
			if !drop(r) {
				out = append(out, r)
			}
		}
		return out
	}
	group := func(g string) func(rbacv1.PolicyRule) bool {
		return func(r rbacv1.PolicyRule) bool { return r.APIGroups[0] == g }
	}
	guardrailKinds := func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, "resourcequotas") || slices.Contains(r.Resources, "networkpolicies")
	}
	cases := []struct {
		flags []string
		want  []rbacv1.PolicyRule
	}{
		{[]string{"--set", "audit.enabled=false"}, without(func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.Verbs, "list") && r.Resources[0] != "namespaces" || r.APIGroups[0] == "events.k8s.io" || r.APIGroups[0] == "wgpolicyk8s.io"
		})},
		{[]string{"--set", "audit.events=false"}, without(group("events.k8s.io"))},
		{[]string{"--set", "audit.policyReports=false"}, without(group("wgpolicyk8s.io"))},
		// Guardrail creation: read, watch, create and update in place of the audit's list, and
		// Events even without the audit's.
		{[]string{"--set", "policy.guardrails.create=true"}, append(without(guardrailKinds), framework.GuardrailWriteRules()...)},
		{[]string{"--set", "policy.guardrails.create=true", "--set", "audit.events=false"}, append(without(guardrailKinds), framework.GuardrailWriteRules()...)},
		// Plain HTTP on loopback: Bulwark asks the apiserver nothing about scrapers.
		{[]string{"--set", "metrics.secure=false"}, without(func(r rbacv1.PolicyRule) bool {
			return r.APIGroups[0] == "authentication.k8s.io" || r.APIGroups[0] == "authorization.k8s.io"
		})},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.flags, " "), func(t *testing.T) {
			objs := parseManifest(t, render(t, h, "bulwark", "bulwark-system", c.flags...))
			var cr rbacv1.ClusterRole
			decode(t, find(t, objs, "ClusterRole", "bulwark"), &cr)
			compareRules(t, "ClusterRole", cr.Rules, c.want)
			var d appsv1.Deployment
			decode(t, find(t, objs, "Deployment", "bulwark"), &d)
			args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
			if c.flags[1] == "audit.enabled=false" != strings.Contains(args, "--audit-interval=0") {
				t.Errorf("args %q", args)
			}
			if c.flags[1] == "policy.guardrails.create=true" != strings.Contains(args, "--guardrails") {
				t.Errorf("args %q", args)
			}
		})
	}
}
