package admission

import (
	"context"
	"net/http"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// FuzzHandlers feeds arbitrary objects to both handlers. `go test` runs the seeds; run
// `go test -fuzz FuzzHandlers ./pkg/admission/` to search further. Properties: no panic; a
// response is 200 allowed, 403 denied or 400 errored with a message; warnings fit the
// apiserver's limits; a patch applies to the object, and mutating its result again adds
// nothing.
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
