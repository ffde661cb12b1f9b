package podspec

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestDecodeErrors(t *testing.T) {
	deployment := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	pod := schema.GroupKind{Kind: "Pod"}
	cases := []struct {
		gk    schema.GroupKind
		obj   string
		want  string
		field string
	}{
		{pod, `{"spec":{"hostNetwork":"yes"}}`, "decoding Pod: spec.hostNetwork: got a string, want true or false", "spec.hostNetwork"},
		{pod, `{"spec":{"securityContext":{"runAsUser":"0"}}}`, "decoding Pod: spec.securityContext.runAsUser: got a string, want an integer", "spec.securityContext.runAsUser"},
		{pod, `[]`, "decoding Pod: the object: got an array, want an object", "the object"},
		{pod, `{"spec":[]}`, "decoding Pod: spec: got an array, want an object", "spec"},
		{pod, `{"spec":{"containers":{}}}`, "decoding Pod: spec.containers: got an object, want a list", "spec.containers"},
		{deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"a","securityContext":{"capabilities":{"add":[1]}}}]}}}}`,
			"decoding Deployment: spec.template.spec.containers.securityContext.capabilities.add: got a number, want a string",
			"spec.template.spec.containers.securityContext.capabilities.add"},
		{deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":true}}}]}}}}`,
			// The quantity decoder does not say where; its own message is kept.
			"decoding Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'", ""},
		{pod, `{"spec":`, "decoding Pod: unexpected end of JSON input", ""},
		// Fields of embedded structs are named by their JSON path alone.
		{pod, `{"metadata":{"annotations":{"a":1}}}`, "decoding Pod: metadata.annotations: got a number, want a string", "metadata.annotations"},
		{pod, `{"spec":{"ephemeralContainers":[{"name":1}]}}`, "decoding Pod: spec.ephemeralContainers.name: got a number, want a string", "spec.ephemeralContainers.name"},
		{deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"a","resources":[]}]}}}}`,
			"decoding Deployment: spec.template.spec.containers.resources: got an array, want an object", "spec.template.spec.containers.resources"},
		{deployment, `{"spec":{"template":{"metadata":{"labels":[]},"spec":{}}}}`,
			"decoding Deployment: spec.template.metadata.labels: got an array, want an object", "spec.template.metadata.labels"},
	}
	for _, c := range cases {
		_, _, err := Decode(c.gk, []byte(c.obj))
		if err == nil {
			t.Errorf("%s: no error", c.obj)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%s:\n got  %s\n want %s", c.obj, err, c.want)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != c.field {
			t.Errorf("%s: field %+v, want %q", c.obj, de, c.field)
		}
	}
}
