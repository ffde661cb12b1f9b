package mutate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// object is a JSON object of the working copy, reached from the document root. m is nil while
// the object is not there (the key is missing or null): the first write below it creates it,
// and its missing parents, in the working copy.
type object struct {
	m        map[string]any
	parent   *object
	key      string   // key in parent
	ptr      []string // JSON pointer segments from the document root
	field    string   // dotted field path, e.g. spec.containers[0].securityContext
	children map[string]*object
}

// exists reports whether the object is there (present and not null).
func (o *object) exists() bool { return o.m != nil }

// get returns the value under key, nil when it is missing or null.
func (o *object) get(key string) any {
	if o.m == nil {
		return nil
	}
	return o.m[key]
}

// child returns the object under key, which may not exist yet. It is an error for the value
// under key to be anything but an object or null.
func (o *object) child(key string) (*object, error) {
	if c, ok := o.children[key]; ok {
		return c, nil
	}
	c := &object{parent: o, key: key, ptr: appendSeg(o.ptr, key), field: joinField(o.field, key)}
	switch v := o.get(key).(type) {
	case nil:
	case map[string]any:
		c.m = v
	default:
		return nil, fmt.Errorf("%s is not an object", c.field)
	}
	if o.children == nil {
		o.children = map[string]*object{}
	}
	o.children[key] = c
	return c, nil
}

// materialize creates the object, and its missing parents, in the working copy.
func (o *object) materialize() map[string]any {
	if o.m == nil {
		p := o.parent.materialize()
		o.m = map[string]any{}
		p[o.key] = o.m
	}
	return o.m
}

// list returns the list under key (nil when missing or null), or an error when the value is
// something else.
func (o *object) list(key string) ([]any, error) {
	switch v := o.get(key).(type) {
	case nil:
		return nil, nil
	case []any:
		return v, nil
	default:
		return nil, fmt.Errorf("%s is not a list", joinField(o.field, key))
	}
}

func joinField(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func appendSeg(ptr []string, seg ...string) []string {
	return append(append(make([]string, 0, len(ptr)+len(seg)), ptr...), seg...)
}

// mutator records the writes made to the working copy, in order.
type mutator struct {
	orig    any // the document as received; never written
	writes  [][]string
	changes []Change
}

// add sets o[key] = value unless the key already holds a non-null value, and records the
// change of default def, rendered as rendered. It reports whether it wrote.
func (m *mutator) add(def string, o *object, key string, value any, rendered string) bool {
	if o.get(key) != nil {
		return false
	}
	o.materialize()[key] = value
	m.writes = append(m.writes, appendSeg(o.ptr, key))
	m.changes = append(m.changes, Change{Default: def, Field: joinField(o.field, key), Value: rendered})
	return true
}

// patch turns the recorded writes into add operations valid against the original document:
// each operation adds the outermost missing (or null) member on the way to a write, with
// everything written below it, and no path is added twice.
func (m *mutator) patch(work any) []Operation {
	var ops []Operation
	done := map[string]bool{}
	for _, w := range m.writes {
		path := w[:firstMissing(m.orig, w)]
		covered := false
		for i := 1; i <= len(path) && !covered; i++ {
			covered = done[Pointer(path[:i])]
		}
		if covered {
			continue
		}
		p := Pointer(path)
		done[p] = true
		ops = append(ops, Operation{Op: "add", Path: p, Value: lookup(work, path)})
	}
	return ops
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

func lookup(doc any, path []string) any {
	cur := doc
	for _, seg := range path {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[seg]
		case []any:
			n, _ := strconv.Atoi(seg)
			cur = c[n]
		}
	}
	return cur
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// Pointer renders path segments as an RFC 6901 JSON pointer: "/" + segments joined by "/",
// with "~" escaped as "~0" and "/" as "~1".
func Pointer(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(s))
	}
	return b.String()
}

// ParsePointer splits an RFC 6901 JSON pointer into its unescaped segments.
func ParsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", p)
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		for j := 0; j < len(s); j++ {
			if s[j] == '~' && (j+1 == len(s) || (s[j+1] != '0' && s[j+1] != '1')) {
				return nil, fmt.Errorf("JSON pointer %q has an invalid ~ escape", p)
			}
		}
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return segs, nil
}

// decode decodes one JSON value, keeping numbers as json.Number so they survive as written.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding object: data after the JSON value")
	}
	return v, nil
}

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func deepCopy(v any) any {
	switch c := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(c))
		for k, e := range c {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(c))
		for i, e := range c {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v // string, json.Number, bool, nil: immutable
	}
}

// isZero reports whether v is the JSON number 0.
func isZero(v any) bool {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return err == nil && f == 0
	case float64:
		return n == 0
	}
	return false
}
