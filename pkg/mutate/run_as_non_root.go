package mutate

import "strings"

// run-as-non-root sets the pod's securityContext.runAsNonRoot to true when unset. It is
// skipped when the pod or any container explicitly runs as root (runAsUser: 0, or on Windows
// windowsOptions.runAsUserName: ContainerAdministrator), which the kubelet would then refuse
// to start; the checks report such pods instead. For an ephemeral-only target it sets
// runAsNonRoot on each new ephemeral container instead, when the pod has none and the
// container does not run as root (by its own setting, or else the pod's).
var runAsNonRootDefault = defaulter{
	name:      RunAsNonRoot,
	flag:      func(o *Options) *bool { return &o.RunAsNonRoot },
	pod:       runAsNonRootPod,
	container: runAsNonRootContainer,
}

func runAsNonRootPod(p *pod) {
	sc := p.securityContext()
	if isRoot(runAs(sc)) {
		return
	}
	for _, c := range p.all {
		if isRoot(runAs(c.securityContext())) {
			return
		}
	}
	p.add(RunAsNonRoot, sc, "runAsNonRoot", true, "true")
}

func runAsNonRootContainer(p *pod, c *container) {
	podSC := p.securityContext()
	if !p.ephemeralOnly || podSC.get("runAsNonRoot") != nil {
		return
	}
	sc := c.securityContext()
	uid, name := runAs(sc)
	podUID, podName := runAs(podSC)
	if uid == nil {
		uid = podUID
	}
	if name == nil {
		name = podName
	}
	if !isRoot(uid, name) {
		p.add(RunAsNonRoot, sc, "runAsNonRoot", true, "true")
	}
}

// runAs returns the runAsUser and windowsOptions.runAsUserName of a securityContext, nil when
// unset.
func runAs(sc *object) (uid, name any) {
	return sc.get("runAsUser"), sc.child("windowsOptions").get("runAsUserName")
}

func isRoot(uid, name any) bool {
	s, _ := name.(string)
	return isZero(uid) || strings.EqualFold(s, "ContainerAdministrator")
}
