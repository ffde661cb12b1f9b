package podspec

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// nest puts value at path in a JSON object: nest([a b], v) is {"a":{"b":v}}.
func nest(path []string, value string) string {
	for i := len(path) - 1; i >= 0; i-- {
		value = fmt.Sprintf(`{%q:%s}`, path[i], value)
	}
	return value
}

// TestDecodeFollowsTemplatePath: every kind finds its pod template at its own Shape, and only
// there: an object with the template at another kind's path has none of its containers.
func TestDecodeFollowsTemplatePath(t *testing.T) {
	const tmpl = `{"metadata":{"name":"web","annotations":{"a":"b"}},"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}`
	paths := map[string][]string{}
	for _, k := range All() {
		paths[strings.Join(k.Shape.Template, ".")] = k.Shape.Template
	}
	if len(paths) < 4 {
		t.Fatalf("only %d template paths: %v", len(paths), paths)
	}
	for _, k := range All() {
		for name, path := range paths {
			obj := nest(path, tmpl)
			pod, ok, err := Decode(k.GroupKind, []byte(obj))
			if err != nil || !ok {
				t.Fatalf("%s, template at %q: ok=%v, %v", k.Kind, name, ok, err)
			}
			found := len(pod.Spec.Containers) == 1 && pod.Spec.Containers[0].Image == "nginx:1.27" && pod.Meta.Annotations["a"] == "b"
			if own := slices.Equal(path, k.Shape.Template); found != own {
				t.Errorf("%s (template at %q) given its template at %q: found it %v, want %v", k.Kind, strings.Join(k.Shape.Template, "."), name, found, own)
			}
		}
	}
}

// TestTable: the kinds are unique by group/kind, by resource and by name (policy exemptions
// and audit counts name kinds without their group), and each is what the Kubernetes API
// calls it: the typed object and list the scheme registers for its group, version and kind.
func TestTable(t *testing.T) {
	names := map[string]bool{}
	resources := map[schema.GroupResource]bool{}
	for _, k := range All() {
		if names[k.Kind] || resources[k.GroupResource()] {
			t.Errorf("%s: kind or resource %s listed twice", k.GroupKind, k.GroupResource())
		}
		names[k.Kind], resources[k.GroupResource()] = true, true
		if got, ok := Lookup(k.GroupKind); !ok || got.Resource != k.Resource {
			t.Errorf("Lookup(%s) = %v, %v", k.GroupKind, got.Resource, ok)
		}
		if got, ok := ForResource(k.GroupResource()); !ok || got.GroupKind != k.GroupKind {
			t.Errorf("ForResource(%s) = %v, %v", k.GroupResource(), got.GroupKind, ok)
		}
		if s, ok := ShapeOf(k.GroupKind); !ok || !reflect.DeepEqual(s, k.Shape) {
			t.Errorf("ShapeOf(%s) = %v, %v", k.GroupKind, s, ok)
		}
		if strings.ToLower(k.Plural()) != k.Resource {
			t.Errorf("%s: plural %q, resource %q", k.GroupKind, k.Plural(), k.Resource)
		}
		obj := reflect.New(k.typed.object.Elem()).Interface().(runtime.Object)
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil || !slices.Contains(gvks, k.GroupVersion().WithKind(k.Kind)) {
			t.Errorf("%s: typed object %T is %v (%v), want %s", k.GroupKind, obj, gvks, err, k.GroupVersion().WithKind(k.Kind))
		}
		list := k.NewList()
		gvks, _, err = scheme.Scheme.ObjectKinds(list)
		if err != nil || !slices.Contains(gvks, k.GroupVersion().WithKind(k.Kind+"List")) {
			t.Errorf("%s: list %T is %v (%v)", k.GroupKind, list, gvks, err)
		}
		if items, ok := reflect.TypeOf(list).Elem().FieldByName("Items"); !ok || items.Type.Elem() != k.typed.object.Elem() {
			t.Errorf("%s: list %T does not hold %v", k.GroupKind, list, k.typed.object)
		}
	}
	if !slices.Equal(Kinds(), func() []schema.GroupKind {
		var out []schema.GroupKind
		for _, k := range All() {
			out = append(out, k.GroupKind)
		}
		return out
	}()) {
		t.Errorf("Kinds() = %v", Kinds())
	}
	for _, gk := range []schema.GroupKind{{Kind: "Service"}, {Group: "apps", Kind: "Pod"}, {Kind: "pod"}} {
		if _, ok := Lookup(gk); ok {
			t.Errorf("Lookup(%s) ok", gk)
		}
	}
	if _, ok := ForResource(schema.GroupResource{Group: "apps", Resource: "pods"}); ok {
		t.Error("ForResource(pods.apps) ok")
	}
}

// TestOwnersFirst: the order the audit reads kinds in, every kind once, each after the kinds
// that control its objects; all but Pods and PodTemplates control others.
func TestOwnersFirst(t *testing.T) {
	var got []string
	for _, k := range OwnersFirst() {
		got = append(got, k.Kind)
	}
	want := []string{"CronJob", "Deployment", "StatefulSet", "DaemonSet", "ReplicationController", "PodTemplate", "Job", "ReplicaSet", "Pod"}
	if !slices.Equal(got, want) {
		t.Errorf("OwnersFirst() = %v, want %v", got, want)
	}
	if len(got) != len(All()) {
		t.Errorf("OwnersFirst() has %d kinds, All() %d", len(got), len(All()))
	}
	for _, k := range OwnersFirst() {
		if want := k.Kind != "Pod" && k.Kind != "PodTemplate"; k.Controls != want {
			t.Errorf("%s: Controls %v", k.Kind, k.Controls)
		}
	}
}

func TestPlural(t *testing.T) {
	for _, c := range []struct{ kind, resource, want string }{
		{"CronJob", "cronjobs", "CronJobs"},
		{"Pod", "pods", "Pods"},
		{"ReplicationController", "replicationcontrollers", "ReplicationControllers"},
		{"NetworkPolicy", "networkpolicies", "NetworkPolicies"},
		{"Endpoints", "endpoints", "Endpoints"},
	} {
		k := Kind{GroupKind: schema.GroupKind{Kind: c.kind}, Resource: c.resource}
		if got := k.Plural(); got != c.want {
			t.Errorf("Plural of %s/%s = %q, want %q", c.kind, c.resource, got, c.want)
		}
	}
}

func TestNewObject(t *testing.T) {
	for _, k := range All() {
		o := k.NewObject()
		if got := reflect.TypeOf(o).Elem().Name(); got != k.Kind {
			t.Errorf("%s: NewObject is a %s", k.GroupKind, got)
		}
	}
}
