package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// FuzzHandlers feeds arbitrary objects to both handlers. `go test` runs the seeds; run
// `go test -fuzz FuzzHandlers ./pkg/admission/` to search further. Properties: no panic; a
// response is 200 allowed, 403 denied or 400 errored with a message; warnings fit the
// apiserver's limits; a patch applies to the object, and mutating its result again adds
// nothing; the patch changes no value the object had and adds only below the pod spec.
// FuzzAdmissionReview does the same from raw AdmissionReview bytes, FuzzMutationInvariants
// goes deeper into mutation.
func FuzzHandlers(f *testing.F) {
	seeds := []string{
		minimalSpec,
		compliant,
		`{"hostNetwork":true,"containers":[{"name":"a","image":"x","securityContext":{"privileged":true}}]}`,
		`{"securityContext":{"runAsUser":0},"containers":[{"name":"a","securityContext":null,"resources":null}]}`,
		`{"os":{"name":"windows"},"containers":[{"name":"a","image":"x"}]}`,
		`{"containers":[{"name":"a","resources":{"requests":{"cpu":"2"},"limits":{"memory":1}}}],"initContainers":[{"name":"i","restartPolicy":"Always"}]}`,
		`{"containers":[{"name":"a","securityContext":{"capabilities":{"add":["SYS_ADMIN"],"drop":null}}}],"ephemeralContainers":[{"name":"e"}]}`,
		`{"resources":{"limits":{"cpu":"1"}},"containers":[{"name":"a"}]}`,
		`{"containers":[{"name":"é😀","image":"nginx"}]}`,
		`{"containers":[null]}`,
		`{"hostNetwork":"yes"}`,
		`null`,
		`[]`,
		`{"containers":"x"}`,
	}
	for i, s := range seeds {
		for k := range allKinds {
			f.Add(uint8(k), uint8(i%2), s)
		}
	}
	snap, err := policy.FromProfile("nsa")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kindIndex, opIndex uint8, spec string) {
		k := allKinds[int(kindIndex)%len(allKinds)]
		op := []admissionv1.Operation{admissionv1.Create, admissionv1.Update}[opIndex%2]
		obj := k.object("w", spec)
		old := ""
		if op == admissionv1.Update {
			old = k.object("w", minimalSpec)
		}
		h := newHarness(t, snap)
		req := request(op, k, "w", obj, old)

		v := h.v.Handle(context.Background(), req)
		checkResponse(t, "validate", v.Allowed, v.Result.Code, v.Result.Message, v.Warnings)

		m := h.m.Handle(context.Background(), req)
		checkResponse(t, "mutate", m.Allowed, m.Result.Code, m.Result.Message, m.Warnings)
		if !m.Allowed && m.Result.Code != http.StatusBadRequest {
			t.Fatalf("mutator answered %d", m.Result.Code)
		}
		if len(m.Patches) == 0 {
			return
		}
		if err := m.Complete(req); err != nil {
			t.Fatal(err)
		}
		p, err := jsonpatch.DecodePatch(m.Patch)
		if err != nil {
			t.Fatalf("patch does not decode: %v: %s", err, m.Patch)
		}
		out, err := p.Apply([]byte(obj))
		if err != nil {
			t.Fatalf("patch does not apply: %v\npatch %s\nobject %s", err, m.Patch, obj)
		}
		checkPatched(t, []byte(obj), out, pointerStrings(k.pointer))
		again := h.m.Handle(context.Background(), request(admissionv1.Create, k, "w", string(out), ""))
		if len(again.Patches) != 0 {
			t.Fatalf("not idempotent: second patch %v\nafter %s", again.Patches, out)
		}
		if r := h.v.Handle(context.Background(), request(admissionv1.Create, k, "w", string(out), "")); r.Result.Code == http.StatusBadRequest {
			t.Fatalf("mutated object no longer decodes: %s\n%s", r.Result.Message, out)
		}
	})
}

func checkResponse(t *testing.T, webhook string, allowed bool, code int32, message string, warnings []string) {
	t.Helper()
	switch {
	case allowed && code == http.StatusOK:
	case !allowed && code == http.StatusForbidden && strings.Contains(message, "Bulwark check"):
	case !allowed && code == http.StatusBadRequest && message != "":
	default:
		t.Fatalf("%s: allowed %v, code %d, message %q", webhook, allowed, code, message)
	}
	assertWarningBudget(t, warnings)
}

// FuzzAdmissionReview sends raw AdmissionReview bodies to both webhooks as `bulwark serve`
// serves them (NewHTTP around the Validator and Mutator), the
// way the apiserver posts them. Properties: no panic; every body gets an HTTP 200 answer with
// a response that is allowed (200), denied (403, with a message naming the Bulwark checks) or
// an error (400 with a message); warnings fit the apiserver's limits; a decision carries the
// request's uid; what the validator cannot read the mutator cannot either; a patch is a JSON
// Patch that applies to the request's object, changes no value it had, adds only below the
// pod spec, and mutating its result again adds nothing. Seeds: every workload fixture as a
// CREATE, updates, the ephemeral-containers subresource, skipped operations and bad bodies.
//
//	go test ./pkg/admission -run '^$' -fuzz '^FuzzAdmissionReview$' -fuzztime 60s
func FuzzAdmissionReview(f *testing.F) {
	for i, obj := range sortedFixtures(f) {
		if k, ok := kindOf(obj); ok {
			f.Add(reviewBody(f, "admission.k8s.io/v1", fmt.Sprint("u", i), k, admissionv1.Create, "", obj, nil))
		}
	}
	dep := []byte(kDeployment.object("web", privilegedSpec))
	pod := []byte(kPod.object("web", `{"containers":[{"name":"app","image":"nginx:1.27"}],"ephemeralContainers":[{"name":"dbg","image":"busybox"}]}`))
	for _, b := range [][]byte{
		reviewBody(f, "admission.k8s.io/v1", "upd", kDeployment, admissionv1.Update, "", dep, []byte(kDeployment.object("web", minimalSpec))),
		reviewBody(f, "admission.k8s.io/v1", "eph", kPod, admissionv1.Update, "ephemeralcontainers", pod, []byte(kPod.object("web", minimalSpec))),
		reviewBody(f, "admission.k8s.io/v1", "del", kDeployment, admissionv1.Delete, "", nil, dep),
		reviewBody(f, "admission.k8s.io/v1", "scale", kDeployment, admissionv1.Update, "scale", []byte(`{"apiVersion":"autoscaling/v1","kind":"Scale"}`), nil),
		reviewBody(f, "admission.k8s.io/v1beta1", "beta", kCronJob, admissionv1.Create, "", []byte(kCronJob.object("cj", compliant)), nil),
		review("admission.k8s.io/v1", requestJSON("svc", kService, "CREATE", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`)),
		[]byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest:\n  uid: y\n  kind: {kind: Pod, version: v1}\n  resource: {resource: pods, version: v1}\n  operation: CREATE\n  object: {apiVersion: v1, kind: Pod, spec: {containers: [{name: a}]}}\n"),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`),
		[]byte(`{"request":{"uid":"u"}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{`),
		[]byte(`[1,2]`),
		[]byte("\x1f\x8b\x08\x00"),
		{},
	} {
		f.Add(b)
	}
	nsa, err := policy.FromProfile("nsa")
	if err != nil {
		f.Fatal(err)
	}
	opts := Options{Policy: policy.NewHolder(nsa), Log: logr.Discard()}
	validate := NewHTTP(NewValidator(opts), logr.Discard(), HTTPOptions{})
	mutator := NewHTTP(NewMutator(opts), logr.Discard(), HTTPOptions{})
	f.Fuzz(func(t *testing.T, body []byte) {
		v := serveReview(t, validate, "validate", body)
		m := serveReview(t, mutator, "mutate", body)
		if v.code() == http.StatusBadRequest && m.code() != http.StatusBadRequest {
			t.Fatalf("the validator cannot read the request (%s), the mutator answered %d", v.message(), m.code())
		}
		rev, ok := decodeAsControllerRuntime(body)
		if !ok {
			if len(m.Response.Patch) > 0 {
				t.Fatalf("a patch for a body that is no AdmissionReview: %q", body)
			}
			return
		}
		for _, r := range []*reviewResponse{v, m} {
			if (r.Response.Allowed || r.code() == http.StatusForbidden) && r.Response.UID != string(rev.Request.UID) {
				t.Fatalf("decision for uid %q, the request's is %q", r.Response.UID, rev.Request.UID)
			}
		}
		if len(m.Response.Patch) == 0 {
			return
		}
		if m.Response.PatchType != "JSONPatch" {
			t.Fatalf("patch type %q", m.Response.PatchType)
		}
		p, err := jsonpatch.DecodePatch(m.Response.Patch)
		if err != nil {
			t.Fatalf("patch does not decode: %v: %s", err, m.Response.Patch)
		}
		obj := rev.Request.Object.Raw
		out, err := p.Apply(obj)
		if err != nil {
			t.Fatalf("patch does not apply: %v\npatch %s\nobject %s", err, m.Response.Patch, obj)
		}
		shape, ok := podspec.ShapeOf(schema.GroupKind{Group: rev.Request.Kind.Group, Kind: rev.Request.Kind.Kind})
		if !ok {
			t.Fatalf("a patch for kind %v", rev.Request.Kind)
		}
		under := shape.SpecPointer()
		if rev.Request.SubResource == "ephemeralcontainers" {
			under = append(under, "ephemeralContainers")
		}
		checkPatched(t, obj, out, under)
		rev.Request.Object.Raw = out
		again := serveReview(t, mutator, "mutate", mustMarshal(t, rev))
		if !again.Response.Allowed || len(again.Response.Patch) != 0 {
			t.Fatalf("mutating the mutated object again: allowed %v, %q, patch %s\nobject %s", again.Response.Allowed, again.message(), again.Response.Patch, out)
		}
	})
}

// reviewBody renders an AdmissionReview of apiVersion with one request, as JSON.
func reviewBody(t testing.TB, apiVersion, uid string, k kind, op admissionv1.Operation, subResource string, obj, old []byte) []byte {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID:         types.UID(uid),
		Kind:        metav1.GroupVersionKind{Group: k.group, Version: k.version, Kind: k.kind},
		Resource:    metav1.GroupVersionResource{Group: k.group, Version: k.version, Resource: k.resource},
		SubResource: subResource,
		Name:        "x", Namespace: "team-a", Operation: op,
		UserInfo: authenticationv1.UserInfo{Username: "alice@example.com"},
	}
	if obj != nil {
		req.Object.Raw = obj
	}
	if old != nil {
		req.OldObject.Raw = old
	}
	return mustMarshal(t, &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"}, Request: req})
}

// serveReview posts body to one webhook and returns its answer, which must be an HTTP 200
// AdmissionReview with a response that checkResponse accepts.
func serveReview(t *testing.T, wh *HTTP, name string, body []byte) *reviewResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/"+name, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", name, rec.Code, rec.Body)
	}
	var out reviewResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("%s: the answer is no AdmissionReview response (%v): %.300s", name, err, rec.Body)
	}
	checkResponse(t, name, out.Response.Allowed, int32(out.code()), out.message(), out.Response.Warnings)
	return &out
}

// decodeAsControllerRuntime reads a body as controller-runtime does (JSON, or YAML converted to JSON,
// case-sensitive); ok is false when it holds no request.
func decodeAsControllerRuntime(body []byte) (*admissionv1.AdmissionReview, bool) {
	js := body
	if !json.Valid(body) {
		var err error
		if js, err = sigsyaml.YAMLToJSON(body); err != nil {
			return nil, false
		}
	}
	var rev admissionv1.AdmissionReview
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &rev); err != nil || rev.Request == nil {
		return nil, false
	}
	return &rev, true
}
