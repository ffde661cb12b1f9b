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

func runAsNonRootPod(p *pod) error {
	sc, err := p.securityContext()
	if err != nil {
		return err
	}
	contexts := []*object{sc}
	for _, c := range p.all {
		csc, err := c.securityContext()
		if err != nil {
			return err
		}
		contexts = append(contexts, csc)
	}
	for _, s := range contexts {
		uid, name, err := runAs(s)
		if err != nil {
			return err
		}
		if isRoot(uid, name) {
			return nil
		}
	}
	p.add(RunAsNonRoot, sc, "runAsNonRoot", true, "true")
	return nil
}

func runAsNonRootContainer(p *pod, c *container) error {
	if !p.ephemeralOnly {
		return nil
	}
	podSC, err := p.securityContext()
	if err != nil {
		return err
	}
	if podSC.get("runAsNonRoot") != nil {
		return nil
	}
	sc, err := c.securityContext()
	if err != nil {
		return err
	}
	uid, name, err := runAs(sc)
	if err != nil {
		return err
	}
	podUID, podName, err := runAs(podSC)
	if err != nil {
		return err
	}
	if uid == nil {
		uid = podUID
	}
	if name == nil {
		name = podName
	}
	if isRoot(uid, name) {
		return nil
	}
	p.add(RunAsNonRoot, sc, "runAsNonRoot", true, "true")
	return nil
}

// runAs returns the runAsUser and windowsOptions.runAsUserName of a securityContext, nil when
// unset.
func runAs(sc *object) (uid, name any, err error) {
	win, err := sc.child("windowsOptions")
	if err != nil {
		return nil, nil, err
	}
	return sc.get("runAsUser"), win.get("runAsUserName"), nil
}

func isRoot(uid, name any) bool {
	s, _ := name.(string)
	return isZero(uid) || strings.EqualFold(s, "ContainerAdministrator")
}
