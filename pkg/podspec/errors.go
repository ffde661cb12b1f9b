package podspec

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// typeError matches the decoder's type errors:
//
//	json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool
//	json: cannot unmarshal array into Go value of type struct { ... }
var typeError = regexp.MustCompile(`^json: cannot unmarshal (\S+) into Go (?:struct field [^.\s]*\.(\S+)|value) of type (.+)$`)

// DecodeError is an object that does not decode as its kind.
type DecodeError struct {
	Kind string
	// Field is the dotted path of the offending field, without list indexes
	// ("spec.template.spec.containers.image"); empty when the error is not about one field.
	Field string
	Err   error
}

// Error reads "decoding Pod: spec.hostNetwork: got a string, want true or false".
func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("decoding %s: %s: %v", e.Kind, e.Field, e.Err)
	}
	return fmt.Sprintf("decoding %s: %v", e.Kind, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// decodeError describes the decoder's error for people, without Go type names. Type errors
// become "got a string, want true or false" at their field; other errors (syntax,
// quantities) read well already and are kept as they are.
func decodeError(kind string, err error) *DecodeError {
	m := typeError.FindStringSubmatch(err.Error())
	if m == nil {
		return &DecodeError{Kind: kind, Err: err}
	}
	got, field, want := m[1], jsonPath(m[2]), m[3]
	if field == "" {
		field = "the object"
	}
	return &DecodeError{Kind: kind, Field: field, Err: errors.New("got " + article(got) + ", want " + describeGoType(want))}
}

// jsonPath drops from the decoder's field path the Go names of embedded structs
// ("metadata.ObjectMeta.annotations", "spec.PodSpec.hostNetwork"), which it lists beside the
// JSON names. No JSON name of the Kubernetes API starts with an upper-case letter.
func jsonPath(path string) string {
	if path == "" {
		return ""
	}
	segs := strings.Split(path, ".")
	out := segs[:0]
	for _, s := range segs {
		if s != "" && (s[0] < 'A' || s[0] > 'Z') {
			out = append(out, s)
		}
	}
	return strings.Join(out, ".")
}

func article(jsonType string) string {
	switch jsonType {
	case "array", "object":
		return "an " + jsonType
	case "bool":
		return "true or false"
	}
	return "a " + jsonType
}

// describeGoType names the JSON a Go type expects.
func describeGoType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "struct "), strings.HasPrefix(t, "struct{"):
		return "an object"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "resource.Quantity":
		return "a quantity such as 500m or 1Gi"
	case t == "intstr.IntOrString":
		return "an integer or a string"
	}
	// A named type of the pod spec: v1.SecurityContext is an object, v1.Capability a string.
	switch namedKinds()[strings.TrimPrefix(t, "*")] {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return "a value of type " + t
}

// namedKinds maps the names of the types reachable from a Pod ("v1.Capability") to their kind.
var namedKinds = sync.OnceValue(func() map[string]reflect.Kind {
	m := map[string]reflect.Kind{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			if t.Name() != "" {
				m[t.String()] = t.Kind()
			}
			t = t.Elem()
		}
		if _, seen := m[t.String()]; seen && t.Name() != "" {
			return
		}
		if t.Name() != "" {
			m[t.String()] = t.Kind()
		}
		if t.Kind() == reflect.Struct {
			for i := 0; i < t.NumField(); i++ {
				walk(t.Field(i).Type)
			}
		}
	}
	walk(reflect.TypeOf(objectMeta{}))
	walk(reflect.TypeOf(podSpec{}))
	walk(reflect.TypeOf(template{}))
	walk(reflect.TypeOf(corev1.PodTemplate{}))
	walk(reflect.TypeOf(corev1.Pod{}))
	return m
})

// NewDecodeError describes a decoding error of an object of the kind as Decode does: a field
// of the wrong type is named, without Go type names. Other packages that read objects (RBAC)
// give their errors the same shape.
func NewDecodeError(kind string, err error) *DecodeError { return decodeError(kind, err) }
