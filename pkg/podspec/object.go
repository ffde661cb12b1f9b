package podspec

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		meta     metav1.ObjectMeta
		template *corev1.PodTemplateSpec
	)
	switch o := obj.(type) {
	case *corev1.Pod:
		// A Pod's own metadata is its template's.
		gv, kind, meta, template = corev1.SchemeGroupVersion, "Pod", o.ObjectMeta, &corev1.PodTemplateSpec{Spec: o.Spec}
	case *corev1.PodTemplate:
		gv, kind, meta, template = corev1.SchemeGroupVersion, "PodTemplate", o.ObjectMeta, &o.Template
	case *corev1.ReplicationController:
		gv, kind, meta, template = corev1.SchemeGroupVersion, "ReplicationController", o.ObjectMeta, o.Spec.Template
	case *appsv1.Deployment:
		gv, kind, meta, template = appsv1.SchemeGroupVersion, "Deployment", o.ObjectMeta, &o.Spec.Template
	case *appsv1.ReplicaSet:
		gv, kind, meta, template = appsv1.SchemeGroupVersion, "ReplicaSet", o.ObjectMeta, &o.Spec.Template
	case *appsv1.StatefulSet:
		gv, kind, meta, template = appsv1.SchemeGroupVersion, "StatefulSet", o.ObjectMeta, &o.Spec.Template
	case *appsv1.DaemonSet:
		gv, kind, meta, template = appsv1.SchemeGroupVersion, "DaemonSet", o.ObjectMeta, &o.Spec.Template
	case *batchv1.Job:
		gv, kind, meta, template = batchv1.SchemeGroupVersion, "Job", o.ObjectMeta, &o.Spec.Template
	case *batchv1.CronJob:
		gv, kind, meta, template = batchv1.SchemeGroupVersion, "CronJob", o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template
	default:
		return nil, false
	}
	meta.ManagedFields = nil
	gk := gv.WithKind(kind).GroupKind()
	pod = &Pod{GroupKind: gk, Shape: shapes[gk], TypeMeta: TypeMeta{APIVersion: gv.String(), Kind: kind}, Object: meta}
	if template != nil {
		pod.Meta, pod.Spec, pod.HasTemplate = template.ObjectMeta, template.Spec, true
		pod.Present = sentAsTyped(&pod.Spec)
		if kind == "Pod" {
			pod.Meta = meta
		}
	}
	return pod, true
}
