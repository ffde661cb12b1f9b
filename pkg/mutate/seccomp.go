package mutate

// Legacy seccomp annotations, deprecated in favour of seccompProfile. A pod that carries one
// has made a seccomp choice, and the apiserver may reject a field that contradicts it.
const (
	seccompPodAnnotation             = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotationPrefix = "container.seccomp.security.alpha.kubernetes.io/"
)

// seccomp sets the pod's securityContext.seccompProfile.type to RuntimeDefault when the pod
// has no seccompProfile in any form (nor the legacy pod annotation). For an ephemeral-only
// target it sets it on each new ephemeral container instead, when neither the pod nor the
// container has one. Not on Windows pods, where the apiserver rejects seccompProfile.
var seccompDefault = defaulter{
	name: Seccomp,
	flag: func(o *Options) *bool { return &o.Seccomp },
	pod: func(p *pod) error {
		if has, err := p.annotation(seccompPodAnnotation); has || err != nil {
			return err
		}
		return seccompOn(p, p.securityContext)
	},
	container: seccompContainer,
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
	for _, a := range []string{seccompPodAnnotation, seccompContainerAnnotationPrefix + c.name} {
		if has, err := p.annotation(a); has || err != nil {
			return err
		}
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
