package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// objects is a rendered install, in order.
type objects []*unstructured.Unstructured

// parse decodes a multi-document YAML stream; empty documents are skipped.
func parse(t *testing.T, data []byte) objects {
	t.Helper()
	var out objects
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("parsing the rendered YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// id names an object as kubectl does: kind.group/name, with its namespace.
func id(o *unstructured.Unstructured) string {
	gk := o.GroupVersionKind().GroupKind()
	s := strings.ToLower(gk.Kind)
	if gk.Group != "" {
		s += "." + gk.Group
	}
	s += "/" + o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		s = ns + " " + s
	}
	return s
}

func (objs objects) ids() []string {
	var out []string
	for _, o := range objs {
		out = append(out, id(o))
	}
	sort.Strings(out)
	return out
}

// get returns the object of that kind and name, failing the test when there is not exactly one.
func (objs objects) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q, found %d among %v", kind, name, len(found), objs.ids())
	}
	return found[0]
}

// byID returns the object with that id, or nil.
func (objs objects) byID(i string) *unstructured.Unstructured {
	for _, o := range objs {
		if id(o) == i {
			return o
		}
	}
	return nil
}

// without returns the objects whose API group is not group.
func (objs objects) without(group string) objects {
	var out objects
	for _, o := range objs {
		if o.GroupVersionKind().Group != group {
			out = append(out, o)
		}
	}
	return out
}

// yamlOf is the objects as a YAML stream, for kubectl apply -f -.
func (objs objects) yaml(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.Bytes()
}

// typed converts o into into, failing on any field the Go type does not know.
func typed(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s: %v", id(o), err)
	}
}

// diff lists the paths where a and b (decoded JSON values) differ; empty when equal.
func diff(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		var keys []string
		for k := range av {
			keys = append(keys, k)
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, diff(path+"."+k, av[k], bv[k])...)
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		var out []string
		for i := range av {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return out
	default:
		if fmt.Sprint(a) == fmt.Sprint(b) && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: %s  !=  %s", path, show(a), show(b))}
}

func show(v any) string {
	if v == nil {
		return "(absent)"
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(string(data))
	if strings.Contains(s, "\n") {
		return "\n" + s + "\n"
	}
	return s
}
