package podspec

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// FromObject returns the pod template of a typed object read from the API (a *corev1.Pod,
// *appsv1.Deployment, ... of the kinds Kinds lists), as Decode would from its JSON. ok is
// false for any other type. The Pod shares obj's metadata and spec: read only. Its
// TypeMeta is the group/version a typed object of that kind is served at.
func FromObject(obj runtime.Object) (pod *Pod, ok bool) {
	k, ok := byType[reflect.TypeOf(obj)]
	if !ok {
		return nil, false
	}
	meta := *obj.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
	meta.ManagedFields = nil
	pod = &Pod{
		GroupKind: k.GroupKind, Shape: k.Shape,
		TypeMeta: TypeMeta{APIVersion: k.GroupVersion().String(), Kind: k.Kind}, Object: meta,
	}
	if template := k.typed.template(obj); template != nil {
		pod.Meta, pod.Spec, pod.HasTemplate = template.ObjectMeta, template.Spec, true
		pod.Present = sentAsTyped(&pod.Spec)
		if len(k.Shape.Template) == 0 {
			pod.Meta = meta // a Pod's own metadata is its template's
		}
	}
	return pod, true
}
