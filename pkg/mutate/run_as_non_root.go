package mutate

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

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

var runAsNonRootPath = []string{"securityContext", "runAsNonRoot"}

func runAsNonRootPod(p *patcher) {
	sc := p.Spec.SecurityContext
	if sc != nil && sc.RunAsNonRoot != nil {
		return
	}
	uid, name := podRunAs(sc)
	if isRoot(uid, name) {
		return
	}
	for i := range p.containers {
		if isRoot(containerRunAs(p.containers[i].SecurityContext)) {
			return
		}
	}
	p.set(RunAsNonRoot, &p.spec, runAsNonRootPath, depth(sc != nil), true, "true")
}

func runAsNonRootContainer(p *patcher, c *container) {
	podSC := p.Spec.SecurityContext
	if !p.ephemeralOnly || (podSC != nil && podSC.RunAsNonRoot != nil) {
		return
	}
	sc := c.SecurityContext
	if sc != nil && sc.RunAsNonRoot != nil {
		return
	}
	uid, name := containerRunAs(sc)
	podUID, podName := podRunAs(podSC)
	if uid == nil {
		uid = podUID
	}
	if name == nil {
		name = podName
	}
	if !isRoot(uid, name) {
		p.set(RunAsNonRoot, &c.owner, runAsNonRootPath, depth(sc != nil), true, "true")
	}
}

// podRunAs and containerRunAs return the runAsUser and windowsOptions.runAsUserName of a
// securityContext, nil when unset.
func podRunAs(sc *corev1.PodSecurityContext) (uid *int64, name *string) {
	if sc == nil {
		return nil, nil
	}
	return sc.RunAsUser, windowsUserName(sc.WindowsOptions)
}

func containerRunAs(sc *corev1.SecurityContext) (uid *int64, name *string) {
	if sc == nil {
		return nil, nil
	}
	return sc.RunAsUser, windowsUserName(sc.WindowsOptions)
}

func windowsUserName(w *corev1.WindowsSecurityContextOptions) *string {
	if w == nil {
		return nil
	}
	return w.RunAsUserName
}

func isRoot(uid *int64, name *string) bool {
	return (uid != nil && *uid == 0) || (name != nil && strings.EqualFold(*name, "ContainerAdministrator"))
}
