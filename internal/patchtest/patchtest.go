// Package patchtest applies the mutation's JSON Patch operations to an object in tests, with
// the JSON Patch implementation the apiserver uses (evanphx/json-patch), so that the tests
// judge what a cluster would store, not what the mutation meant to write.
package patchtest

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	gomodules "gomodules.xyz/jsonpatch/v2"
)

// Apply returns obj with ops applied; obj itself when there are none. HTML characters are
// not escaped, so that what the patch does not touch comes out byte for byte. A patch that
// does not decode or apply fails the test.
func Apply(t testing.TB, obj []byte, ops []gomodules.Operation) []byte {
	t.Helper()
	if len(ops) == 0 {
		return obj
	}
	js, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(js)
	if err != nil {
		t.Fatalf("the patch does not decode: %v: %s", err, js)
	}
	opts := jsonpatch.NewApplyOptions()
	opts.EscapeHTML = false
	out, err := patch.ApplyWithOptions(obj, opts)
	if err != nil {
		t.Fatalf("the patch does not apply: %v\npatch %s\nobject %s", err, js, obj)
	}
	return out
}
