package integration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestImageVolumesAreVetted: an image volume's reference counts for image-registry as a
// container's image does. An allowed image that mounts and runs a disallowed one's files was
// the way around the allow-list.
func TestImageVolumesAreVetted(t *testing.T) {
	cs, w := clientWithWarnings(t)
	ns := newNamespace(t, cs)
	usePolicy(t, `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
checks:
  image-registry:
    allowedRegistries: [registry.example.com]
`)
	pod := func(ref string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "payload"},
			Spec: podSpec(func(s *corev1.PodSpec) {
				s.Containers[0].Image = "registry.example.com/app:1.0"
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "payload", MountPath: "/payload"}}
				s.Volumes = []corev1.Volume{{Name: "payload", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: ref}}}}
			}),
		}
	}
	err, _ := dryRunPod(t, cs, w, ns, pod("evil.example.net/payload:1.0"))
	if err == nil {
		t.Fatal("a pod mounting an image volume from outside the allowed registries was admitted")
	}
	for _, want := range []string{`[image-registry] spec.volumes[0].image.reference: image volume "payload" uses image "evil.example.net/payload:1.0"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the denial lacks %q:\n%v", want, err)
		}
	}
	if err, _ := dryRunPod(t, cs, w, ns, pod("registry.example.com/payload:1.0")); err != nil {
		t.Errorf("an image volume from the allowed registry was denied: %v", err)
	}
}
