package mutate

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// resources sets each missing one of requests.cpu, requests.memory, limits.cpu and
// limits.memory on every init and regular container (never on ephemeral containers, which the
// API forbids resources). The result stays valid: a defaulted request is at most the user's
// limit of that resource, and a defaulted limit at least the request. The default is skipped
// altogether when the pod sets pod-level resources (spec.resources), whose bounds the
// container values must respect.
var resourcesDefault = defaulter{
	name:      Resources,
	flag:      func(o *Options) *bool { return &o.Resources },
	container: resourcesContainer,
}

var (
	requestsCPUPath    = []string{"resources", "requests", "cpu"}
	requestsMemoryPath = []string{"resources", "requests", "memory"}
	limitsCPUPath      = []string{"resources", "limits", "cpu"}
	limitsMemoryPath   = []string{"resources", "limits", "memory"}
)

func resourcesContainer(p *patcher, c *container) {
	if c.Kind == podspec.EphemeralContainer || p.Spec.Resources != nil {
		return
	}
	requests, limits := c.Resources.Requests, c.Resources.Limits
	type value struct {
		path []string
		q    resource.Quantity
	}
	var reqs, lims [2]value
	nreqs, nlims := 0, 0
	for _, r := range []struct {
		name         corev1.ResourceName
		req, lim     resource.Quantity
		reqAt, limAt []string
	}{
		{corev1.ResourceCPU, p.opts.Requests.CPU, p.opts.Limits.CPU, requestsCPUPath, limitsCPUPath},
		{corev1.ResourceMemory, p.opts.Requests.Memory, p.opts.Limits.Memory, requestsMemoryPath, limitsMemoryPath},
	} {
		userReq, hasReq := quantity(requests, r.name)
		userLim, hasLim := quantity(limits, r.name)
		req := userReq
		if !hasReq && !r.req.IsZero() {
			req, hasReq = r.req.DeepCopy(), true
			if hasLim && userLim.Cmp(req) < 0 {
				req = userLim.DeepCopy()
			}
			reqs[nreqs] = value{r.reqAt, req}
			nreqs++
		}
		if !hasLim && !r.lim.IsZero() {
			lim := r.lim.DeepCopy()
			if hasReq && req.Cmp(lim) > 0 {
				lim = req.DeepCopy()
			}
			lims[nlims] = value{r.limAt, lim}
			nlims++
		}
	}
	hasRequests := c.present.Resources && requests != nil
	hasLimits := c.present.Resources && limits != nil
	for _, v := range reqs[:nreqs] {
		s := v.q.String()
		p.set(Resources, &c.owner, v.path, depth(c.present.Resources, hasRequests), s, s)
	}
	for _, v := range lims[:nlims] {
		s := v.q.String()
		p.set(Resources, &c.owner, v.path, depth(c.present.Resources, hasLimits), s, s)
	}
}

// quantity returns the request or limit of a resource as the user set it; present is false
// when it is missing or null (a decoded null quantity has no format, a parsed one always
// has).
func quantity(list corev1.ResourceList, name corev1.ResourceName) (q resource.Quantity, present bool) {
	q, ok := list[name]
	return q, ok && q.Format != ""
}
