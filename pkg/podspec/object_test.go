package podspec

import (
	"encoding/json"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// FromObject must give what Decode gives for the same object's JSON, for every kind.
func TestFromObjectMatchesDecode(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
	}
	objs := []runtime.Object{
		&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: meta, Spec: tmpl.Spec},
		&corev1.PodTemplate{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodTemplate"}, ObjectMeta: meta, Template: tmpl},
		&corev1.ReplicationController{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"}, ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Template: &tmpl}},
		&corev1.ReplicationController{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"}, ObjectMeta: meta},
		&appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: tmpl}},
		&appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}, ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Template: tmpl}},
		&appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: tmpl}},
		&appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"}, ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: tmpl}},
		&batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}},
		&batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, ObjectMeta: meta,
			Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
	}
	covered := map[schema.GroupKind]bool{}
	for _, obj := range objs {
		got, ok := FromObject(obj)
		if !ok {
			t.Fatalf("FromObject(%T) not handled", obj)
		}
		covered[got.GroupKind] = true
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		want, ok, err := Decode(got.GroupKind, data)
		if err != nil || !ok {
			t.Fatalf("Decode %s: ok=%v err=%v", got.GroupKind, ok, err)
		}
		// Decode keeps nil slices that JSON round-trips make empty, and vice versa; compare
		// through JSON.
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("%s (template %v):\nFromObject %s\nDecode     %s", got.GroupKind, want.HasTemplate, gj, wj)
		}
	}
	for _, gk := range Kinds() {
		if !covered[gk] {
			t.Errorf("%s: no object of the kind here", gk)
		}
	}
	if _, ok := FromObject(&corev1.ConfigMap{}); ok {
		t.Error("FromObject(ConfigMap) ok, want not handled")
	}
	if p, _ := FromObject(objs[0]); p.Object.ManagedFields != nil || !reflect.DeepEqual(p.Object.Labels, meta.Labels) {
		t.Errorf("Pod metadata: managedFields %v, labels %v", p.Object.ManagedFields, p.Object.Labels)
	}
}
