package server

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPullSecretsOnly: the ServiceAccount cache keeps what a lookup reads (the name and the
// imagePullSecrets) and nothing else; other objects pass unchanged.
func TestPullSecretsOnly(t *testing.T) {
	sa := &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", Name: "builder", UID: "u1", ResourceVersion: "7",
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
			Labels:        map[string]string{"team": "shop"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Secrets:          []corev1.ObjectReference{{Name: "builder-token"}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
	}
	got, err := pullSecretsOnly(sa)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Namespace: "shop", Name: "builder", UID: "u1", ResourceVersion: "7"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry"}}
	if got, err := pullSecretsOnly(other); err != nil || got != any(other) {
		t.Errorf("a Secret came out as %+v, %v; want it unchanged", got, err)
	}
}
