package mutate

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// run-as-non-root sets the pod's securityContext.runAsNonRoot to true when unset. It is
// skipped when the pod or any container explicitly runs as root (runAsUser: 0, or on Windows
// windowsOptions.runAsUserName: ContainerAdministrator), which the kubelet would then refuse
// to start; the checks report such pods instead. For an ephemeral-only target it sets
// runAsNonRoot on each new ephemeral container instead, when the pod has none and the
// container does not run as root (by its own setting, or else the pod's).
//
// When the images are known (Target.Images), a container that sets no runAsUser (nor does the
// pod) runs as its image's USER, which the kubelet checks under runAsNonRoot: the default is
// not added when that user is root, a name, or unknown, and a note says why.
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
	var notes []string
	for i := range p.containers {
		if note := p.imageBlocks(&p.containers[i]); note != "" {
			notes = append(notes, note)
		}
	}
	if len(notes) == 0 {
		p.set(RunAsNonRoot, &p.spec, runAsNonRootPath, depth(sc != nil), true, "true")
		return
	}
	given := p.opts.RunAsUser
	if given <= 0 {
		p.notes = append(p.notes, notes...)
		return
	}
	// The policy's uid makes every container start under runAsNonRoot: the kubelet checks
	// runAsUser before the image's USER. (A held-back container implies the pod sets no
	// runAsUser.)
	p.set(RunAsNonRoot, &p.spec, runAsUserPath, depth(sc != nil), given, strconv.FormatInt(given, 10))
	p.set(RunAsNonRoot, &p.spec, runAsNonRootPath, depth(sc != nil), true, "true")
	p.notes = append(p.notes, fmt.Sprintf("the pod was given runAsUser %d (the policy's mutation.runAsUser), so that runAsNonRoot holds for its images that do not run as a numeric non-root user", given))
}

var runAsUserPath = []string{"securityContext", "runAsUser"}

// imageBlocks returns the note of a container whose image the kubelet would (or might) refuse
// to run under runAsNonRoot: one that sets neither runAsUser nor runAsNonRoot, in a pod that
// sets no runAsUser, on Linux, when images are consulted. "" otherwise.
func (p *patcher) imageBlocks(c *container) string {
	if p.images == nil || p.windows || c.Image == "" {
		return ""
	}
	if sc := c.SecurityContext; sc != nil && (sc.RunAsUser != nil || sc.RunAsNonRoot != nil) {
		return "" // its own user, or its own choice of runAsNonRoot, which the pod's does not change
	}
	if sc := p.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil {
		return ""
	}
	return blocksRunAsNonRoot(c.Image, p.images(c.Image))
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
	if isRoot(uid, name) {
		return
	}
	if note := p.imageBlocks(c); note != "" {
		p.notes = append(p.notes, note)
		return
	}
	p.set(RunAsNonRoot, &c.owner, runAsNonRootPath, depth(sc != nil), true, "true")
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
