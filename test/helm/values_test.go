package helm

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// deploymentOf decodes the Deployment called name from a rendered manifest.
func deploymentOf(t *testing.T, objs []object, name string) appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	decode(t, find(t, objs, "Deployment", name), &d)
	return d
}

// TestNames: nameOverride and fullnameOverride name the objects as helm create's helpers do,
// and nameOverride is the pods' app.kubernetes.io/name, which the Deployment, the Service and
// the PodDisruptionBudget select on; every name Bulwark is given follows.
func TestNames(t *testing.T) {
	h := newHelm(t, "")
	long := strings.Repeat("a", 62) + "-bc"
	for _, c := range []struct {
		name, release string
		flags         []string
		fullname, app string
	}{
		{"defaults", "bulwark", nil, "bulwark", "bulwark"},
		{"nameOverride", "bulwark", []string{"--set", "nameOverride=guard"}, "bulwark-guard", "guard"},
		{"nameOverride in the release name", "guard-prod", []string{"--set", "nameOverride=guard"}, "guard-prod", "guard"},
		{"fullnameOverride", "prod", []string{"--set", "fullnameOverride=admission"}, "admission", "bulwark"},
		// Cut to 63 characters, and the "-" the cut leaves at the end dropped.
		{"fullnameOverride trimmed", "prod", []string{"--set", "fullnameOverride=" + long}, strings.Repeat("a", 62), "bulwark"},
		{"nameOverride trimmed", "prod", []string{"--set", "nameOverride=" + strings.Repeat("n", 60)}, "prod-" + strings.Repeat("n", 58), strings.Repeat("n", 60)},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := parseManifest(t, render(t, h, c.release, releaseNamespace, c.flags...))
			d := deploymentOf(t, objs, c.fullname)
			want := map[string]string{"app.kubernetes.io/name": c.app, "app.kubernetes.io/instance": c.release}
			if !reflect.DeepEqual(d.Spec.Selector.MatchLabels, want) {
				t.Errorf("selector %v, want %v", d.Spec.Selector.MatchLabels, want)
			}
			if got := d.Spec.Template.Labels["app.kubernetes.io/name"]; got != c.app {
				t.Errorf("pod label app.kubernetes.io/name %q, want %q", got, c.app)
			}
			var svc corev1.Service
			decode(t, find(t, objs, "Service", c.fullname), &svc)
			if !reflect.DeepEqual(svc.Spec.Selector, want) {
				t.Errorf("Service selector %v, want %v", svc.Spec.Selector, want)
			}
			var pdb policyv1.PodDisruptionBudget
			decode(t, find(t, objs, "PodDisruptionBudget", c.fullname), &pdb)
			if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, want) {
				t.Errorf("PodDisruptionBudget selector %v, want %v", pdb.Spec.Selector.MatchLabels, want)
			}
			for _, kind := range []string{"ServiceAccount", "ClusterRole", "Role", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
				find(t, objs, kind, c.fullname)
			}
			find(t, objs, "ConfigMap", c.fullname+"-policy")
			args := d.Spec.Template.Spec.Containers[0].Args
			for _, a := range []string{"--service-name=" + c.fullname, "--webhook-config-name=" + c.fullname, "--tls-secret=" + c.fullname + "-tls"} {
				if !slices.Contains(args, a) {
					t.Errorf("args %q lack %s", args, a)
				}
			}
		})
	}
}

// TestCommonLabels: commonLabels are on every object the chart renders and on the pods, once
// each, next to the chart's labels and an object's own (metrics.serviceMonitor.labels).
func TestCommonLabels(t *testing.T) {
	h := newHelm(t, "")
	r := renders[2] // extras: every optional template, commonLabels {example.com/cost-center: security}
	objs := parseManifest(t, render(t, h, r.release, r.namespace, r.flags...))
	if len(objs) < 20 {
		t.Fatalf("%d objects: the extras render has every optional template", len(objs))
	}
	for _, o := range objs {
		var meta struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(o.YAML, &meta); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if got := meta.Metadata.Labels["example.com/cost-center"]; got != "security" {
			t.Errorf("%s: label example.com/cost-center %q, want security", o, got)
		}
		if meta.Metadata.Labels["app.kubernetes.io/instance"] != r.release {
			t.Errorf("%s: lost the chart's labels: %v", o, meta.Metadata.Labels)
		}
		if o.Kind == "ServiceMonitor" && meta.Metadata.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("%s: lost metrics.serviceMonitor.labels: %v", o, meta.Metadata.Labels)
		}
	}
	d := deploymentOf(t, objs, "prod-bulwark")
	if got := d.Spec.Template.Labels; got["example.com/cost-center"] != "security" || got["team"] != "platform" {
		t.Errorf("pod labels %v, want commonLabels and podLabels", got)
	}
	if _, ok := d.Spec.Selector.MatchLabels["example.com/cost-center"]; ok {
		t.Errorf("selector %v: commonLabels must not select (a change would be refused on upgrade)", d.Spec.Selector.MatchLabels)
	}
	// A key in both commonLabels and an object's own labels is written once, the object's winning.
	objs = parseManifest(t, h.template(t, "--set", "commonLabels.release=all", "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.serviceMonitor.labels.release=prometheus"))
	sm := string(find(t, objs, "ServiceMonitor", "bulwark").YAML)
	if strings.Count(sm, "release: ") != 1 || !strings.Contains(sm, "release: prometheus") {
		t.Errorf("ServiceMonitor labels, want release: prometheus once:\n%s", sm)
	}
}

// TestImage: the image reference from image.registry, image.repository and global.imageRegistry,
// and the pull secrets from imagePullSecrets and image.pullSecrets together.
func TestImage(t *testing.T) {
	h := newHelm(t, "")
	tag := readChartMeta(t).AppVersion // the default tag
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"defaults", nil, "ghcr.io/bulwark-k8s/bulwark:" + tag},
		{"image.registry", []string{"--set", "image.registry=registry.example.com:5000"}, "registry.example.com:5000/bulwark-k8s/bulwark:" + tag},
		{"no registry", []string{"--set", "image.registry=", "--set", "image.repository=bulwark"}, "bulwark:" + tag},
		{"global.imageRegistry over image.registry", []string{"--set", "global.imageRegistry=mirror.example.com/ghcr", "--set", "image.registry=quay.io"}, "mirror.example.com/ghcr/bulwark-k8s/bulwark:" + tag},
		// A repository naming its registry, as image.repository was given before image.registry.
		{"repository with its registry", []string{"--set", "image.repository=registry.example.com/mirror/bulwark"}, "registry.example.com/mirror/bulwark:" + tag},
		{"repository on localhost", []string{"--set", "image.repository=localhost/bulwark", "--set", "image.tag=dev"}, "localhost/bulwark:dev"},
		{"repository with its registry and a port", []string{"--set", "image.repository=10.0.0.5:5000/bulwark", "--set", "image.registry="}, "10.0.0.5:5000/bulwark:" + tag},
		{"renders", []string{"-f", "testdata/values-overrides.yaml"}, "mirror.example.com/bulwark-k8s/bulwark:" + tag},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := parseManifest(t, h.template(t, c.flags...))
			name := "bulwark"
			if c.name == "renders" {
				name = "edge-admission"
			}
			d := deploymentOf(t, objs, name)
			if got := d.Spec.Template.Spec.Containers[0].Image; got != c.want {
				t.Errorf("image %q, want %q", got, c.want)
			}
			if got := d.Spec.Template.Spec.ImagePullSecrets; c.flags == nil && got != nil {
				t.Errorf("imagePullSecrets %v by default, want none", got)
			}
		})
	}

	r := renders[2] // extras: imagePullSecrets [regcred], image.pullSecrets [mirror-pull, {name: regcred}]
	d := deploymentOf(t, parseManifest(t, render(t, h, r.release, r.namespace, r.flags...)), "prod-bulwark")
	want := []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "mirror-pull"}}
	if got := d.Spec.Template.Spec.ImagePullSecrets; !reflect.DeepEqual(got, want) {
		t.Errorf("imagePullSecrets %v, want %v", got, want)
	}
	d = deploymentOf(t, parseManifest(t, h.template(t, "--set", "image.pullSecrets[0]=mirror-pull")), "bulwark")
	if got := d.Spec.Template.Spec.ImagePullSecrets; !reflect.DeepEqual(got, []corev1.LocalObjectReference{{Name: "mirror-pull"}}) {
		t.Errorf("imagePullSecrets %v, want mirror-pull from image.pullSecrets alone", got)
	}
}

// TestPodValues: the security contexts as Helm merges them, the ServiceAccount, the node's
// network with its ports, and the PodDisruptionBudget by maxUnavailable, as the overrides
// render sets them; and what the defaults render.
func TestPodValues(t *testing.T) {
	h := newHelm(t, "")
	def := parseManifest(t, h.template(t))
	d := deploymentOf(t, def, "bulwark")
	spec := d.Spec.Template.Spec
	wantPod := &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532), FSGroup: ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if !reflect.DeepEqual(spec.SecurityContext, wantPod) {
		t.Errorf("default pod securityContext %+v, want %+v", spec.SecurityContext, wantPod)
	}
	wantCtr := &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
		ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false), Privileged: ptr.To(false),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if !reflect.DeepEqual(spec.Containers[0].SecurityContext, wantCtr) {
		t.Errorf("default container securityContext %+v, want %+v", spec.Containers[0].SecurityContext, wantCtr)
	}
	if spec.HostNetwork || spec.DNSPolicy != "" {
		t.Errorf("hostNetwork %v, dnsPolicy %q by default", spec.HostNetwork, spec.DNSPolicy)
	}

	r := renders[3]
	objs := parseManifest(t, render(t, h, r.release, r.namespace, append(slices.Clone(r.flags),
		"--set", "networkPolicy.enabled=true", "--set", "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.10/32")...))
	d = deploymentOf(t, objs, "edge-admission")
	spec = d.Spec.Template.Spec
	// values-overrides.yaml: podSecurityContext {fsGroup: null} removes fsGroup and keeps the
	// rest; securityContext {runAsUser: 10001, runAsGroup: 10001} replaces those two keys only.
	wantPod.FSGroup = nil
	if !reflect.DeepEqual(spec.SecurityContext, wantPod) {
		t.Errorf("pod securityContext %+v, want %+v", spec.SecurityContext, wantPod)
	}
	wantCtr.RunAsUser, wantCtr.RunAsGroup = ptr.To[int64](10001), ptr.To[int64](10001)
	if !reflect.DeepEqual(spec.Containers[0].SecurityContext, wantCtr) {
		t.Errorf("container securityContext %+v, want %+v", spec.Containers[0].SecurityContext, wantCtr)
	}
	if !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork %v, dnsPolicy %q; want true, ClusterFirstWithHostNet", spec.HostNetwork, spec.DNSPolicy)
	}
	ctr := spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range ctr.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := map[string]int32{"webhook": 9543, "metrics": 9544, "health": 9581}; !reflect.DeepEqual(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}
	for _, a := range []string{"--port=9543", "--health-probe-bind-address=:9581", "--metrics-bind-address=:9544"} {
		if !slices.Contains(ctr.Args, a) {
			t.Errorf("args %q lack %s", ctr.Args, a)
		}
	}
	// The probes, the Service and the NetworkPolicy name the ports, so they follow them.
	if ctr.LivenessProbe.HTTPGet.Port.String() != "health" || ctr.ReadinessProbe.HTTPGet.Port.String() != "health" {
		t.Errorf("probes on %s and %s, want the health port", ctr.LivenessProbe.HTTPGet.Port.String(), ctr.ReadinessProbe.HTTPGet.Port.String())
	}
	var svc corev1.Service
	decode(t, find(t, objs, "Service", "edge-admission"), &svc)
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.String() != p.Name || (p.Name == "webhook") != (p.Port == 443) {
			t.Errorf("Service port %+v: want targetPort the container port of its name, the webhook on 443", p)
		}
	}
	var np networkingv1.NetworkPolicy
	decode(t, find(t, objs, "NetworkPolicy", "edge-admission"), &np)
	if got := np.Spec.Ingress[0].Ports[0].Port.String(); got != "webhook" {
		t.Errorf("NetworkPolicy opens %s, want the webhook port", got)
	}
	if got := spec.ServiceAccountName; got != "platform-admission" {
		t.Errorf("serviceAccountName %q, want serviceAccount.name", got)
	}
	var pdb policyv1.PodDisruptionBudget
	decode(t, find(t, objs, "PodDisruptionBudget", "edge-admission"), &pdb)
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "50%" {
		t.Errorf("PodDisruptionBudget minAvailable %v maxUnavailable %v, want maxUnavailable 50%% alone", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}

	// serviceAccount: the created one carries its annotations; a name with create names it.
	objs = parseManifest(t, h.template(t, "--set", "serviceAccount.name=bulwark-sa", "--set", "serviceAccount.annotations.example\\.com/role=x"))
	var sa corev1.ServiceAccount
	decode(t, find(t, objs, "ServiceAccount", "bulwark-sa"), &sa)
	if sa.Annotations["example.com/role"] != "x" {
		t.Errorf("ServiceAccount annotations %v", sa.Annotations)
	}
	if got := deploymentOf(t, objs, "bulwark").Spec.Template.Spec.ServiceAccountName; got != "bulwark-sa" {
		t.Errorf("serviceAccountName %q, want bulwark-sa", got)
	}
}

// TestServiceMonitorValues: the ServiceMonitor in metrics.serviceMonitor.namespace still scrapes
// the release namespace, with the scrape timeout and relabelings given.
func TestServiceMonitorValues(t *testing.T) {
	h := newHelm(t, "")
	r := renders[2]
	var sm struct {
		Metadata struct{ Namespace string }
		Spec     struct {
			NamespaceSelector struct{ MatchNames []string } `json:"namespaceSelector"`
			Endpoints         []map[string]any
		}
	}
	o := find(t, parseManifest(t, render(t, h, r.release, r.namespace, r.flags...)), "ServiceMonitor", "prod-bulwark")
	if err := yaml.Unmarshal(o.YAML, &sm); err != nil {
		t.Fatal(err)
	}
	if sm.Metadata.Namespace != "monitoring" || !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{"security"}) {
		t.Errorf("ServiceMonitor in %q selecting %v, want in monitoring selecting the release namespace", sm.Metadata.Namespace, sm.Spec.NamespaceSelector.MatchNames)
	}
	e := sm.Spec.Endpoints[0]
	if e["scrapeTimeout"] != "10s" {
		t.Errorf("scrapeTimeout %v", e["scrapeTimeout"])
	}
	want := map[string]any{
		"relabelings":       []any{map[string]any{"sourceLabels": []any{"__meta_kubernetes_pod_node_name"}, "targetLabel": "node"}},
		"metricRelabelings": []any{map[string]any{"sourceLabels": []any{"__name__"}, "regex": "go_gc_.*", "action": "drop"}},
	}
	for k, v := range want {
		if !reflect.DeepEqual(e[k], v) {
			t.Errorf("%s %v, want %v", k, e[k], v)
		}
	}
	// Unset, they are not rendered.
	o = find(t, parseManifest(t, h.template(t, "--set", "metrics.serviceMonitor.enabled=true")), "ServiceMonitor", "bulwark")
	for _, k := range []string{"scrapeTimeout", "relabelings", "metricRelabelings"} {
		if strings.Contains(string(o.YAML), k) {
			t.Errorf("%s rendered unset:\n%s", k, o.YAML)
		}
	}
	if !strings.Contains(string(o.YAML), "namespace: "+releaseNamespace) {
		t.Errorf("ServiceMonitor not in the release namespace by default:\n%s", o.YAML)
	}
}

// TestLatencyAlertNamesEachWebhook: BulwarkAdmissionLatencyHigh's description gives each
// webhook's own timeout and failurePolicy when webhooks.* set them apart.
func TestLatencyAlertNamesEachWebhook(t *testing.T) {
	h := newHelm(t, "")
	for _, c := range []struct {
		flags []string
		want  []string
	}{
		{nil, []string{"The apiserver gives up after 5s, and under failurePolicy Fail a call that times out is refused."}},
		{[]string{"-f", "testdata/values-overrides.yaml"}, []string{
			"on the validating webhook after 8s, and under failurePolicy Fail a call that times out is refused;",
			"on the mutating webhook after 3s, and under failurePolicy Ignore a call that times out is admitted unchecked.",
		}},
	} {
		objs := parseManifest(t, h.template(t, append(slices.Clone(c.flags), "--set", "metrics.prometheusRule.enabled=true")...))
		var rule string
		for _, o := range objs {
			if o.Kind == "PrometheusRule" {
				rule = strings.Join(strings.Fields(string(o.YAML)), " ")
			}
		}
		for _, w := range c.want {
			if !strings.Contains(rule, w) {
				t.Errorf("%v: the PrometheusRule does not say %q", c.flags, w)
			}
		}
	}
}
