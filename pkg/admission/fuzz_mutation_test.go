package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// FuzzMutationInvariants mutates pods through the Mutator and checks what mutation promises
// (README "What the webhook does with a request", docs/checks.md "Mutation defaults"):
//
//   - no panic, and an answer that is an admission or an error with a message;
//   - the patch applies to the object as sent, and only adds: every value the user set (every
//     non-null leaf, every list with its length) is in the result unchanged, and everything
//     added is below the pod spec (below the new ephemeral containers for the
//     pods/ephemeralcontainers subresource);
//   - the patched object equals the one mutate.Patch's operations give (decoding the object
//     itself rather than taking the handler's pod), decodes, and mutating it again gives no
//     operations;
//   - the mutated object is not reported (nor denied) by a check whose mutation default was on
//     (policy.ServedBy), except where mutation steps aside by design: a value the user set,
//     a capabilities.drop list, runAsUser: 0 (or ContainerAdministrator) for runAsNonRoot,
//     privileged or SYS_ADMIN containers for allowPrivilegeEscalation, pod-level resources,
//     Windows pods for the Linux-only defaults, a legacy seccomp annotation other than
//     runtime/default, containers the ephemeral-containers subresource may not change, and a
//     pod template without a spec (which the apiserver rejects before validating webhooks);
//
// The input is a byte string of choices (policy, mode, kind, then a generated pod: host
// namespaces, container lists, securityContexts, capabilities in odd spellings, resources,
// volumes, annotations, Windows) and, optionally, a raw JSON object (or pod spec) that
// replaces the generated pod. The seeds are every workload fixture of the repository.
//
//	go test ./pkg/admission -run '^$' -fuzz '^FuzzMutationInvariants$' -fuzztime 60s
func FuzzMutationInvariants(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 24 {
		gen := make([]byte, 32+r.IntN(96))
		for i := range gen {
			gen[i] = byte(r.UintN(256))
		}
		f.Add(gen, []byte(nil))
	}
	f.Add([]byte{}, []byte(nil))
	fixtures := fixtureObjects(f)
	for _, name := range slices.Sorted(maps.Keys(fixtures)) {
		obj := fixtures[name]
		f.Add([]byte{}, obj) // CREATE, nsa defaults
		k, _ := kindOf(obj)
		if strings.Contains(name, "config/samples/") || k == kPod && bytes.Contains(obj, []byte(`"ephemeralContainers"`)) {
			// UPDATE: a changed template, or new ephemeral containers; every default on, enforced.
			f.Add([]byte{0xd0, 0x81, 1}, obj)
		}
	}
	f.Add([]byte{0, 0, 0, 0}, []byte(`{"containers":[{"name":"a","securityContext":{"capabilities":{"add":["sys_admin"]}}}],"securityContext":{"runAsUser":0}}`))
	f.Add([]byte{0, 0, 0, 0}, []byte(`{"os":{"name":"windows"},"containers":[{"name":"a"}],"ephemeralContainers":[{"name":"e"}]}`))
	f.Add([]byte{0, 0, 0, 0}, []byte(`{"resources":{},"containers":[{"name":"a","resources":{"limits":{"cpu":"10m"}}}]}`))
	f.Add([]byte{0x40, 0, 0}, []byte(`{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"w"},"spec":{"template":{}}}`))
	f.Add([]byte{0xd0, 0, 0}, []byte(`null`))
	f.Add([]byte{0xd0, 0, 0}, []byte(`{"containers":[null]}`))
	f.Add([]byte{0xd0, 0, 0}, []byte(`{"containers":[{"name":"a","securityContext":{"capabilities":{"add":null,"drop":null},"seccompProfile":null}}],"securityContext":null}`))
	f.Add([]byte{0xd0, 0, 0, 1}, []byte(`{"initContainers":[{"name":"i","restartPolicy":"Always","resources":{"requests":{"cpu":"2"},"limits":{"memory":1}}}],"containers":[{"name":"a"}]}`))

	f.Fuzz(func(t *testing.T, gen, raw []byte) {
		c := &choices{b: gen}
		snap := fuzzPolicy(t, c.next(), c.next())
		update := c.intn(2) == 1
		k := allKinds[c.intn(len(allKinds))]
		var obj []byte
		switch rk, ok := kindOf(raw); {
		case ok:
			k, obj = rk, raw
		case len(raw) > 0:
			obj = []byte(k.object("w", string(raw)))
		default:
			spec, annotations := c.genPod()
			obj = mustMarshal(t, objectTree(t, k, "w", spec, annotations))
		}
		mc := mutationCase{k: k, obj: obj, op: admissionv1.Create}
		if update {
			mc.op = admissionv1.Update
			if k == kPod {
				// pods/ephemeralcontainers: the old pod has the first few ephemeral containers.
				old, ok := withoutNewEphemeral(obj, c.intn(2))
				if !ok {
					return // not a JSON pod: the CREATE cases cover bad input
				}
				mc.old, mc.ephemeral = old, true
			} else {
				mc.old = []byte(k.object("w", minimalSpec))
			}
		}
		checkMutationInvariants(t, snap, mc)
	})
}

// mutationCase is one request to mutate.
type mutationCase struct {
	k         kind
	obj, old  []byte
	op        admissionv1.Operation
	ephemeral bool // the pods/ephemeralcontainers subresource
}

func (mc mutationCase) request(obj []byte) admission.Request {
	req := request(mc.op, mc.k, "w", string(obj), string(mc.old))
	if mc.ephemeral {
		req.SubResource = "ephemeralcontainers"
	}
	return req
}

// withoutNewEphemeral returns the pod with only its first keep ephemeral containers.
func withoutNewEphemeral(obj []byte, keep int) ([]byte, bool) {
	tree, err := tryDecodeTree(obj)
	if err != nil {
		return nil, false
	}
	root, ok := tree.(map[string]any)
	if !ok {
		return nil, false
	}
	spec, ok := root["spec"].(map[string]any)
	if !ok {
		return nil, false
	}
	if eph, ok := spec["ephemeralContainers"].([]any); ok && keep < len(eph) {
		spec["ephemeralContainers"] = eph[:keep]
	}
	old, err := json.Marshal(root)
	return old, err == nil
}

// servedChecks maps every check a mutation default serves to that default, and each of them
// to settings that run only that check (so no check supersedes another).
var servedChecks = sync.OnceValue(func() map[string]servedCheck {
	out := map[string]servedCheck{}
	for _, id := range checks.IDs() {
		def := policy.ServedBy(id)
		if def == "" {
			continue
		}
		s, err := checks.Compile(map[string]checks.Action{id: checks.Warn}, checks.Params{})
		if err != nil {
			panic(err)
		}
		out[id] = servedCheck{def: def, settings: s}
	}
	return out
})

type servedCheck struct {
	def      string
	settings *checks.Settings
}

var (
	policyMu    sync.Mutex
	policyCache = map[[2]byte]*policy.Snapshot{}
)

// fuzzPolicy returns the policy for two choice bytes: the nsa profile with the served checks
// enforced (high bit of a) or warned, the mutation defaults of nsa with those of the low
// seven bits of a (then of the high four bits of b, from the top) flipped, and one of three
// sets of resource values (the low four bits of b). Snapshots are cached: a fuzzing process
// asks for the same few hundred again and again.
func fuzzPolicy(t testing.TB, a, b byte) *policy.Snapshot {
	t.Helper()
	b = b&0xf0 | (b&0x0f)%3
	key := [2]byte{a, b}
	policyMu.Lock()
	defer policyMu.Unlock()
	if s, ok := policyCache[key]; ok {
		return s
	}
	action := policy.ActionValue(checks.Warn)
	if a&0x80 != 0 {
		action = policy.ActionValue(checks.Enforce)
	}
	doc := policy.Document{APIVersion: policy.APIVersion, Kind: policy.Kind, Profile: "nsa",
		Checks: map[string]policy.CheckOverride{}, Mutation: &policy.MutationSpec{Defaults: map[string]bool{}}}
	for id := range servedChecks() {
		doc.Checks[id] = policy.CheckOverride{Action: action}
	}
	nsa := mutate.NSADefaults()
	for i, name := range mutate.Names() {
		flip := a&(1<<i) != 0
		if i >= 7 {
			flip = b&(0x80>>(i-7)) != 0
		}
		doc.Mutation.Defaults[name] = nsa.Enabled(name) != flip
	}
	switch b & 0x0f {
	case 1:
		doc.Mutation.Resources = &policy.ResourceDefaults{
			Requests: &policy.CPUMemory{CPU: "1", Memory: "1Gi"}, Limits: &policy.CPUMemory{CPU: "2", Memory: "2Gi"}}
	case 2:
		doc.Mutation.Resources = &policy.ResourceDefaults{
			Requests: &policy.CPUMemory{CPU: "10m", Memory: "16Mi"}, Limits: &policy.CPUMemory{CPU: "10m", Memory: "16Mi"}}
	}
	s, err := policy.Parse(mustMarshal(t, doc), "fuzz-policy")
	if err != nil {
		t.Fatal(err)
	}
	policyCache[key] = s
	return s
}

// checkMutationInvariants runs mc through the Mutator (and the mutated object through the
// Validator) and checks every mutation invariant; see FuzzMutationInvariants.
func checkMutationInvariants(t *testing.T, snap *policy.Snapshot, mc mutationCase) {
	t.Helper()
	ctx := context.Background()
	opts := Options{Policy: policy.NewHolder(snap), Log: logr.Discard()}
	m, v := NewMutator(opts), NewValidator(opts)
	req := mc.request(mc.obj)
	resp := m.Handle(ctx, req)
	checkResponse(t, "mutate", resp.Allowed, resp.Result.Code, resp.Result.Message, resp.Warnings)
	vresp := v.Handle(ctx, req)
	checkResponse(t, "validate", vresp.Allowed, vresp.Result.Code, vresp.Result.Message, vresp.Warnings)
	if vresp.Result.Code == http.StatusBadRequest && resp.Result.Code != http.StatusBadRequest {
		t.Fatalf("the validator cannot read the request (%s), the mutator answered %d", vresp.Result.Message, resp.Result.Code)
	}
	if !resp.Allowed {
		return // an error, checked by checkResponse
	}
	mutated := resp.Result.Message == "" // else admitted without mutation, for that reason
	if !mutated && len(resp.Patches) > 0 {
		t.Fatalf("skipped (%s) with a patch", resp.Result.Message)
	}

	patched := mc.obj
	if len(resp.Patches) > 0 {
		if err := resp.Complete(req); err != nil {
			t.Fatal(err)
		}
		p, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("patch does not decode: %v: %s", err, resp.Patch)
		}
		for _, op := range resp.Patches {
			if op.Operation != "add" {
				t.Fatalf("operation %s %s: the mutation only adds", op.Operation, op.Path)
			}
		}
		if patched, err = p.Apply(mc.obj); err != nil {
			t.Fatalf("patch does not apply: %v\npatch %s\nobject %s", err, resp.Patch, mc.obj)
		}
	}
	under := pointerStrings(mc.k.pointer)
	if mc.ephemeral {
		under = append(under, "ephemeralContainers")
	}
	checkPatched(t, mc.obj, patched, under)

	gk := schema.GroupKind{Group: mc.k.group, Kind: mc.k.kind}
	pod, _, err := podspec.Decode(gk, patched)
	if err != nil {
		t.Fatalf("the mutated object does not decode: %v\n%s", err, patched)
	}
	var oldPod *podspec.Pod
	target := mutate.Target{}
	if len(mc.old) > 0 {
		if oldPod, _, err = podspec.Decode(gk, mc.old); err != nil {
			t.Fatalf("the old object does not decode: %v", err)
		}
	}
	if mc.ephemeral {
		target.EphemeralOnly, target.Existing = true, map[string]bool{}
		for _, c := range oldPod.Spec.EphemeralContainers {
			target.Existing[c.Name] = true
		}
	}
	if len(resp.Patches) > 0 {
		res, err := mutate.Patch(gk, mc.obj, snap.Mutation, target)
		if err != nil {
			t.Fatalf("Patch fails where the Mutator patched: %v", err)
		}
		own, err := json.Marshal(res.Patch)
		if err != nil {
			t.Fatal(err)
		}
		p, err := jsonpatch.DecodePatch(own)
		if err != nil {
			t.Fatalf("Patch's operations do not decode: %v: %s", err, own)
		}
		object, err := p.Apply(mc.obj)
		if err != nil {
			t.Fatalf("Patch's operations do not apply: %v\npatch %s\nobject %s", err, own, mc.obj)
		}
		if !jsonEqual(object, patched) || len(res.Patch) != len(resp.Patches) {
			t.Fatalf("Patch and the Mutator's patch disagree:\nPatch %s\npatched %s", object, patched)
		}
		// Every default set is listed: "bulwark set defaults in OWNER: field=value, ...".
		if _, dropped := splitTrailer(t, resp.Warnings); dropped == 0 {
			listed := 0
			for _, w := range resp.Warnings {
				set, isSet := strings.CutPrefix(w, "bulwark set defaults in ")
				if _, items, ok := strings.Cut(set, ": "); isSet && ok {
					listed += strings.Count(items, ", ") + 1
				}
			}
			if listed != len(res.Changes) {
				t.Fatalf("%d defaults set, %d listed in the warnings %q", len(res.Changes), listed, resp.Warnings)
			}
		}
	} else if slices.ContainsFunc(resp.Warnings, func(w string) bool { return !strings.HasPrefix(w, "bulwark: ") }) {
		// Only notes on a default held back ("bulwark: image ... was not pinned: ...").
		t.Fatalf("warnings without a patch: %q", resp.Warnings)
	}

	// Idempotent: the mutated object needs nothing more.
	again := m.Handle(ctx, mc.request(patched))
	if !again.Allowed || len(again.Patches) != 0 {
		t.Fatalf("mutating the mutated object again: allowed %v, %+v, patches %v\nobject %s", again.Allowed, again.Result, again.Patches, patched)
	}

	vAfter := v.Handle(ctx, mc.request(patched))
	checkResponse(t, "validate", vAfter.Allowed, vAfter.Result.Code, vAfter.Result.Message, vAfter.Warnings)
	if vAfter.Result.Code == http.StatusBadRequest {
		t.Fatalf("the validator cannot read the mutated object: %s\n%s", vAfter.Result.Message, patched)
	}
	if !mutated {
		return
	}

	model := &excuseModel{root: decodeTree(t, mc.obj), spec: pointerStrings(mc.k.pointer), ephemeral: mc.ephemeral, existing: target.Existing}
	// A defaulted request is at most the limit, a defaulted limit at least the request.
	after := &excuseModel{root: decodeTree(t, patched)}
	added := func(path ...string) bool { return model.get(path...) == nil && after.get(path...) != nil }
	pod.Containers(func(ct podspec.Container) bool {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := ct.Resources.Requests[name]
			lim, hasLim := ct.Resources.Limits[name]
			res := slices.Clip(append(ct.Pointer(), "resources"))
			defaulted := added(append(res, "requests", string(name))...) || added(append(res, "limits", string(name))...)
			if hasReq && hasLim && defaulted && req.Cmp(lim) > 0 {
				t.Errorf("%s: a defaulted %s request %s above the limit %s\nobject as sent %s\nmutated %s",
					ct.Path(), name, req.String(), lim.String(), mc.obj, patched)
			}
		}
		return true
	})
	// No served check reports what its default would have set, but where mutation steps aside.
	excused := map[string]bool{}
	for id, sc := range servedChecks() {
		if !snap.Mutation.Enabled(sc.def) {
			continue
		}
		vs := sc.settings.Evaluate(pod)
		if mc.ephemeral {
			vs = introduced(vs, sc.settings.Evaluate(oldPod))
		}
		for _, vi := range vs {
			ok, why := model.excused(vi)
			if !ok {
				t.Errorf("after mutation with %s on, check %s still reports %s: %s (%s)\nobject as sent %s\nmutated %s",
					sc.def, id, vi.Field, vi.Message, why, mc.obj, patched)
				continue
			}
			excused[id+" "+vi.Field] = true
		}
	}
	// The Validator agrees: whatever it denies or warns about for a served check is one of the
	// excused violations.
	lines := vAfter.Warnings
	if !vAfter.Allowed {
		lines = append(lines, strings.Split(vAfter.Result.Message, "\n")...)
	}
	for _, l := range lines {
		id, field, ok := violationLine(l)
		if !ok {
			continue
		}
		if sc, served := servedChecks()[id]; served && snap.Mutation.Enabled(sc.def) && !excused[id+" "+field] {
			t.Errorf("the validator reports %q after mutation with %s on\nmutated %s", l, sc.def, patched)
		}
	}
}

// violationLine splits "[check] field: message" (a denial line or a warning).
func violationLine(l string) (id, field string, ok bool) {
	rest, found := strings.CutPrefix(l, "[")
	if !found {
		return "", "", false
	}
	id, rest, found = strings.Cut(rest, "] ")
	if !found {
		return "", "", false
	}
	field, _, found = strings.Cut(rest, ": ")
	return id, field, found
}

// checkPatched checks the patched object against the object as sent: every value the user
// set is there unchanged, and everything added is below the path under.
func checkPatched(t *testing.T, obj, patched []byte, under []string) {
	t.Helper()
	before, err := tryDecodeTree(obj)
	if err != nil {
		t.Fatalf("the object as sent is not JSON, yet it was patched: %v", err)
	}
	after := decodeTree(t, patched)
	if err := preserved(before, after, ""); err != nil {
		t.Fatalf("the mutation changed a value the user set: %v\nobject as sent %s\nmutated %s", err, obj, patched)
	}
	additions(before, after, nil, func(path []string) {
		if len(path) < len(under) || !slices.Equal(path[:len(under)], under) {
			t.Fatalf("the mutation added %s, outside %s\nobject as sent %s\nmutated %s", mutate.Pointer(path), mutate.Pointer(under), obj, patched)
		}
	})
}

// preserved reports the first value of before that after lacks or changed: every non-null
// scalar must be in after at the same place and equal, every list with the same length, every
// object (even empty) an object. A null member is unset (the apiserver drops it), so a
// default may take its place.
func preserved(before, after any, path string) error {
	switch b := before.(type) {
	case nil:
		return nil
	case map[string]any:
		a, ok := after.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: an object became %s", orRoot(path), describeJSON(after))
		}
		for k, v := range b {
			if err := preserved(v, a[k], path+"/"+mutate.Pointer([]string{k})[1:]); err != nil {
				return err
			}
		}
	case []any:
		a, ok := after.([]any)
		if !ok || len(a) != len(b) {
			return fmt.Errorf("%s: a list of %d became %s", orRoot(path), len(b), describeJSON(after))
		}
		for i := range b {
			if err := preserved(b[i], a[i], path+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	default:
		if !reflect.DeepEqual(before, after) {
			return fmt.Errorf("%s: %v became %s", orRoot(path), before, describeJSON(after))
		}
	}
	return nil
}

// additions calls fn with the path of every member after has that before lacks (or holds as
// null), the outermost one only.
func additions(before, after any, path []string, fn func([]string)) {
	switch a := after.(type) {
	case map[string]any:
		b, _ := before.(map[string]any)
		for k, v := range a {
			p := append(slices.Clip(path), k)
			if old, ok := b[k]; !ok || old == nil {
				if v != nil {
					fn(p)
				}
				continue
			}
			additions(b[k], v, p, fn)
		}
	case []any:
		b, _ := before.([]any)
		for i := range min(len(a), len(b)) {
			additions(b[i], a[i], append(slices.Clip(path), strconv.Itoa(i)), fn)
		}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "the object"
	}
	return path
}

func describeJSON(v any) string {
	if v == nil {
		return "null (or missing)"
	}
	js, _ := json.Marshal(v)
	return string(js)
}

func jsonEqual(a, b []byte) bool {
	x, err1 := tryDecodeTree(a)
	y, err2 := tryDecodeTree(b)
	return err1 == nil && err2 == nil && reflect.DeepEqual(x, y)
}

// pointerStrings turns a kind's pod spec pointer into its segments.
func pointerStrings(p string) []string { return strings.Split(strings.TrimPrefix(p, "/"), "/") }

// excuseModel knows, from the object as sent, where mutation steps aside by design; it
// mirrors the exceptions documented in the README and docs/checks.md (and pkg/mutate's comments),
// each one narrowly, so that any other violation left after mutation fails the fuzzer.
type excuseModel struct {
	root      any      // the object as sent
	spec      []string // path of the pod spec
	ephemeral bool     // pods/ephemeralcontainers: only new ephemeral containers change
	existing  map[string]bool
}

var containerListKeys = []string{"initContainers", "containers", "ephemeralContainers"}

// get returns the value at path in the object as sent (nil when missing or null).
func (m *excuseModel) get(path ...string) any {
	cur := m.root
	for _, seg := range path {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func (m *excuseModel) specGet(path ...string) any {
	return m.get(append(slices.Clip(m.spec), path...)...)
}

func (m *excuseModel) windows() bool { return m.specGet("os", "name") == "windows" }

// containers returns every container of the object as sent, with its list.
func (m *excuseModel) containers() (out []struct {
	list string
	c    map[string]any
}) {
	for _, l := range containerListKeys {
		items, _ := m.specGet(l).([]any)
		for _, item := range items {
			if c, ok := item.(map[string]any); ok {
				out = append(out, struct {
					list string
					c    map[string]any
				}{l, c})
			}
		}
	}
	return out
}

// newEphemeral reports a container the ephemeral-containers mutation targets.
func (m *excuseModel) newEphemeral(list string, c map[string]any) bool {
	name, _ := c["name"].(string)
	return list == "ephemeralContainers" && !m.existing[name]
}

// runAs returns a securityContext's runAsUser and windowsOptions.runAsUserName.
func runAs(sc any) (uid, name any) {
	m, _ := sc.(map[string]any)
	win, _ := m["windowsOptions"].(map[string]any)
	return m["runAsUser"], win["runAsUserName"]
}

// isRoot: runAsUser 0, or the Windows administrator (mutation reads both the same way).
func isRoot(uid, name any) bool {
	zero := false
	if n, ok := uid.(json.Number); ok {
		f, err := n.Float64()
		zero = err == nil && f == 0
	}
	s, _ := name.(string)
	return zero || strings.EqualFold(s, "ContainerAdministrator")
}

// seccompAnnotationsAllow: every legacy annotation that applies is absent or agrees with
// RuntimeDefault.
func (m *excuseModel) seccompAnnotationsAllow(keys ...string) bool {
	meta := append(slices.Clip(m.spec[:len(m.spec)-1]), "metadata", "annotations")
	for _, k := range keys {
		switch m.get(append(slices.Clip(meta), k)...) {
		case nil, "runtime/default", "docker/default":
		default:
			return false
		}
	}
	return true
}

// parseField turns a violation's field path ("spec.containers[1].securityContext.x") into
// segments; ok is false for a path with a bracketed key.
func parseField(field string) (segs []string, ok bool) {
	for _, part := range strings.Split(field, ".") {
		name, rest, _ := strings.Cut(part, "[")
		segs = append(segs, name)
		for rest != "" {
			idx, after, found := strings.Cut(rest, "]")
			if !found {
				return nil, false
			}
			if _, err := strconv.Atoi(idx); err != nil {
				return nil, false
			}
			segs = append(segs, idx)
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs, true
}

// linuxOnly are the checks of the defaults that Windows pods do not get.
var linuxOnly = map[string]bool{
	"seccomp": true, "seccomp-required": true, "privilege-escalation": true,
	"drop-capabilities": true, "read-only-root-filesystem": true,
}

// excused reports whether a violation of a served check left after mutation is one the
// mutation leaves by design, and why (or why not).
func (m *excuseModel) excused(v checks.Violation) (bool, string) {
	segs, ok := parseField(v.Field)
	if !ok || len(segs) <= len(m.spec) || !slices.Equal(segs[:len(m.spec)], m.spec) {
		return false, "a field outside the pod spec"
	}
	if m.get(segs...) != nil {
		return true, "the user set the field"
	}
	if m.get(m.spec...) == nil {
		// A template without a pod spec: mutation has no spec to add defaults to, while the
		// checks read it as an empty one. No such object gets past the apiserver's own
		// validation (a pod needs containers), which runs before validating webhooks.
		return true, "no pod spec"
	}
	rel := segs[len(m.spec):]
	var ct map[string]any
	var list string
	if len(rel) >= 2 && slices.Contains(containerListKeys, rel[0]) {
		list = rel[0]
		ct, _ = m.get(segs[:len(m.spec)+2]...).(map[string]any)
	}
	if linuxOnly[v.Check] && m.windows() {
		return true, "a Windows pod gets no Linux-only defaults"
	}
	if ct != nil && m.ephemeral && !m.newEphemeral(list, ct) {
		return true, "the ephemeral-containers subresource changes only new ephemeral containers"
	}
	sc, _ := ct["securityContext"].(map[string]any)
	switch v.Check {
	case "seccomp", "seccomp-required":
		if rel[len(rel)-1] == "type" && m.get(segs[:len(segs)-1]...) != nil {
			return true, "the user set the seccompProfile"
		}
		if ct != nil {
			return false, "a container's seccomp profile it did not set"
		}
		if !m.ephemeral {
			if !m.seccompAnnotationsAllow("seccomp.security.alpha.kubernetes.io/pod") {
				return true, "a legacy seccomp annotation other than runtime/default"
			}
			return false, "the pod has no seccomp profile"
		}
		// The pod-level violation is new because new ephemeral containers inherit the pod's
		// missing profile: each must be one the mutation stepped aside for.
		for _, c := range m.containers() {
			name, _ := c.c["name"].(string)
			csc, _ := c.c["securityContext"].(map[string]any)
			if !m.newEphemeral(c.list, c.c) || csc["seccompProfile"] != nil {
				continue
			}
			if !m.seccompAnnotationsAllow("seccomp.security.alpha.kubernetes.io/pod", "container.seccomp.security.alpha.kubernetes.io/"+name) {
				return true, "a legacy seccomp annotation other than runtime/default on a new ephemeral container"
			}
		}
		return false, "a new ephemeral container inherits no seccomp profile"
	case "privilege-escalation":
		if sc["privileged"] == true {
			return true, "a privileged container"
		}
		caps, _ := sc["capabilities"].(map[string]any)
		add, _ := caps["add"].([]any)
		for _, a := range add {
			if s, ok := a.(string); ok && (strings.EqualFold(s, "SYS_ADMIN") || strings.EqualFold(s, "CAP_SYS_ADMIN")) {
				return true, "a container that adds SYS_ADMIN"
			}
		}
		return false, "allowPrivilegeEscalation was not set"
	case "run-as-non-root":
		if ct != nil {
			return false, "a container's runAsNonRoot it did not set"
		}
		podSC := m.specGet("securityContext")
		if !m.ephemeral {
			uid, name := runAs(podSC)
			if isRoot(uid, name) {
				return true, "the pod runs as root"
			}
			for _, c := range m.containers() {
				if uid, name := runAs(c.c["securityContext"]); isRoot(uid, name) {
					return true, "a container runs as root"
				}
			}
			return false, "runAsNonRoot was not set"
		}
		podUID, podName := runAs(podSC)
		for _, c := range m.containers() {
			csc, _ := c.c["securityContext"].(map[string]any)
			if !m.newEphemeral(c.list, c.c) || csc["runAsNonRoot"] != nil {
				continue
			}
			uid, name := runAs(csc)
			if uid == nil {
				uid = podUID
			}
			if name == nil {
				name = podName
			}
			if isRoot(uid, name) {
				return true, "a new ephemeral container runs as root"
			}
		}
		return false, "a new ephemeral container inherits no runAsNonRoot"
	case "resource-limits", "resource-requests":
		if m.specGet("resources") != nil {
			return true, "pod-level resources"
		}
		if v.Check == "resource-requests" && ct != nil {
			// A missing request takes the limit the user set, as the apiserver's defaulting
			// does; a limit of 0 gives a request of 0, which the check reports.
			res, _ := ct["resources"].(map[string]any)
			limits, _ := res["limits"].(map[string]any)
			if limits[rel[len(rel)-1]] != nil {
				return true, "the request follows the limit the user set"
			}
		}
		return false, "a request or limit was not set"
	case "drop-capabilities", "read-only-root-filesystem", "automount-service-account-token":
		return false, "the field was not set"
	case "image-digest":
		// The Mutator here has no image lookups (Options.Images), without which pin-digests
		// leaves every image as it is, with a note.
		return true, "images are not looked up"
	}
	return false, "FuzzMutationInvariants has no model of check " + v.Check + ": add one to excuseModel.excused"
}
