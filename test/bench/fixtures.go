package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"
)

// fixture is one object of test/testdata/bench, as the kube-apiserver sends it.
type fixture struct {
	name     string
	file     string
	gvk      metav1.GroupVersionKind
	resource string
	// manager is the field manager that created the object: kubectl-client-side-apply (which
	// also writes the last-applied-configuration annotation) or a controller.
	manager string
	// What the engines must decide, checked once before measuring so that a benchmark never
	// times a short-cut by mistake.
	psaAllowed    bool // PSA restricted
	restrictedOK  bool // Bulwark restricted: no violation at all
	nsaDenied     bool // Bulwark nsa: an enforced violation
	mutatePatches bool // Bulwark nsa mutation adds something

	gk     schema.GroupKind
	raw    []byte // the object, compact JSON
	review []byte // the AdmissionReview request body
	req    cradmission.Request
}

var fixtures = []*fixture{
	{name: "restricted-pod", file: "restricted-pod.yaml", gvk: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, resource: "pods",
		manager: "kube-controller-manager", psaAllowed: true, restrictedOK: true},
	{name: "violating-pod", file: "violating-pod.yaml", gvk: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, resource: "pods",
		manager: kubectlApply, nsaDenied: true, mutatePatches: true},
	{name: "minimal-pod", file: "minimal-pod.yaml", gvk: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, resource: "pods",
		manager: kubectlApply, mutatePatches: true},
	{name: "deployment", file: "deployment.yaml", gvk: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, resource: "deployments",
		manager: kubectlApply, psaAllowed: true, restrictedOK: true, mutatePatches: true},
}

// pullSecretPod is minimal-pod with its image in a private registry and a pull secret: the
// image lookup benchmarks' second fixture, left out of the others (and of Reviews).
var pullSecretPod = &fixture{name: "minimal-pod-pull-secret", file: "minimal-pod-pull-secret.yaml",
	gvk: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, resource: "pods", manager: kubectlApply, mutatePatches: true}

const (
	// Namespace is the namespace of every fixture's request.
	Namespace    = "team-a"
	kubectlApply = "kubectl-client-side-apply"
)

// Reviews returns the AdmissionReview request body of every fixture in dir
// (test/testdata/bench), by fixture name, in the order of the fixtures: the requests the
// benchmarks time, for load tests that send the same bytes over HTTPS. Their namespace is
// Namespace, whose pod-security.kubernetes.io/enforce label the benchmarks set to restricted.
func Reviews(dir string) (names []string, bodies map[string][]byte, err error) {
	bodies = map[string][]byte{}
	for _, f := range fixtures {
		g := *f
		if err := g.load(dir); err != nil {
			return nil, nil, fmt.Errorf("fixture %s: %w", f.file, err)
		}
		names = append(names, f.name)
		bodies[f.name] = g.review
	}
	return names, bodies, nil
}

// load reads the fixture and builds the AdmissionReview a kube-apiserver sends for its CREATE
// by kubectl apply.
func (f *fixture) load(dir string) error {
	y, err := os.ReadFile(filepath.Join(dir, f.file))
	if err != nil {
		return err
	}
	written, err := yaml.YAMLToJSON(y)
	if err != nil {
		return err
	}
	if f.raw, err = asStored(written, f.manager); err != nil {
		return err
	}
	f.gk = schema.GroupKind{Group: f.gvk.Group, Kind: f.gvk.Kind}
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(f.raw, &meta); err != nil {
		return err
	}
	gvr := metav1.GroupVersionResource{Group: f.gvk.Group, Version: f.gvk.Version, Resource: f.resource}
	dryRun := false
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:  "705ab4f5-6393-11e8-b7cc-42010a800002",
			Kind: f.gvk, Resource: gvr, RequestKind: &f.gvk, RequestResource: &gvr,
			Name: meta.Metadata.Name, Namespace: Namespace, Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{
				Username: "alice@example.com", UID: "b0b1c2d3-0000-4000-8000-00000000a11c",
				Groups: []string{"developers", "system:authenticated"},
			},
			Object:  runtime.RawExtension{Raw: f.raw},
			DryRun:  &dryRun,
			Options: runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply","fieldValidation":"Strict"}`)},
		},
	}
	if f.review, err = json.Marshal(review); err != nil {
		return err
	}
	// The request as controller-runtime hands it to a handler.
	return json.Unmarshal(f.review, &struct {
		Request *admissionv1.AdmissionRequest `json:"request"`
	}{&f.req.AdmissionRequest})
}

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
