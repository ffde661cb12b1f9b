package checks

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "host-ports",
		Category: HostIsolation,
		Profiles: ProfileActions{Baseline: Enforce, Restricted: Enforce, NSA: Enforce},
		Summary:  "Containers must not bind ports on the node's network interfaces (ports[].hostPort).",
		Evaluate: func(c *Context) {
			c.Pod.Containers(func(ct podspec.Container) bool {
				for j, p := range ct.Ports {
					if p.HostPort == 0 {
						continue
					}
					c.Report(ct.Field(fmt.Sprintf("ports[%d].hostPort", j)),
						fmt.Sprintf("%s binds port %d on the node, which bypasses network policies", ct.Describe(), p.HostPort),
						fmt.Sprintf("remove hostPort %d and expose the port through a Service", p.HostPort))
				}
				return true
			})
		},
	})
}
