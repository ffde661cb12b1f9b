package checks

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "host-probes",
		Category: HostIsolation,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		Summary:  "Probes and lifecycle hooks must target the pod itself, not another host (httpGet.host, tcpSocket.host).",
		Evaluate: func(c *Context) {
			c.Pod.Containers(func(ct podspec.Container) bool {
				// report flags one handler's httpGet.host and tcpSocket.host.
				report := func(field, what string, http *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction) {
					if http != nil && http.Host != "" {
						reportProbeHost(c, ct, field+".httpGet", what, http.Host)
					}
					if tcp != nil && tcp.Host != "" {
						reportProbeHost(c, ct, field+".tcpSocket", what, tcp.Host)
					}
				}
				for _, p := range []struct {
					field, what string
					probe       *corev1.Probe
				}{
					{"livenessProbe", "liveness probe", ct.LivenessProbe},
					{"readinessProbe", "readiness probe", ct.ReadinessProbe},
					{"startupProbe", "startup probe", ct.StartupProbe},
				} {
					if p.probe != nil {
						report(p.field, p.what, p.probe.HTTPGet, p.probe.TCPSocket)
					}
				}
				if lc := ct.Lifecycle; lc != nil {
					if h := lc.PostStart; h != nil {
						report("lifecycle.postStart", "postStart hook", h.HTTPGet, h.TCPSocket)
					}
					if h := lc.PreStop; h != nil {
						report("lifecycle.preStop", "preStop hook", h.HTTPGet, h.TCPSocket)
					}
				}
				return true
			})
		},
	})
}

// reportProbeHost reports handler.host (handler is e.g. "livenessProbe.httpGet").
func reportProbeHost(c *Context, ct podspec.Container, handler, what, host string) {
	c.Report(ct.Field(handler+".host"),
		fmt.Sprintf("%s sends its %s to host %q instead of the pod, which lets the kubelet be used to reach other hosts", ct.Describe(), what, host),
		fmt.Sprintf("remove host from %s so it targets the pod's own IP", handler))
}
