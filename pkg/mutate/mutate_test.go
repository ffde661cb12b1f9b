package mutate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	podGK        = schema.GroupKind{Kind: "Pod"}
	deploymentGK = schema.GroupKind{Group: "apps", Kind: "Deployment"}
)

func TestMutateNoOps(t *testing.T) {
	all := NSADefaults()
	for _, n := range Names() {
		must(t, all.Set(n, true))
	}
	var none Options
	for _, tc := range []struct {
		name string
		gk   schema.GroupKind
		obj  string
		opts *Options
	}{
		{"unknown kind", schema.GroupKind{Kind: "ConfigMap"}, `{"kind":"ConfigMap","data":{"a":"b"}}`, &all},
		{"unknown kind, not even JSON", schema.GroupKind{Kind: "Secret"}, `not json`, &all},
		{"replication controller without template", schema.GroupKind{Kind: "ReplicationController"}, `{"spec":{"replicas":1}}`, &all},
		{"deployment with null template", deploymentGK, `{"spec":{"template":null}}`, &all},
		{"pod without spec", podGK, `{"metadata":{"name":"x"}}`, &all},
		{"all defaults off", podGK, `{"spec":{"containers":[{"name":"a"}]}}`, &none},
		{"no containers, nothing on at pod level", podGK, `{"spec":{}}`, &Options{PrivilegeEscalation: true, Resources: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out := mutateJSON(t, tc.gk, []byte(tc.obj), tc.opts, Target{})
			if len(res.Patch) != 0 || len(res.Changes) != 0 || string(out) != tc.obj {
				t.Fatalf("got %+v, object %s", res, out)
			}
		})
	}
}

func TestMutateErrors(t *testing.T) {
	for _, tc := range []struct {
		gk   schema.GroupKind
		obj  string
		want string
	}{
		{deploymentGK, `{"spec":{"template":{"spec":{"containers":{"name":"a"}}}}}`, "decoding Deployment: spec.template.spec.containers: got an object, want a list"},
		{deploymentGK, `{"spec":{"template":"x"}}`, "decoding Deployment: spec.template: got a string, want an object"},
		{deploymentGK, `{"spec":[]}`, "decoding Deployment: spec: got an array, want an object"},
		{podGK, `{"spec":{"initContainers":["a"]}}`, "decoding Pod: spec.initContainers: got a string, want an object"},
		{podGK, `{"spec":{"containers":[{"name":"a","securityContext":true}]}}`, "decoding Pod: spec.containers.securityContext: got true or false, want an object"},
		{podGK, `{"spec":{"containers":[{"name":"a","securityContext":{"capabilities":[]}}]}}`, "decoding Pod: spec.containers.securityContext.capabilities: got an array, want an object"},
		{podGK, `{"spec":{"containers":[{"name":"a","resources":{"limits":"1"}}]}}`, "decoding Pod: spec.containers.resources.limits: got a string, want an object"},
		{podGK, `{"spec":{"containers":[{"name":"a","resources":{"requests":{"cpu":"lots"}}}]}}`, "decoding Pod: quantities must match"},
		{podGK, `{"spec":{"securityContext":1,"containers":[]}}`, "decoding Pod: spec.securityContext: got a number, want an object"},
		{podGK, `{"spec":{"os":"linux"}}`, "decoding Pod: spec.os: got a string, want an object"},
		{podGK, `{"metadata":[],"spec":{}}`, "decoding Pod: metadata: got an array, want an object"},
		{podGK, `[1]`, "decoding Pod: the object: got an array, want an object"},
		{podGK, `{"spec":`, "decoding Pod: unexpected end of JSON input"},
		{podGK, `{"spec":{}} {}`, "decoding Pod: invalid character '{' after top-level value"},
		// The typed decoder takes a null container for an empty one; a patch cannot.
		{podGK, `{"spec":{"containers":[{"name":"a"},null]}}`, "spec.containers[1] is not an object"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Patch(tc.gk, []byte(tc.obj), nil, Target{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestUnknownFieldsSurviveVerbatim checks, on raw JSON, that fields k8s.io/api does not know
// and numbers no Go numeric type holds come out exactly as they went in once the patch is
// applied: no operation touches them.
func TestUnknownFieldsSurviveVerbatim(t *testing.T) {
	in := `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"futureTop":123456789012345678901234567890,` +
		`"template":{"spec":{"futureField":{"x":1,"y":1.50,"z":1e400,"s":"<&>"},` +
		`"containers":[{"name":"app","futureThing":{"n":-0.0,"list":[1,{"deep":true}]}}]}}}}`
	res, out := mutateJSON(t, deploymentGK, []byte(in), nil, Target{})
	for _, want := range []string{
		`"futureTop":123456789012345678901234567890`,
		`"futureField":{"x":1,"y":1.50,"z":1e400,"s":"<&>"}`,
		`"futureThing":{"n":-0.0,"list":[1,{"deep":true}]}`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("%s lost in %s", want, out)
		}
	}
	if len(res.Patch) == 0 {
		t.Fatal("no operations")
	}
	for _, op := range res.Patch {
		if strings.Contains(op.Path, "future") {
			t.Errorf("operation on an unknown field: %s", op.Path)
		}
	}
}

func TestNilOptionsAreNSADefaults(t *testing.T) {
	obj := []byte(`{"spec":{"containers":[{"name":"a"}]}}`)
	nsa := NSADefaults()
	a, err := Patch(podGK, obj, nil, Target{})
	must(t, err)
	b, err := Patch(podGK, obj, &nsa, Target{})
	must(t, err)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("nil options: %+v\nNSADefaults: %+v", a, b)
	}
}

// TestPatchJSON checks the wire form of the operations (false is kept, not omitted), the
// paths for a PodTemplate, and the object they give.
func TestPatchJSON(t *testing.T) {
	obj := []byte(`{"template":{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"1"}}}]}}}`)
	opts := Options{PrivilegeEscalation: true}
	res, err := Patch(schema.GroupKind{Kind: "PodTemplate"}, obj, &opts, Target{})
	must(t, err)
	got, err := json.Marshal(res.Patch)
	must(t, err)
	want := `[{"op":"add","path":"/template/spec/containers/0/securityContext","value":{"allowPrivilegeEscalation":false}}]`
	if string(got) != want {
		t.Fatalf("patch %s\nwant  %s", got, want)
	}
	wantChanges := []Change{{Default: PrivilegeEscalation, Field: "template.spec.containers[0].securityContext.allowPrivilegeEscalation", Value: "false"}}
	if !reflect.DeepEqual(res.Changes, wantChanges) {
		t.Fatalf("changes %v", res.Changes)
	}
	p, err := jsonpatch.DecodePatch(got)
	must(t, err)
	out, err := p.Apply(obj)
	must(t, err)
	wantObject := `{"template":{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"1"}},"securityContext":{"allowPrivilegeEscalation":false}}]}}}`
	if !jsonpatch.Equal(out, []byte(wantObject)) {
		t.Fatalf("%s != %s", out, wantObject)
	}
}

func TestPointer(t *testing.T) {
	for _, segs := range [][]string{nil, {""}, {"a"}, {"a/b", "c~d", "~1", "0"}, {"x", "", "y"}} {
		p := Pointer(segs)
		back, err := ParsePointer(p)
		must(t, err)
		if len(segs) == 0 && len(back) == 0 {
			continue
		}
		if !reflect.DeepEqual(back, segs) {
			t.Errorf("%q -> %q -> %q", segs, p, back)
		}
	}
	if got := Pointer([]string{"a/b", "c~d", "~1"}); got != "/a~1b/c~0d/~01" {
		t.Errorf("Pointer = %q", got)
	}
	for _, bad := range []string{"a", "/a~", "/a~2"} {
		if _, err := ParsePointer(bad); err == nil {
			t.Errorf("ParsePointer(%q) accepted", bad)
		}
	}
}

func TestOptions(t *testing.T) {
	want := []string{Seccomp, PrivilegeEscalation, DropCapabilities, RunAsNonRoot, ReadOnlyRootFilesystem, Resources, AutomountServiceAccountToken, PinDigests}
	if !reflect.DeepEqual(Names(), want) {
		t.Fatalf("Names() = %v", Names())
	}
	o := NSADefaults()
	for _, n := range want {
		on := n != ReadOnlyRootFilesystem && n != AutomountServiceAccountToken && n != PinDigests
		if o.Enabled(n) != on {
			t.Errorf("NSADefaults: %s on = %v", n, o.Enabled(n))
		}
	}
	if o.Requests.CPU.String() != "100m" || o.Requests.Memory.String() != "128Mi" ||
		o.Limits.CPU.String() != "500m" || o.Limits.Memory.String() != "512Mi" {
		t.Errorf("NSADefaults quantities: %+v", o)
	}
	if err := o.Set("seccomp-profile", true); err == nil {
		t.Error("Set accepted an unknown name")
	}
	must(t, o.Set(ReadOnlyRootFilesystem, true))
	if !o.ReadOnlyRootFilesystem || o.Enabled("nope") {
		t.Error("Set/Enabled")
	}
}

// TestEphemeralOnlyLeavesTheRestAlone checks that with an ephemeral-only target nothing but
// the new ephemeral containers changes, even with every default on.
func TestEphemeralOnlyLeavesTheRestAlone(t *testing.T) {
	obj := []byte(`{"spec":{"initContainers":[{"name":"i"}],"containers":[{"name":"a"}],` +
		`"ephemeralContainers":[{"name":"old"},{"name":"new"},{"name":"newer","securityContext":{"seccompProfile":{"type":"Unconfined"}}}]}}`)
	all := NSADefaults()
	for _, n := range Names() {
		must(t, all.Set(n, true))
	}
	res, err := Patch(podGK, obj, &all, Target{EphemeralOnly: true, Existing: map[string]bool{"old": true}})
	must(t, err)
	var paths []string
	for _, op := range res.Patch {
		paths = append(paths, op.Path)
	}
	want := []string{"/spec/ephemeralContainers/1/securityContext", "/spec/ephemeralContainers/2/securityContext/allowPrivilegeEscalation",
		"/spec/ephemeralContainers/2/securityContext/capabilities", "/spec/ephemeralContainers/2/securityContext/runAsNonRoot",
		"/spec/ephemeralContainers/2/securityContext/readOnlyRootFilesystem"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %q\nwant  %q", paths, want)
	}
}

// TestOnlyTheTemplateIsRead: members off the pod spec (the object's metadata with its
// managedFields, status, a workload's own fields) are left to the patch's target, so they come
// out byte for byte; the legacy seccomp annotation is still seen wherever the template keeps
// it, and the operations are those of the object without the extra members.
func TestOnlyTheTemplateIsRead(t *testing.T) {
	const managed = `"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1","time":"2026-11-24T06:00:00Z",` +
		`"fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:note":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{}}}}}}]`
	const cronJob = `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"cj","annotations":{"note":"\u003cb\u003e 1.50"},` + managed + `},` +
		`"spec":{"schedule":"*/5 * * * *","startingDeadlineSeconds":1.0e2,"jobTemplate":{"metadata":{"labels":{"x":"y"}},"spec":{"template":{` +
		`"metadata":{"annotations":{"seccomp.security.alpha.kubernetes.io/pod":"unconfined"}},"spec":{"containers":[{"name":"app","image":"app:1"}]}}}}},` +
		`"status":{"lastScheduleTime":"2026-11-24T06:00:00Z"}}`
	res, out := mutateJSON(t, schema.GroupKind{Group: "batch", Kind: "CronJob"}, []byte(cronJob), nil, Target{})
	for _, want := range []string{
		`"metadata":{"name":"cj","annotations":{"note":"\u003cb\u003e 1.50"},` + managed + `}`,
		`"startingDeadlineSeconds":1.0e2`,
		`"jobTemplate":{"metadata":{"labels":{"x":"y"}}`,
		`"status":{"lastScheduleTime":"2026-11-24T06:00:00Z"}`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("%s not kept verbatim in %s", want, out)
		}
	}
	for _, c := range res.Changes {
		if c.Default == Seccomp {
			t.Errorf("seccompProfile added despite the template's legacy annotation: %s", c)
		}
	}

	// A Pod's template metadata is the object's: with managedFields and the legacy annotation,
	// the same operations as without managedFields, and no seccompProfile.
	plain := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"seccomp.security.alpha.kubernetes.io/pod":"unconfined"}},` +
		`"spec":{"containers":[{"name":"app","image":"app:1"}]}}`
	withManaged := strings.Replace(plain, `"name":"p",`, `"name":"p",`+managed+`,`, 1)
	want, err := Patch(podGK, []byte(plain), nil, Target{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Patch(podGK, []byte(withManaged), nil, Target{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got.Patch) == 0 {
		t.Fatalf("with managedFields: %+v\nwithout: %+v", got, want)
	}
	for _, c := range got.Changes {
		if c.Default == Seccomp {
			t.Errorf("seccompProfile added despite the pod's legacy annotation: %s", c)
		}
	}
}

// TestPresence: what the typed pod reads as zero is told apart from what is missing. A member
// sent as null is missing (the operation replaces it), an empty object is there (the
// operation adds inside it), and explicit false, zero and empty-list values are the user's.
// Every default is on.
func TestPresence(t *testing.T) {
	all := NSADefaults()
	for _, n := range Names() {
		must(t, all.Set(n, true))
	}
	for _, tc := range []struct {
		name, spec, want string
	}{
		{
			"null members",
			`{"securityContext":null,"automountServiceAccountToken":null,"containers":[{"name":"a","securityContext":null,"resources":null}]}`,
			`[{"op":"add","path":"/spec/securityContext","value":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}},` +
				`{"op":"add","path":"/spec/automountServiceAccountToken","value":false},` +
				`{"op":"add","path":"/spec/containers/0/securityContext","value":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true}},` +
				`{"op":"add","path":"/spec/containers/0/resources","value":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}}]`,
		},
		{
			"empty objects",
			`{"securityContext":{},"containers":[{"name":"a","securityContext":{},"resources":{}}]}`,
			`[{"op":"add","path":"/spec/securityContext/seccompProfile","value":{"type":"RuntimeDefault"}},` +
				`{"op":"add","path":"/spec/securityContext/runAsNonRoot","value":true},` +
				`{"op":"add","path":"/spec/automountServiceAccountToken","value":false},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/allowPrivilegeEscalation","value":false},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/capabilities","value":{"drop":["ALL"]}},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/readOnlyRootFilesystem","value":true},` +
				`{"op":"add","path":"/spec/containers/0/resources/requests","value":{"cpu":"100m","memory":"128Mi"}},` +
				`{"op":"add","path":"/spec/containers/0/resources/limits","value":{"cpu":"500m","memory":"512Mi"}}]`,
		},
		{
			"explicit false, empty profile and drop list",
			`{"securityContext":{"runAsNonRoot":false,"seccompProfile":{}},"automountServiceAccountToken":true,"containers":[{"name":"a",` +
				`"securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":false,"capabilities":{"drop":[]}},"resources":{"requests":{},"limits":null}}]}`,
			`[{"op":"add","path":"/spec/containers/0/resources/requests/cpu","value":"100m"},` +
				`{"op":"add","path":"/spec/containers/0/resources/requests/memory","value":"128Mi"},` +
				`{"op":"add","path":"/spec/containers/0/resources/limits","value":{"cpu":"500m","memory":"512Mi"}}]`,
		},
		{
			"zero values, null list and quantity",
			`{"securityContext":{"runAsUser":0},"containers":[{"name":"a","securityContext":{"capabilities":{"drop":null,"add":["SYS_ADMIN"]},"seccompProfile":null},` +
				`"resources":{"requests":{"cpu":null,"memory":"0"},"limits":{"cpu":"0"}}}]}`,
			`[{"op":"add","path":"/spec/securityContext/seccompProfile","value":{"type":"RuntimeDefault"}},` +
				`{"op":"add","path":"/spec/automountServiceAccountToken","value":false},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/capabilities/drop","value":["ALL"]},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/readOnlyRootFilesystem","value":true},` +
				`{"op":"add","path":"/spec/containers/0/resources/requests/cpu","value":"0"},` +
				`{"op":"add","path":"/spec/containers/0/resources/limits/memory","value":"512Mi"}]`,
		},
		{
			"Windows pod with an ephemeral container",
			`{"os":{"name":"windows"},"containers":[{"name":"a"}],"ephemeralContainers":[{"name":"e"}]}`,
			`[{"op":"add","path":"/spec/securityContext","value":{"runAsNonRoot":true}},` +
				`{"op":"add","path":"/spec/automountServiceAccountToken","value":false},` +
				`{"op":"add","path":"/spec/containers/0/resources","value":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}}]`,
		},
		{
			"privileged init container, root container, ephemeral container",
			`{"initContainers":[{"name":"i","securityContext":{"privileged":true}}],"containers":[{"name":"a","securityContext":{"runAsUser":0}}],` +
				`"ephemeralContainers":[{"name":"e","resources":{}}]}`,
			`[{"op":"add","path":"/spec/securityContext","value":{"seccompProfile":{"type":"RuntimeDefault"}}},` +
				`{"op":"add","path":"/spec/automountServiceAccountToken","value":false},` +
				`{"op":"add","path":"/spec/initContainers/0/securityContext/capabilities","value":{"drop":["ALL"]}},` +
				`{"op":"add","path":"/spec/initContainers/0/securityContext/readOnlyRootFilesystem","value":true},` +
				`{"op":"add","path":"/spec/initContainers/0/resources","value":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/allowPrivilegeEscalation","value":false},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/capabilities","value":{"drop":["ALL"]}},` +
				`{"op":"add","path":"/spec/containers/0/securityContext/readOnlyRootFilesystem","value":true},` +
				`{"op":"add","path":"/spec/containers/0/resources","value":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}},` +
				`{"op":"add","path":"/spec/ephemeralContainers/0/securityContext","value":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true}}]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":` + tc.spec + `}`)
			res, patched := mutateJSON(t, podGK, obj, &all, Target{})
			got, err := json.Marshal(res.Patch)
			must(t, err)
			if string(got) != tc.want {
				t.Fatalf("patch %s\nwant  %s", got, tc.want)
			}
			if again, err := Patch(podGK, patched, &all, Target{}); err != nil || len(again.Patch) != 0 {
				t.Fatalf("mutating the result again: %v %v", err, again)
			}
		})
	}
}
