// Package podspec is the only place that knows which Kubernetes kinds carry a pod spec and
// where. It decodes the pod template of any supported workload and walks its containers,
// giving each one its exact field path.
package podspec

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
)

// Shape describes where a kind keeps its pod template.
type Shape struct {
	// Template is the JSON path of the pod template (the object holding metadata and spec),
	// empty for a Pod, whose own metadata and spec are used.
	Template []string
}

// MetaPath is the dotted field path of the pod metadata, e.g. "spec.template.metadata".
func (s Shape) MetaPath() string { return join(s.Template, "metadata") }

// SpecPath is the dotted field path of the pod spec, e.g. "spec.template.spec".
func (s Shape) SpecPath() string { return join(s.Template, "spec") }

// SpecPointer is the JSON pointer (RFC 6901) of the pod spec, e.g. "/spec/template/spec".
func (s Shape) SpecPointer() []string { return append(append([]string{}, s.Template...), "spec") }

func join(prefix []string, last string) string {
	out := ""
	for _, p := range prefix {
		out += p + "."
	}
	return out + last
}

// Pod is the pod template of one object, decoded, with the paths needed to report on it.
type Pod struct {
	// GroupKind of the object that carries the template.
	GroupKind schema.GroupKind
	// TypeMeta is the object's own apiVersion and kind, as written. Decode goes by gk and
	// does not check them.
	TypeMeta TypeMeta
	// Object is the object's own metadata (name, namespace, labels), without managedFields.
	Object metav1.ObjectMeta
	// Meta is the pod template's metadata (for a Pod, the same as Object).
	Meta metav1.ObjectMeta
	// Spec is the pod spec.
	Spec corev1.PodSpec
	// Shape says where the template sits in the object.
	Shape Shape
	// HasTemplate is false when the kind allows an absent template (a ReplicationController
	// without spec.template); such an object has nothing to evaluate.
	HasTemplate bool
	// Present tells, for patches against the JSON the object came as, which members were
	// there where Spec cannot tell.
	Present Presence
}

// Presence records which members of a pod template were in its JSON (and not null) where the
// typed spec cannot tell: the spec itself and a container's resources decode to the same
// zero value whether present or not, and a null container to an empty one. A JSON Patch must
// add such a member when it is missing, and extend it when it is there.
type Presence struct {
	// Spec is set when the template has a spec.
	Spec bool
	// InitContainers, Containers and EphemeralContainers hold one entry per item of the
	// list of that name in the spec.
	InitContainers, Containers, EphemeralContainers []Item
}

// Item is what Presence records of one container.
type Item struct {
	// Null is set when the item is null rather than an object.
	Null bool
	// Resources is set when the container has a resources member.
	Resources bool
}

// sentAsTyped is the Presence of a spec that was encoded from its typed value: every member
// that is a struct is there.
func sentAsTyped(spec *corev1.PodSpec) Presence {
	withResources := func(n int) []Item {
		if n == 0 {
			return nil // an empty list is omitted
		}
		out := make([]Item, n)
		for i := range out {
			out[i].Resources = true
		}
		return out
	}
	return Presence{
		Spec:                true,
		InitContainers:      withResources(len(spec.InitContainers)),
		Containers:          withResources(len(spec.Containers)),
		EphemeralContainers: withResources(len(spec.EphemeralContainers)),
	}
}

// Name returns "Kind name" or "Kind generateName*" for messages.
func (p *Pod) Name() string {
	name := p.Object.Name
	if name == "" && p.Object.GenerateName != "" {
		name = p.Object.GenerateName + "*"
	}
	if name == "" {
		return p.GroupKind.Kind
	}
	return p.GroupKind.Kind + " " + name
}

// IsWindows reports whether the pod declares spec.os.name: windows.
func (p *Pod) IsWindows() bool { return p.Spec.OS != nil && p.Spec.OS.Name == corev1.Windows }

// SpecField returns the dotted path of a pod spec field, e.g. SpecField("hostNetwork").
func (p *Pod) SpecField(field string) string { return p.Shape.SpecPath() + "." + field }

// MetaField returns the dotted path of a pod metadata field.
func (p *Pod) MetaField(field string) string { return p.Shape.MetaPath() + "." + field }

// TypeMeta is an object's own apiVersion and kind, read in the same pass as the rest.
type TypeMeta struct {
	// APIVersion and Kind are "" when missing or null.
	APIVersion, Kind string
	// NotStrings is set when either is some other JSON value. Decode does not reject that:
	// it decodes by the kind it is given.
	NotStrings bool
}

// typeMeta reads TypeMeta's fields as Decode's structs embed them.
type typeMeta struct {
	APIVersion typeField `json:"apiVersion"`
	Kind       typeField `json:"kind"`
}

func (t *typeMeta) get() TypeMeta {
	return TypeMeta{APIVersion: t.APIVersion.s, Kind: t.Kind.s, NotStrings: t.APIVersion.notString || t.Kind.notString}
}

// typeField is a string member that may hold any JSON value without failing the decoding.
type typeField struct {
	s         string
	notString bool
}

func (f *typeField) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	if data[0] != '"' || kjson.UnmarshalCaseSensitivePreserveInts(data, &f.s) != nil {
		f.notString = true
	}
	return nil
}

// objectMeta is an object's metadata as Decode reads it: metav1.ObjectMeta without
// managedFields, which the apiserver adds to every object it sends (often as large as the pod
// spec) and which nothing in the engine reads. The outer field hides the embedded one of the
// same JSON name; its value is skipped, not decoded.
type objectMeta struct {
	metav1.ObjectMeta
	ManagedFields skipped `json:"managedFields"`
}

// skipped is a JSON value that is not decoded.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

// podSpec decodes a pod spec and records its Presence. Its container lists hide those of the
// embedded PodSpec.
type podSpec struct {
	corev1.PodSpec
	InitContainers      []*container                 `json:"initContainers"`
	Containers          []*container                 `json:"containers"`
	EphemeralContainers []*corev1.EphemeralContainer `json:"ephemeralContainers"`
}

// container decodes a container; its resources hide the embedded Container's.
type container struct {
	corev1.Container
	Resources *corev1.ResourceRequirements `json:"resources"`
}

// template is a corev1.PodTemplateSpec whose spec may be absent.
type template struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     *podSpec          `json:"spec"`
}

// set fills p's template from the decoded metadata and spec (nil when absent or null).
func (p *Pod) set(meta metav1.ObjectMeta, s *podSpec) {
	p.Meta, p.HasTemplate = meta, true
	if s == nil {
		return
	}
	p.Spec, p.Present.Spec = s.PodSpec, true
	p.Spec.InitContainers, p.Present.InitContainers = items(s.InitContainers, (*container).typed)
	p.Spec.Containers, p.Present.Containers = items(s.Containers, (*container).typed)
	p.Spec.EphemeralContainers, p.Present.EphemeralContainers = items(s.EphemeralContainers,
		func(c *corev1.EphemeralContainer) (corev1.EphemeralContainer, bool) { return *c, true }) // resources: a struct
}

// typed returns the container as corev1 has it, and whether it has a resources member.
func (c *container) typed() (corev1.Container, bool) {
	out := c.Container
	if c.Resources != nil {
		out.Resources = *c.Resources
	}
	return out, c.Resources != nil
}

// items returns a decoded list as corev1 has it, a null item as the zero value, with the
// Presence of each item; typed converts one item and tells whether it has resources.
func items[T, U any](in []*T, typed func(*T) (U, bool)) ([]U, []Item) {
	if in == nil {
		return nil, nil
	}
	out, present := make([]U, len(in)), make([]Item, len(in))
	for i, c := range in {
		if c == nil {
			present[i].Null = true
			continue
		}
		out[i], present[i].Resources = typed(c)
	}
	return out, present
}

// Decode decodes obj (JSON) as a gk and returns its pod template. ok is false when gk carries
// no pod template the engine knows. Decoding is case-sensitive, as the apiserver's.
func Decode(gk schema.GroupKind, obj []byte) (pod *Pod, ok bool, err error) {
	k, ok := byGroupKind[gk]
	if !ok {
		return nil, false, nil
	}
	pod = &Pod{GroupKind: gk, Shape: k.Shape}
	if err := k.decode(obj, pod); err != nil {
		return nil, true, decodeError(gk.Kind, err)
	}
	return pod, true, nil
}

// decoders read an object into pod, keyed by the path of its pod template (Shape.Template,
// dotted). Each kind decodes by the one of its own path: a kind whose template sits anywhere
// else has none, and the table does not load.
var decoders = map[string]func(obj []byte, pod *Pod) error{
	// A Pod: the object is its own template, always there.
	"": func(obj []byte, pod *Pod) error {
		var o struct {
			typeMeta
			Metadata objectMeta `json:"metadata"`
			Spec     *podSpec   `json:"spec"`
		}
		err := kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta, pod.Object = o.get(), o.Metadata.ObjectMeta
		pod.set(o.Metadata.ObjectMeta, o.Spec)
		return err
	},
	// A PodTemplate: its template is always there (an absent one is empty).
	"template": func(obj []byte, pod *Pod) error {
		var o struct {
			typeMeta
			Metadata objectMeta `json:"metadata"`
			Template template   `json:"template"`
		}
		err := kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta, pod.Object = o.get(), o.Metadata.ObjectMeta
		pod.set(o.Template.Metadata, o.Template.Spec)
		return err
	},
	"spec.template": func(obj []byte, pod *Pod) error {
		var o struct {
			typeMeta
			Metadata objectMeta `json:"metadata"`
			Spec     struct {
				Template *template `json:"template"`
			} `json:"spec"`
		}
		err := kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta, pod.Object = o.get(), o.Metadata.ObjectMeta
		if t := o.Spec.Template; t != nil {
			pod.set(t.Metadata, t.Spec)
		}
		return err
	},
	"spec.jobTemplate.spec.template": func(obj []byte, pod *Pod) error {
		var o struct {
			typeMeta
			Metadata objectMeta `json:"metadata"`
			Spec     struct {
				JobTemplate struct {
					Spec struct {
						Template *template `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		err := kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta, pod.Object = o.get(), o.Metadata.ObjectMeta
		if t := o.Spec.JobTemplate.Spec.Template; t != nil {
			pod.set(t.Metadata, t.Spec)
		}
		return err
	},
}
