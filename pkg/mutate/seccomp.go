package mutate

import corev1 "k8s.io/api/core/v1"

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
	pod: func(p *patcher) {
		if seccompAnnotationsAllowDefault(p, seccompPodAnnotation) {
			seccompOn(p, &p.spec, p.Spec.SecurityContext != nil, podSeccompProfile(p))
		}
	},
	container: seccompContainer,
}

var seccompTypePath = []string{"securityContext", "seccompProfile", "type"}

// seccompAnnotationsAllowDefault reports whether setting RuntimeDefault agrees with every one
// of the legacy annotations keys the pod template has: each absent, runtime/default or
// docker/default.
func seccompAnnotationsAllowDefault(p *patcher, keys ...string) bool {
	for _, k := range keys {
		v, ok := p.Meta.Annotations[k]
		if ok && v != "runtime/default" && v != "docker/default" {
			return false
		}
	}
	return true
}

func seccompContainer(p *patcher, c *container) {
	if !p.ephemeralOnly || podSeccompProfile(p) != nil {
		return
	}
	if seccompAnnotationsAllowDefault(p, seccompPodAnnotation, seccompContainerAnnotationPrefix+c.Name) {
		var profile *corev1.SeccompProfile
		if c.SecurityContext != nil {
			profile = c.SecurityContext.SeccompProfile
		}
		seccompOn(p, &c.owner, c.SecurityContext != nil, profile)
	}
}

// seccompOn sets seccompProfile.type in the securityContext of o (which has one when hasSC)
// unless it has a profile already.
func seccompOn(p *patcher, o *owner, hasSC bool, profile *corev1.SeccompProfile) {
	if p.windows || profile != nil {
		return
	}
	p.set(Seccomp, o, seccompTypePath, depth(hasSC), "RuntimeDefault", "RuntimeDefault")
}

func podSeccompProfile(p *patcher) *corev1.SeccompProfile {
	if sc := p.Spec.SecurityContext; sc != nil {
		return sc.SeccompProfile
	}
	return nil
}
