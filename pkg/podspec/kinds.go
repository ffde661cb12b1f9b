package podspec

import (
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kind is one kind of object that carries a pod template: where the apiserver serves it,
// where its template sits, and how its typed objects are read.
type Kind struct {
	schema.GroupKind
	// Version is the version Bulwark intercepts and the audit reads ("v1"). The template
	// sits at the same path in every served version.
	Version string
	// Resource is the plural the apiserver serves the kind as ("cronjobs").
	Resource string
	// Subresources of Resource whose requests carry the whole object and are evaluated too
	// (a Pod's "ephemeralcontainers").
	Subresources []string
	// Shape is where the pod template sits.
	Shape Shape
	// Controls is set when objects of the kind control objects of the kinds listed after it
	// in OwnersFirst (a Deployment its ReplicaSets, a ReplicaSet its Pods).
	Controls bool

	// readOrder is the position in OwnersFirst.
	readOrder int
	typed     typed
	// decode reads an object of the kind, chosen by Shape (decoders).
	decode func(obj []byte, pod *Pod) error
}

// ObjectList is a typed list of one kind, as a client fills it.
type ObjectList interface {
	runtime.Object
	metav1.ListInterface
}

// typed is how a kind's typed objects (from a client) are recognised and read.
type typed struct {
	object   reflect.Type // *appsv1.Deployment
	template func(runtime.Object) *corev1.PodTemplateSpec
	newList  func() ObjectList
}

// typedAs describes the typed objects T whose lists are L; template returns an object's pod
// template, or nil when it has none.
func typedAs[L any, PL interface {
	*L
	ObjectList
}, T runtime.Object](template func(T) *corev1.PodTemplateSpec) typed {
	return typed{
		object:   reflect.TypeFor[T](),
		template: func(o runtime.Object) *corev1.PodTemplateSpec { return template(o.(T)) },
		newList:  func() ObjectList { return PL(new(L)) },
	}
}

// table lists every kind the engine evaluates, in the order the webhook rules and the RBAC of
// the audit name them (by API group). The audit reads them in another order, owners first
// (readOrder): an object is counted against its controller only when that was read before it.
var table = []Kind{
	{
		GroupKind: schema.GroupKind{Group: "", Kind: "Pod"}, Version: "v1", Resource: "pods",
		Subresources: []string{"ephemeralcontainers"}, readOrder: 8,
		typed: typedAs[corev1.PodList](func(o *corev1.Pod) *corev1.PodTemplateSpec {
			return &corev1.PodTemplateSpec{Spec: o.Spec} // the Pod's own metadata is its template's
		}),
	},
	{
		GroupKind: schema.GroupKind{Group: "", Kind: "PodTemplate"}, Version: "v1", Resource: "podtemplates",
		Shape: Shape{Template: []string{"template"}}, readOrder: 5,
		typed: typedAs[corev1.PodTemplateList](func(o *corev1.PodTemplate) *corev1.PodTemplateSpec { return &o.Template }),
	},
	{
		GroupKind: schema.GroupKind{Group: "", Kind: "ReplicationController"}, Version: "v1", Resource: "replicationcontrollers",
		Shape: podTemplate, Controls: true, readOrder: 4,
		typed: typedAs[corev1.ReplicationControllerList](func(o *corev1.ReplicationController) *corev1.PodTemplateSpec { return o.Spec.Template }),
	},
	{
		GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Version: "v1", Resource: "deployments",
		Shape: podTemplate, Controls: true, readOrder: 1,
		typed: typedAs[appsv1.DeploymentList](func(o *appsv1.Deployment) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	},
	{
		GroupKind: schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, Version: "v1", Resource: "replicasets",
		Shape: podTemplate, Controls: true, readOrder: 7,
		typed: typedAs[appsv1.ReplicaSetList](func(o *appsv1.ReplicaSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	},
	{
		GroupKind: schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, Version: "v1", Resource: "statefulsets",
		Shape: podTemplate, Controls: true, readOrder: 2,
		typed: typedAs[appsv1.StatefulSetList](func(o *appsv1.StatefulSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	},
	{
		GroupKind: schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, Version: "v1", Resource: "daemonsets",
		Shape: podTemplate, Controls: true, readOrder: 3,
		typed: typedAs[appsv1.DaemonSetList](func(o *appsv1.DaemonSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	},
	{
		GroupKind: schema.GroupKind{Group: "batch", Kind: "Job"}, Version: "v1", Resource: "jobs",
		Shape: podTemplate, Controls: true, readOrder: 6,
		typed: typedAs[batchv1.JobList](func(o *batchv1.Job) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	},
	{
		GroupKind: schema.GroupKind{Group: "batch", Kind: "CronJob"}, Version: "v1", Resource: "cronjobs",
		Shape: Shape{Template: []string{"spec", "jobTemplate", "spec", "template"}}, Controls: true, readOrder: 0,
		typed: typedAs[batchv1.CronJobList](func(o *batchv1.CronJob) *corev1.PodTemplateSpec { return &o.Spec.JobTemplate.Spec.Template }),
	},
}

var podTemplate = Shape{Template: []string{"spec", "template"}}

// The table's indexes.
var (
	byGroupKind = map[schema.GroupKind]*Kind{}
	byResource  = map[schema.GroupResource]*Kind{}
	byType      = map[reflect.Type]*Kind{}
	ownersFirst = make([]Kind, len(table))
)

func init() {
	for i := range table {
		k := &table[i]
		path := strings.Join(k.Shape.Template, ".")
		decode, ok := decoders[path]
		if !ok {
			panic(fmt.Sprintf("podspec: %s keeps its pod template at %q, which no decoder reads", k.GroupKind, path))
		}
		k.decode = decode
		byGroupKind[k.GroupKind] = k
		byResource[k.GroupResource()] = k
		byType[k.typed.object] = k
		ownersFirst[k.readOrder] = *k
	}
}

// GroupResource is the resource the apiserver serves the kind as.
func (k Kind) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: k.Group, Resource: k.Resource}
}

// GroupVersion is the group and version the kind is intercepted and read at.
func (k Kind) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: k.Group, Version: k.Version}
}

// Plural is the resource written with the kind's capitals, for people: "CronJobs".
func (k Kind) Plural() string {
	b := []byte(k.Resource)
	for i := 0; i < len(b) && i < len(k.Kind); i++ {
		c := k.Kind[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			break
		}
		b[i] = k.Kind[i]
	}
	return string(b)
}

// NewObject returns an empty typed object of the kind (a *appsv1.Deployment), to decode into.
func (k Kind) NewObject() runtime.Object {
	return reflect.New(k.typed.object.Elem()).Interface().(runtime.Object)
}

// NewList returns an empty typed list of the kind, for a client to fill.
func (k Kind) NewList() ObjectList { return k.typed.newList() }

// All lists every kind the engine evaluates, grouped by API group, in the order the webhook
// rules name them. The kinds share their slices with the table: read only.
func All() []Kind { return append([]Kind(nil), table...) }

// OwnersFirst lists every kind the engine evaluates, those whose objects control others
// before the kinds they control: CronJobs before Jobs, Deployments before ReplicaSets,
// Pods last. Read only, as All.
func OwnersFirst() []Kind { return append([]Kind(nil), ownersFirst...) }

// Lookup returns the kind gk, and whether the engine evaluates it.
func Lookup(gk schema.GroupKind) (Kind, bool) {
	k, ok := byGroupKind[gk]
	if !ok {
		return Kind{}, false
	}
	return *k, true
}

// ForResource returns the kind served as gr, and whether there is one the engine evaluates.
func ForResource(gr schema.GroupResource) (Kind, bool) {
	k, ok := byResource[gr]
	if !ok {
		return Kind{}, false
	}
	return *k, true
}

// ShapeOf reports where gk keeps its pod template, and whether the engine handles gk at all.
func ShapeOf(gk schema.GroupKind) (Shape, bool) {
	k, ok := byGroupKind[gk]
	if !ok {
		return Shape{}, false
	}
	return k.Shape, true
}

// Kinds lists every group/kind the engine handles, in the order of All.
func Kinds() []schema.GroupKind {
	out := make([]schema.GroupKind, len(table))
	for i, k := range table {
		out[i] = k.GroupKind
	}
	return out
}
