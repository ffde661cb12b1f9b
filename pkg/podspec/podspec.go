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

var (
	podTemplate     = Shape{Template: []string{"spec", "template"}}
	cronJobTemplate = Shape{Template: []string{"spec", "jobTemplate", "spec", "template"}}
)

// shapes lists every kind the engine evaluates. The version is deliberately not part of the
// key: all served versions of these kinds keep the pod template at the same path.
var shapes = map[schema.GroupKind]Shape{
	{Group: "", Kind: "Pod"}:                   {},
	{Group: "", Kind: "PodTemplate"}:           {Template: []string{"template"}},
	{Group: "", Kind: "ReplicationController"}: podTemplate,
	{Group: "apps", Kind: "Deployment"}:        podTemplate,
	{Group: "apps", Kind: "ReplicaSet"}:        podTemplate,
	{Group: "apps", Kind: "StatefulSet"}:       podTemplate,
	{Group: "apps", Kind: "DaemonSet"}:         podTemplate,
	{Group: "batch", Kind: "Job"}:              podTemplate,
	{Group: "batch", Kind: "CronJob"}:          cronJobTemplate,
}

// ShapeOf reports where gk keeps its pod template, and whether the engine handles gk at all.
func ShapeOf(gk schema.GroupKind) (Shape, bool) {
	s, ok := shapes[gk]
	return s, ok
}

// Kinds lists every group/kind the engine handles.
func Kinds() []schema.GroupKind {
	out := make([]schema.GroupKind, 0, len(shapes))
	for gk := range shapes {
		out = append(out, gk)
	}
	return out
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

// Decode decodes obj (JSON) as a gk and returns its pod template. ok is false when gk carries
// no pod template the engine knows. Decoding is case-sensitive, as the apiserver's.
func Decode(gk schema.GroupKind, obj []byte) (pod *Pod, ok bool, err error) {
	shape, ok := shapes[gk]
	if !ok {
		return nil, false, nil
	}
	pod = &Pod{GroupKind: gk, Shape: shape}
	var decodeErr error
	switch len(shape.Template) {
	case 0: // Pod
		var o struct {
			typeMeta
			Metadata objectMeta     `json:"metadata"`
			Spec     corev1.PodSpec `json:"spec"`
		}
		decodeErr = kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta = o.get()
		pod.Object, pod.Meta, pod.Spec, pod.HasTemplate = o.Metadata.ObjectMeta, o.Metadata.ObjectMeta, o.Spec, true
	case 1: // PodTemplate
		var o struct {
			typeMeta
			Metadata objectMeta             `json:"metadata"`
			Template corev1.PodTemplateSpec `json:"template"`
		}
		decodeErr = kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta = o.get()
		pod.Object, pod.Meta, pod.Spec, pod.HasTemplate = o.Metadata.ObjectMeta, o.Template.ObjectMeta, o.Template.Spec, true
	case 2: // spec.template
		var o struct {
			typeMeta
			Metadata objectMeta `json:"metadata"`
			Spec     struct {
				Template *corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		decodeErr = kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta, pod.Object = o.get(), o.Metadata.ObjectMeta
		if t := o.Spec.Template; t != nil {
			pod.Meta, pod.Spec, pod.HasTemplate = t.ObjectMeta, t.Spec, true
		}
	default: // CronJob: spec.jobTemplate.spec.template
		var o struct {
			typeMeta
			Metadata objectMeta `json:"metadata"`
			Spec     struct {
				JobTemplate struct {
					Spec struct {
						Template *corev1.PodTemplateSpec `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		decodeErr = kjson.UnmarshalCaseSensitivePreserveInts(obj, &o)
		pod.TypeMeta, pod.Object = o.get(), o.Metadata.ObjectMeta
		if t := o.Spec.JobTemplate.Spec.Template; t != nil {
			pod.Meta, pod.Spec, pod.HasTemplate = t.ObjectMeta, t.Spec, true
		}
	}
	if decodeErr != nil {
		return nil, true, decodeError(gk.Kind, decodeErr)
	}
	return pod, true, nil
}
