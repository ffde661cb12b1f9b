package mutate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/internal/patchtest"
)

// mutateJSON returns Patch's result for obj, and obj with the patch applied by
// evanphx/json-patch as an apiserver applies it (obj itself when there are no operations).
// HTML characters are not escaped, so that what the patch does not touch comes out byte for
// byte.
func mutateJSON(t *testing.T, gk schema.GroupKind, obj []byte, opts *Options, target Target) (*Result, []byte) {
	t.Helper()
	res, err := Patch(gk, obj, opts, target)
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	return res, patchtest.Apply(t, obj, res.Patch)
}

// decode decodes one JSON value, keeping numbers as json.Number so they compare as written.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// firstMissing returns the length of the shortest prefix of path that is missing or null in
// doc.
func firstMissing(doc any, path []string) int {
	cur := doc
	for i, seg := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok || v == nil {
				return i + 1
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(c) {
				return i + 1
			}
			cur = c[n]
		default:
			return i + 1
		}
	}
	return len(path)
}

// lookup returns the value at path in doc, nil when it is missing or null.
func lookup(doc any, path []string) any {
	cur := doc
	for _, seg := range path {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[seg]
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(c) {
				return nil
			}
			cur = c[n]
		default:
			return nil
		}
	}
	return cur
}
