package podspec

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestDecodeSkipsManagedFields: managedFields, which the apiserver adds to every object, are
// not decoded (nothing reads them), while the rest of the metadata is.
func TestDecodeSkipsManagedFields(t *testing.T) {
	const managed = `"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1",` +
		`"time":"2026-11-24T06:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{}}}}}}]`
	cases := []struct {
		gk  schema.GroupKind
		obj string
	}{
		{schema.GroupKind{Kind: "Pod"}, `{"metadata":{"name":"web","namespace":"team-a","annotations":{"a":"b"},` + managed + `},` +
			`"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}`},
		{schema.GroupKind{Kind: "PodTemplate"}, `{"metadata":{"name":"web","namespace":"team-a",` + managed + `},` +
			`"template":{"metadata":{"annotations":{"a":"b"}},"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}}`},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, `{"metadata":{"name":"web","namespace":"team-a",` + managed + `},` +
			`"spec":{"template":{"metadata":{"annotations":{"a":"b"}},"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}}}`},
		{schema.GroupKind{Group: "batch", Kind: "CronJob"}, `{"metadata":{"name":"web","namespace":"team-a",` + managed + `},` +
			`"spec":{"jobTemplate":{"spec":{"template":{"metadata":{"annotations":{"a":"b"}},"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}}}}}`},
		// Not decoded, so not an error either: the apiserver never sends such an object.
		{schema.GroupKind{Kind: "Pod"}, `{"metadata":{"name":"web","namespace":"team-a","annotations":{"a":"b"},"managedFields":"x"},` +
			`"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}`},
	}
	for _, c := range cases {
		pod, ok, err := Decode(c.gk, []byte(c.obj))
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v, %v", c.gk.Kind, ok, err)
		}
		if pod.Object.Name != "web" || pod.Object.Namespace != "team-a" || pod.Meta.Annotations["a"] != "b" ||
			len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image != "nginx:1.27" {
			t.Errorf("%s: decoded %+v %+v %+v", c.gk.Kind, pod.Object, pod.Meta, pod.Spec.Containers)
		}
		if pod.Object.ManagedFields != nil || pod.Meta.ManagedFields != nil {
			t.Errorf("%s: managedFields decoded", c.gk.Kind)
		}
	}
}

// TestDecodeTypeMeta: the object's apiVersion and kind are read in the decoding pass, as
// written; other JSON values there do not fail the decoding.
func TestDecodeTypeMeta(t *testing.T) {
	spec := `"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}`
	cases := []struct {
		obj  string
		want TypeMeta
	}{
		{`{"apiVersion":"v1","kind":"Pod",` + spec + `}`, TypeMeta{APIVersion: "v1", Kind: "Pod"}},
		{`{` + spec + `}`, TypeMeta{}},
		{`{"apiVersion":null,"kind":null,` + spec + `}`, TypeMeta{}},
		{`{"apiVersion":"apps/v1","kind":"Deployment",` + spec + `}`, TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}},
		{`{"apiVersion":"v\u0031","kind":"Pod",` + spec + `}`, TypeMeta{APIVersion: "v1", Kind: "Pod"}},
		{`{"apiVersion":1,"kind":"Pod",` + spec + `}`, TypeMeta{Kind: "Pod", NotStrings: true}},
		{`{"apiVersion":"v1","kind":["Pod"],` + spec + `}`, TypeMeta{APIVersion: "v1", NotStrings: true}},
		{`{"ApiVersion":"v1","Kind":"Pod",` + spec + `}`, TypeMeta{}}, // case-sensitive, as the apiserver
	}
	for _, c := range cases {
		pod, _, err := Decode(schema.GroupKind{Kind: "Pod"}, []byte(c.obj))
		if err != nil {
			t.Fatalf("%s: %v", c.obj, err)
		}
		if pod.TypeMeta != c.want || len(pod.Spec.Containers) != 1 {
			t.Errorf("%s: %+v, want %+v", c.obj, pod.TypeMeta, c.want)
		}
	}
	for _, gk := range []schema.GroupKind{{Kind: "PodTemplate"}, {Group: "apps", Kind: "Deployment"}, {Group: "batch", Kind: "CronJob"}} {
		pod, _, err := Decode(gk, []byte(`{"apiVersion":"x/v1","kind":"`+gk.Kind+`"}`))
		if err != nil || pod.TypeMeta != (TypeMeta{APIVersion: "x/v1", Kind: gk.Kind}) {
			t.Errorf("%s: %+v, %v", gk, pod, err)
		}
	}
}

// TestDecodePresence: Present tells which members were in the JSON where the typed spec
// cannot: the spec itself, a container's resources, and null containers.
func TestDecodePresence(t *testing.T) {
	deployment := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	cases := []struct {
		gk   schema.GroupKind
		obj  string
		want Presence
	}{
		{schema.GroupKind{Kind: "Pod"}, `{"metadata":{"name":"p"}}`, Presence{}},
		{schema.GroupKind{Kind: "Pod"}, `{"spec":null}`, Presence{}},
		{schema.GroupKind{Kind: "Pod"}, `{"spec":{}}`, Presence{Spec: true}},
		{deployment, `{"spec":{"template":{"metadata":{"name":"t"}}}}`, Presence{}},
		{schema.GroupKind{Kind: "PodTemplate"}, `{"template":{"spec":{"containers":[]}}}`, Presence{Spec: true, Containers: []Item{}}},
		{deployment, `{"spec":{"template":{"spec":{` +
			`"initContainers":[{"name":"i","resources":{}}],` +
			`"containers":[{"name":"a"},null,{"name":"b","resources":null},{"name":"c","resources":{"limits":{"cpu":"1"}}}],` +
			`"ephemeralContainers":[null,{"name":"e"}]}}}}`,
			Presence{Spec: true,
				InitContainers:      []Item{{Resources: true}},
				Containers:          []Item{{}, {Null: true}, {}, {Resources: true}},
				EphemeralContainers: []Item{{Null: true}, {Resources: true}}}},
		{schema.GroupKind{Group: "batch", Kind: "CronJob"}, `{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","resources":{}}]}}}}}}`,
			Presence{Spec: true, Containers: []Item{{Resources: true}}}},
	}
	for _, c := range cases {
		pod, _, err := Decode(c.gk, []byte(c.obj))
		if err != nil {
			t.Fatalf("%s: %v", c.obj, err)
		}
		if !reflect.DeepEqual(pod.Present, c.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", c.obj, pod.Present, c.want)
		}
		// The typed spec is as the plain corev1 types decode it.
		if n := len(pod.Spec.Containers); n != len(c.want.Containers) {
			t.Errorf("%s: %d containers", c.obj, n)
		}
	}
	pod, _, err := Decode(deployment, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"1"}}},null]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := pod.Spec.Containers[0].Resources.Limits.Cpu().String(); got != "1" || pod.Spec.Containers[1].Name != "" {
		t.Errorf("containers decoded as %+v", pod.Spec.Containers)
	}
}

func TestContainerDescribe(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &Pod{Shape: Shape{}}
	pod.Spec.InitContainers = []corev1.Container{{Name: "setup"}, {Name: "proxy", RestartPolicy: &always}, {}}
	pod.Spec.Containers = []corev1.Container{{Name: "app"}, {}}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
	var got []string
	pod.Containers(func(c Container) bool {
		got = append(got, c.Describe())
		return true
	})
	want := []string{
		`init container "setup"`, `sidecar container "proxy"`, `init container #2 (unnamed)`,
		`container "app"`, `container #1 (unnamed)`, `ephemeral container "debug"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
