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
	pod: func(p *pod) error {
		if ok, err := seccompAnnotationsAllowDefault(p, seccompPodAnnotation); !ok || err != nil {
			return err
		}
		return seccompOn(p, p.securityContext)
	},
	container: seccompContainer,
}

// seccompAnnotationsAllowDefault reports whether setting RuntimeDefault agrees with every one
// of the legacy annotations keys the pod template has: each absent, runtime/default or
// docker/default.
func seccompAnnotationsAllowDefault(p *pod, keys ...string) (bool, error) {
	meta, err := p.spec.parent.child("metadata")
	if err != nil {
		return false, err
	}
	annotations, err := meta.child("annotations")
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		switch v := annotations.get(k); v {
		case nil, "runtime/default", "docker/default":
		default:
			return false, nil
		}
	}
	return true, nil
}

func seccompContainer(p *pod, c *container) error {
	if !p.ephemeralOnly {
		return nil
	}
	podSC, err := p.securityContext()
	if err != nil {
		return err
	}
	if podSC.get("seccompProfile") != nil {
		return nil
	}
	if ok, err := seccompAnnotationsAllowDefault(p, seccompPodAnnotation, seccompContainerAnnotationPrefix+c.name); !ok || err != nil {
		return err
	}
	return seccompOn(p, c.securityContext)
}

func seccompOn(p *pod, securityContext func() (*object, error)) error {
	if p.windows {
		return nil
	}
	sc, err := securityContext()
	if err != nil {
		return err
	}
	if sc.get("seccompProfile") != nil {
		return nil
	}
	profile, err := sc.child("seccompProfile")
	if err != nil {
		return err
	}
	p.add(Seccomp, profile, "type", "RuntimeDefault", "RuntimeDefault")
	return nil
}
