package podspec

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// FromObject returns the pod template of a typed object read from the API (a *corev1.Pod,
// *appsv1.Deployment, ... of the kinds Kinds lists), as Decode would from its JSON. ok is
// false for any other type. The Pod shares obj's metadata and spec: read only. Its
// TypeMeta is the group/version a typed object of that kind is served at.
func FromObject(obj runtime.Object) (pod *Pod, ok bool) {
	var (
		gv       schema.GroupVersion
		kind     string
		template *corev1.PodTemplateSpec
	)
	switch o := obj.(type) {
	case *corev1.Pod:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = corev1.SchemeGroupVersion, "Pod", &corev1.PodTemplateSpec{Spec: o.Spec}
	case *corev1.PodTemplate:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = corev1.SchemeGroupVersion, "PodTemplate", &o.Template
	case *corev1.ReplicationController:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = corev1.SchemeGroupVersion, "ReplicationController", o.Spec.Template
	case *appsv1.Deployment:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = appsv1.SchemeGroupVersion, "Deployment", &o.Spec.Template
	case *appsv1.ReplicaSet:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = appsv1.SchemeGroupVersion, "ReplicaSet", &o.Spec.Template
	case *appsv1.StatefulSet:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = appsv1.SchemeGroupVersion, "StatefulSet", &o.Spec.Template
	case *appsv1.DaemonSet:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = appsv1.SchemeGroupVersion, "DaemonSet", &o.Spec.Template
	case *batchv1.Job:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = batchv1.SchemeGroupVersion, "Job", &o.Spec.Template
	case *batchv1.CronJob:
		pod = &Pod{Object: o.ObjectMeta}
		gv, kind, template = batchv1.SchemeGroupVersion, "CronJob", &o.Spec.JobTemplate.Spec.Template
	default:
		return nil, false
	}
	pod.GroupKind = gv.WithKind(kind).GroupKind()
	pod.Shape = shapes[pod.GroupKind]
	pod.TypeMeta = TypeMeta{APIVersion: gv.String(), Kind: kind}
	pod.Object.ManagedFields = nil
	switch {
	case pod.GroupKind.Kind == "Pod":
		pod.Meta, pod.Spec, pod.HasTemplate = pod.Object, template.Spec, true
	case template != nil:
		pod.Meta, pod.Spec, pod.HasTemplate = template.ObjectMeta, template.Spec, true
	}
	return pod, true
}
