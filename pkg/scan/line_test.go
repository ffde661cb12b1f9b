package scan

import (
	"strings"
	"testing"
)

func TestLineOf(t *testing.T) {
	t.Chdir(testdata)
	multi, err := Read([]string{"read/multi.yaml", "read/list.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inline, err := Read([]string{"-"}, strings.NewReader(`apiVersion: v1
kind: Pod
metadata:
  name: x
  annotations:
    container.apparmor.security.beta.kubernetes.io/app: unconfined
defaults: &defaults
  image: busybox:1.36
  securityContext:
    privileged: true
spec:
  containers:
    - name: app
      <<: *defaults
      resources:
        limits:
          example.com/gpu: 1
          cpu: 1
`))
	if err != nil {
		t.Fatal(err)
	}
	deploy, pod, listPod, mixed := multi[0], multi[2], multi[4], inline[0]
	tests := []struct {
		name  string
		doc   *Document
		field string
		want  int
	}{
		{"present", deploy, "spec.template.spec.hostNetwork", 14},
		{"present in a container", deploy, "spec.template.spec.containers[1].securityContext.privileged", 21},
		{"container item", deploy, "spec.template.spec.containers[1]", 18},
		{"absent leaf: its parent", deploy, "spec.template.spec.containers[0].securityContext.runAsNonRoot", 16},
		{"absent list: the spec", deploy, "spec.template.spec.volumes[0].hostPath", 13},
		{"index out of range: the list", deploy, "spec.template.spec.containers[5].image", 15},
		{"index into a mapping: the mapping", deploy, "spec.template.spec[0]", 13},
		{"absent at top: the object", deploy, "status.phase", 2},
		{"empty path: the object", deploy, "", 2},
		{"later document", pod, "spec.containers[0].image", 40},
		{"List item", listPod, "spec.hostNetwork", 15},
		{"absent in a List item: the item", listPod, "metadata.annotations[x]", 12},
		{"bracketed key with dots", mixed, "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]", 6},
		{"quoted bracketed key", mixed, `metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]`, 6},
		{"dotted key without brackets", mixed, "spec.containers[0].resources.limits.example.com/gpu", 17},
		{"plain key after a dotted one", mixed, "spec.containers[0].resources.limits.cpu", 18},
		{"absent dotted key", mixed, "spec.containers[0].resources.limits.example.org/gpu", 16},
		{"merged key: where it is written", mixed, "spec.containers[0].securityContext.privileged", 10},
		{"explicit key next to a merge", mixed, "spec.containers[0].name", 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LineOf(tt.doc, tt.field); got != tt.want {
				t.Errorf("LineOf(%s, %q) = %d, want %d", tt.doc.Where(), tt.field, got, tt.want)
			}
		})
	}
	if got := LineOf(&Document{Line: 7}, "spec"); got != 7 {
		t.Errorf("without a node: got %d, want 7", got)
	}
}
