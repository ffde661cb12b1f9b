package mutate

// Legacy seccomp annotations, deprecated in favour of seccompProfile. A pod that carries one
// has made a seccomp choice, and the apiserver may reject a field that contradicts it.
const (
	seccompPodAnnotation             = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotationPrefix = "container.seccomp.security.alpha.kubernetes.io/"
)

// seccomp sets the pod's securityContext.seccompProfile.type to RuntimeDefault when the pod
// has no seccompProfile field and no legacy pod annotation that says otherwise. For an
// ephemeral-only target it sets it on each new ephemeral container instead, when neither the
// pod nor the container has one. Not on Windows pods, where the apiserver rejects
// seccompProfile.
//
// The legacy annotations: the apiserver rejects a pod whose annotation and field disagree,
// and kubelets no longer read the annotation, so a pod with only the annotation runs without
// a profile unless the field is set. The field is set when every annotation that applies says
// runtime/default (or its older spelling docker/default), which RuntimeDefault agrees with;
// any other value (unconfined, localhost/...) is left alone.
var seccompDefault = defaulter{
	name: Seccomp,
	flag: func(o *Options) *bool { return &o.Seccomp },
	pod: func(p *pod) {
		if seccompAnnotationsAllowDefault(p, seccompPodAnnotation) {
			seccompOn(p, p.securityContext())
		}
	},
	container: seccompContainer,
}

// seccompAnnotationsAllowDefault reports whether setting RuntimeDefault agrees with every one
// of the legacy annotations keys the pod template has: each absent, runtime/default or
// docker/default.
func seccompAnnotationsAllowDefault(p *pod, keys ...string) bool {
	annotations := p.spec.parent.child("metadata").child("annotations")
	for _, k := range keys {
		switch v := annotations.get(k); v {
		case nil, "runtime/default", "docker/default":
		default:
			return false
		}
	}
	return true
}

func seccompContainer(p *pod, c *container) {
	if !p.ephemeralOnly || p.securityContext().get("seccompProfile") != nil {
		return
	}
	if seccompAnnotationsAllowDefault(p, seccompPodAnnotation, seccompContainerAnnotationPrefix+c.name) {
		seccompOn(p, c.securityContext())
	}
}

func seccompOn(p *pod, sc *object) {
	if p.windows || sc.get("seccompProfile") != nil {
		return
	}
	p.add(Seccomp, sc.child("seccompProfile"), "type", "RuntimeDefault", "RuntimeDefault")
}
