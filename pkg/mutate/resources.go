package mutate

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/api/resource"
)

// resources sets each missing one of requests.cpu, requests.memory, limits.cpu and
// limits.memory on every init and regular container (never on ephemeral containers, which the
// API forbids resources). The result stays valid: a defaulted request is at most the user's
// limit of that resource, and a defaulted limit at least the request. A resource whose
// request or limit the user set to something unparseable is left alone. The default is skipped
// altogether when the pod sets pod-level resources (spec.resources), whose bounds the
// container values must respect.
var resourcesDefault = defaulter{
	name:      Resources,
	flag:      func(o *Options) *bool { return &o.Resources },
	container: resourcesContainer,
}

func resourcesContainer(p *pod, c *container) {
	if c.kind == ephemeralContainer || p.spec.get("resources") != nil {
		return
	}
	res := c.child("resources")
	requests, limits := res.child("requests"), res.child("limits")
	type value struct {
		name string
		q    resource.Quantity
	}
	var reqs, lims []value
	for _, r := range []struct {
		name     string
		req, lim resource.Quantity
	}{
		{"cpu", p.opts.Requests.CPU, p.opts.Limits.CPU},
		{"memory", p.opts.Requests.Memory, p.opts.Limits.Memory},
	} {
		userReq, hasReq, ok := quantity(requests.get(r.name))
		if !ok {
			continue
		}
		userLim, hasLim, ok := quantity(limits.get(r.name))
		if !ok {
			continue
		}
		req, lim := userReq, userLim
		if !hasReq && !r.req.IsZero() {
			req, hasReq = r.req.DeepCopy(), true
			if hasLim && userLim.Cmp(req) < 0 {
				req = userLim.DeepCopy()
			}
			reqs = append(reqs, value{name: r.name, q: req})
		}
		if !hasLim && !r.lim.IsZero() {
			lim = r.lim.DeepCopy()
			if hasReq && req.Cmp(lim) > 0 {
				lim = req.DeepCopy()
			}
			lims = append(lims, value{name: r.name, q: lim})
		}
	}
	for _, v := range reqs {
		s := v.q.String()
		p.add(Resources, requests, v.name, s, s)
	}
	for _, v := range lims {
		s := v.q.String()
		p.add(Resources, limits, v.name, s, s)
	}
}

// quantity parses a request or limit as the user wrote it: a string or a number. present is
// false when v is missing; ok is false when it is present but not a quantity.
func quantity(v any) (q resource.Quantity, present, ok bool) {
	var s string
	switch t := v.(type) {
	case nil:
		return q, false, true
	case string:
		s = t
	case json.Number:
		s = t.String()
	default:
		return q, true, false
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return q, true, false
	}
	return q, true, true
}
