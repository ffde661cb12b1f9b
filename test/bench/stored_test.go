package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// asStored adds to an object as written what the kube-apiserver has added by the time a
// validating webhook sees it: uid, creationTimestamp, generation, and metadata.managedFields
// for its field manager; and, for kubectl-client-side-apply, the
// kubectl.kubernetes.io/last-applied-configuration annotation that kubectl apply writes (the
// object as written, as JSON). Both engines decode these fields like any other, so the
// fixtures carry them at their real size.
func asStored(written []byte, manager string) ([]byte, error) {
	obj, err := decodeAny(written)
	if err != nil {
		return nil, err
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		return nil, fmt.Errorf("the object has no metadata")
	}
	if manager == kubectlApply {
		annotations, _ := meta["annotations"].(map[string]any)
		if annotations == nil {
			annotations = map[string]any{}
			meta["annotations"] = annotations
		}
		annotations["kubectl.kubernetes.io/last-applied-configuration"] = string(written) + "\n"
	}
	fields := fieldsV1(obj)
	delete(fields.(map[string]any), "f:apiVersion")
	delete(fields.(map[string]any), "f:kind")
	if m, ok := fields.(map[string]any)["f:metadata"].(map[string]any); ok {
		for _, k := range []string{"f:name", "f:namespace", "f:generateName"} {
			delete(m, k)
		}
	}
	meta["uid"] = "6f1c9b0e-3d2a-4c5b-9e8f-7a6b5c4d3e2f"
	meta["creationTimestamp"] = "2026-11-24T06:00:00Z"
	if obj["kind"] != "Pod" {
		meta["generation"] = json.Number("1")
	}
	meta["managedFields"] = []any{map[string]any{
		"manager": manager, "operation": "Update", "apiVersion": obj["apiVersion"],
		"time": "2026-11-24T06:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields,
	}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// fieldsV1 renders the field set of v in the managedFields format: "f:<name>" for members,
// "k:{...}" for list items with a key (name, containerPort, key), {} for leaves and other
// lists.
func fieldsV1(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			out["f:"+k] = fieldsV1(e)
		}
		return out
	case []any:
		out := map[string]any{}
		for _, item := range t {
			m, ok := item.(map[string]any)
			if !ok {
				return map[string]any{}
			}
			key := listKey(m)
			if key == "" {
				return map[string]any{}
			}
			f := fieldsV1(m).(map[string]any)
			f["."] = map[string]any{}
			out["k:"+key] = f
		}
		return out
	default:
		return map[string]any{}
	}
}

func listKey(m map[string]any) string {
	var keys []string
	for _, k := range []string{"containerPort", "protocol", "name", "key", "mountPath", "type", "topologyKey", "whenUnsatisfiable"} {
		if v, ok := m[k]; ok {
			js, _ := json.Marshal(v)
			keys = append(keys, fmt.Sprintf("%q:%s", k, js))
			if k == "name" || k == "mountPath" {
				break
			}
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return ""
	}
	return "{" + strings.Join(keys, ",") + "}"
}

func decodeAny(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	return obj, nil
}
