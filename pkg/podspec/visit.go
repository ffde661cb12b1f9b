package podspec

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// ContainerKind says which list of the pod spec a container is in.
type ContainerKind int

const (
	InitContainer ContainerKind = iota
	RegularContainer
	EphemeralContainer
)

// Field is the pod spec field name of the list.
func (k ContainerKind) Field() string {
	switch k {
	case InitContainer:
		return "initContainers"
	case EphemeralContainer:
		return "ephemeralContainers"
	default:
		return "containers"
	}
}

// Container is one container of a pod spec, with where it sits.
type Container struct {
	*corev1.Container
	Kind  ContainerKind
	Index int
	pod   *Pod
}

// Path is the dotted field path of the container, e.g. "spec.template.spec.containers[1]".
func (c Container) Path() string {
	return c.pod.Shape.SpecPath() + "." + c.Kind.Field() + "[" + strconv.Itoa(c.Index) + "]"
}

// Field is the dotted path of a field of the container, e.g. Field("securityContext.privileged").
func (c Container) Field(field string) string { return c.Path() + "." + field }

// Pointer is the JSON pointer segments of the container, relative to the object root.
func (c Container) Pointer() []string {
	return append(c.pod.Shape.SpecPointer(), c.Kind.Field(), strconv.Itoa(c.Index))
}

// IsSidecar reports an init container that keeps running beside the app (restartPolicy: Always).
func (c Container) IsSidecar() bool {
	return c.Kind == InitContainer && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// Describe names the container for messages: `container "app"`, `init container "setup"`,
// `sidecar container "proxy"`, `ephemeral container "debugger"`; a container without a name
// by its index in its list: `container #0 (unnamed)`.
func (c Container) Describe() string {
	var kind string
	switch {
	case c.IsSidecar():
		kind = "sidecar container"
	case c.Kind == InitContainer:
		kind = "init container"
	case c.Kind == EphemeralContainer:
		kind = "ephemeral container"
	default:
		kind = "container"
	}
	if c.Name == "" {
		return kind + " #" + strconv.Itoa(c.Index) + " (unnamed)"
	}
	return kind + " " + strconv.Quote(c.Name)
}

// Containers visits every container in the order the kubelet starts them: init containers
// (sidecars included), containers, then ephemeral containers. fn returns false to stop.
func (p *Pod) Containers(fn func(Container) bool) {
	for i := range p.Spec.InitContainers {
		if !fn(Container{Container: &p.Spec.InitContainers[i], Kind: InitContainer, Index: i, pod: p}) {
			return
		}
	}
	for i := range p.Spec.Containers {
		if !fn(Container{Container: &p.Spec.Containers[i], Kind: RegularContainer, Index: i, pod: p}) {
			return
		}
	}
	for i := range p.Spec.EphemeralContainers {
		c := (*corev1.Container)(&p.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		if !fn(Container{Container: c, Kind: EphemeralContainer, Index: i, pod: p}) {
			return
		}
	}
}

// Image is one image reference of a pod: a container's image or an image volume's.
type Image struct {
	// Ref is the reference as written.
	Ref string
	// Field is the dotted path of the field that holds it.
	Field string
	// Describe names its holder for a message, e.g. `container "app"` or `image volume "data"`.
	Describe string
}

// Images visits every image a pod runs or mounts: the containers' in Containers' order, then
// the image volumes' (whose files an allowed container can execute, so every image check
// counts them). Empty references are skipped. fn returns false to stop.
func (p *Pod) Images(fn func(Image) bool) {
	more := true
	p.Containers(func(c Container) bool {
		if c.Image != "" {
			more = fn(Image{Ref: c.Image, Field: c.Field("image"), Describe: c.Describe()})
		}
		return more
	})
	for i := 0; more && i < len(p.Spec.Volumes); i++ {
		v := p.Spec.Volumes[i]
		if v.Image == nil || v.Image.Reference == "" {
			continue
		}
		more = fn(Image{
			Ref:      v.Image.Reference,
			Field:    p.SpecField("volumes[" + strconv.Itoa(i) + "].image.reference"),
			Describe: "image volume " + strconv.Quote(v.Name),
		})
	}
}
