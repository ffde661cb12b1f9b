package helm

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// serviceMonitor is the part of a prometheus-operator ServiceMonitor the chart renders; a
// field the chart writes that is not here fails the strict decode.
type serviceMonitor struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Selector          map[string]any `json:"selector"`
		NamespaceSelector map[string]any `json:"namespaceSelector"`
		Endpoints         []struct {
			Port            string         `json:"port"`
			Path            string         `json:"path"`
			Scheme          string         `json:"scheme"`
			Interval        string         `json:"interval"`
			BearerTokenFile string         `json:"bearerTokenFile"`
			Authorization   map[string]any `json:"authorization"`
			TLSConfig       map[string]any `json:"tlsConfig"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// metricsView is what a rendering says about the metrics endpoint.
type metricsView struct {
	args          []string            // the Deployment's metrics flags
	containerPort int32               // the container port named metrics; 0 when none
	servicePort   *corev1.ServicePort // the Service port named metrics
	reader        bool                // the ClusterRole bulwark-metrics-reader is rendered
	monitor       *serviceMonitor
	policy        *networkingv1.NetworkPolicy
}

func viewMetrics(t *testing.T, h *helmCLI, flags ...string) metricsView {
	t.Helper()
	objs := parseManifest(t, h.template(t, flags...))
	var v metricsView
	var d appsv1.Deployment
	decode(t, find(t, objs, "Deployment", "bulwark"), &d)
	ctr := d.Spec.Template.Spec.Containers[0]
	for _, a := range ctr.Args {
		if strings.HasPrefix(a, "--metrics-bind-address") || strings.HasPrefix(a, "--metrics-secure") || strings.HasPrefix(a, "--metrics-cert-dir") {
			v.args = append(v.args, a)
		}
	}
	for _, p := range ctr.Ports {
		if p.Name == "metrics" {
			v.containerPort = p.ContainerPort
		}
	}
	var svc corev1.Service
	decode(t, find(t, objs, "Service", "bulwark"), &svc)
	for i, p := range svc.Spec.Ports {
		if p.Name == "metrics" {
			v.servicePort = &svc.Spec.Ports[i]
		}
	}
	for _, o := range objs {
		switch {
		case o.Kind == "ClusterRole" && o.Name == "bulwark-metrics-reader":
			v.reader = true
		case o.Kind == "ServiceMonitor":
			v.monitor = &serviceMonitor{}
			decode(t, o, v.monitor)
		case o.Kind == "NetworkPolicy":
			v.policy = &networkingv1.NetworkPolicy{}
			decode(t, o, v.policy)
		}
	}
	return v
}

// TestMetricsEndpoint: with metrics.secure (the default) the Deployment serves HTTPS on 8443,
// the Service and the NetworkPolicy open it, the ServiceMonitor scrapes it over HTTPS with
// Prometheus's token, and the metrics reader ClusterRole exists; without it, the metrics stay
// on the pod's loopback over plain HTTP and nothing opens or scrapes them.
func TestMetricsEndpoint(t *testing.T) {
	h := newHelm(t, "")

	t.Run("secure", func(t *testing.T) {
		v := viewMetrics(t, h, "--set", "metrics.serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true",
			"--set", "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.10/32")
		if want := []string{"--metrics-bind-address=:8443", "--metrics-secure=true"}; !slices.Equal(v.args, want) {
			t.Errorf("metrics args %q, want %q", v.args, want)
		}
		if v.containerPort != 8443 {
			t.Errorf("container port metrics %d, want 8443", v.containerPort)
		}
		if p := v.servicePort; p == nil || p.Port != 8443 || p.TargetPort != intstr.FromString("metrics") {
			t.Errorf("Service port metrics %+v, want 8443 to the container port metrics", p)
		}
		if !v.reader {
			t.Error("no ClusterRole bulwark-metrics-reader")
		}
		if v.monitor == nil || len(v.monitor.Spec.Endpoints) != 1 {
			t.Fatalf("ServiceMonitor %+v, want one endpoint", v.monitor)
		}
		ep := v.monitor.Spec.Endpoints[0]
		if ep.Port != "metrics" || ep.Path != "/metrics" || ep.Scheme != "https" || ep.Interval != "30s" {
			t.Errorf("ServiceMonitor endpoint %+v, want https on the port metrics, path /metrics, every 30s", ep)
		}
		if ep.BearerTokenFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" || ep.Authorization != nil {
			t.Errorf("ServiceMonitor endpoint: bearerTokenFile %q authorization %v, want Prometheus's ServiceAccount token file", ep.BearerTokenFile, ep.Authorization)
		}
		if want := map[string]any{"insecureSkipVerify": true}; !reflect.DeepEqual(ep.TLSConfig, want) {
			t.Errorf("ServiceMonitor tlsConfig %v, want %v (the certificate is self-signed)", ep.TLSConfig, want)
		}
		if v.policy == nil || len(v.policy.Spec.Ingress) != 2 || len(v.policy.Spec.Ingress[1].Ports) != 1 ||
			v.policy.Spec.Ingress[1].Ports[0].Port.String() != "metrics" {
			t.Errorf("NetworkPolicy ingress %+v, want the webhook port and the metrics port", v.policy)
		}
	})

	t.Run("authorization from a Secret", func(t *testing.T) {
		v := viewMetrics(t, h, "--set", "metrics.serviceMonitor.enabled=true",
			"--set", "metrics.serviceMonitor.authorization.type=Bearer",
			"--set", "metrics.serviceMonitor.authorization.credentials.name=prometheus-token",
			"--set", "metrics.serviceMonitor.authorization.credentials.key=token",
			"--set", "metrics.serviceMonitor.tlsConfig.serverName=bulwark.bulwark-system.svc")
		ep := v.monitor.Spec.Endpoints[0]
		want := map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "prometheus-token", "key": "token"}}
		if ep.BearerTokenFile != "" || !reflect.DeepEqual(ep.Authorization, want) {
			t.Errorf("bearerTokenFile %q authorization %v, want only authorization %v", ep.BearerTokenFile, ep.Authorization, want)
		}
		if want := map[string]any{"insecureSkipVerify": true, "serverName": "bulwark.bulwark-system.svc"}; !reflect.DeepEqual(ep.TLSConfig, want) {
			t.Errorf("tlsConfig %v, want %v", ep.TLSConfig, want)
		}
	})

	t.Run("plain HTTP on loopback", func(t *testing.T) {
		v := viewMetrics(t, h, "--set", "metrics.secure=false", "--set", "networkPolicy.enabled=true",
			"--set", "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.10/32",
			"--set", "metrics.readerSubjects[0].kind=ServiceAccount", "--set", "metrics.readerSubjects[0].name=prometheus",
			"--set", "metrics.readerSubjects[0].namespace=monitoring")
		if want := []string{"--metrics-bind-address=127.0.0.1:8080", "--metrics-secure=false"}; !slices.Equal(v.args, want) {
			t.Errorf("metrics args %q, want %q", v.args, want)
		}
		if v.containerPort != 0 || v.servicePort != nil {
			t.Errorf("container port %d and Service port %+v for metrics on loopback, want none", v.containerPort, v.servicePort)
		}
		if v.reader || v.monitor != nil {
			t.Errorf("metrics reader ClusterRole rendered: %v, ServiceMonitor: %v; want neither", v.reader, v.monitor != nil)
		}
		if v.policy == nil || len(v.policy.Spec.Ingress) != 1 || v.policy.Spec.Ingress[0].Ports[0].Port.String() != "webhook" {
			t.Errorf("NetworkPolicy ingress %+v, want the webhook port only", v.policy)
		}
	})
}
