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

// object is a JSON object of the skeleton (see skeleton), reached from the document root. m
// is nil while the object is not there (the key is missing or null): the first write below it
// creates it, and its missing parents.
type object struct {
	m      map[string]any
	parent *object
	key    string // key in parent
	// index is the object's position in the list under key when it is a list's element
	// (a container), -1 for a member.
	index    int
	children map[string]*object
	// created is set when materialize made the object: it was missing (or null) in the
	// document as received.
	created bool
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

// child returns the object under key, which may not exist yet. The skeleton holds objects
// only where the defaults descend.
func (o *object) child(key string) *object {
	if c, ok := o.children[key]; ok {
		return c
	}
	c := &object{parent: o, key: key, index: -1}
	c.m, _ = o.get(key).(map[string]any)
	if o.children == nil {
		o.children = map[string]*object{}
	}
	o.children[key] = c
	return c
}

// materialize creates the object, and its missing parents, in the working copy.
func (o *object) materialize() map[string]any {
	if o.m == nil {
		p := o.parent.materialize()
		o.m = map[string]any{}
		o.created = true
		p[o.key] = o.m
	}
	return o.m
}

// list returns the list under key, nil when missing or null.
func (o *object) list(key string) []any {
	l, _ := o.get(key).([]any)
	return l
}

// pointer returns the JSON pointer segments from the document root to o. Paths are only
// needed for what a default writes, so they are worked out then rather than for every object
// the defaults look at.
func (o *object) pointer() []string {
	if o.parent == nil {
		return nil
	}
	if o.index >= 0 {
		return appendSeg(o.parent.pointer(), o.key, strconv.Itoa(o.index))
	}
	return appendSeg(o.parent.pointer(), o.key)
}

// fieldPath returns o's dotted field path, e.g. spec.containers[0].securityContext.
func (o *object) fieldPath() string {
	if o.parent == nil {
		return ""
	}
	f := joinField(o.parent.fieldPath(), o.key)
	if o.index >= 0 {
		f += "[" + strconv.Itoa(o.index) + "]"
	}
	return f
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

// mutator records the writes made to the skeleton, in order. What the object held when
// received is told by the objects' created flags.
type mutator struct {
	// writes holds, per write, the path that its add operation adds: the outermost member on
	// the way to the write that was missing (or null) in the document as received.
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
	// The key was missing or null (or it would hold a value); the objects this mutation
	// created on the way were too, and the outermost of them is what the operation adds.
	outer := (*object)(nil)
	for c := o; c != nil && c.created; c = c.parent {
		outer = c
	}
	var path []string
	if outer != nil {
		path = outer.pointer()
	} else {
		path = appendSeg(o.pointer(), key)
	}
	m.writes = append(m.writes, path)
	m.changes = append(m.changes, Change{Default: def, Field: joinField(o.fieldPath(), key), Value: rendered})
	return true
}

// patch turns the recorded writes into add operations valid against the original document:
// each operation adds the outermost missing (or null) member on the way to a write, with
// everything written below it (taken from doc, the document after every write), and no path
// is added twice.
func (m *mutator) patch(doc any) []Operation {
	var ops []Operation
	done := map[string]bool{}
	var b strings.Builder
	for _, path := range m.writes {
		// A path is covered when it or one of its prefixes was added already.
		b.Reset()
		covered := false
		for _, seg := range path {
			b.WriteByte('/')
			b.WriteString(pointerEscaper.Replace(seg))
			if covered = done[b.String()]; covered {
				break
			}
		}
		if covered {
			continue
		}
		p := b.String()
		done[p] = true
		ops = append(ops, Operation{Op: "add", Path: p, Value: lookup(doc, path)})
	}
	return ops
}

// apply applies add operations, as PatchPod returns them, to doc, a decoded JSON document:
// each adds a member to an object that is there.
func apply(doc any, ops []Operation) error {
	for _, op := range ops {
		segs, err := ParsePointer(op.Path)
		if err != nil {
			return err
		}
		if op.Op != "add" || len(segs) == 0 {
			return fmt.Errorf("%s %s: only adding a member is supported", op.Op, op.Path)
		}
		parent, ok := lookup(doc, segs[:len(segs)-1]).(map[string]any)
		if !ok {
			return fmt.Errorf("%s %s: the parent is not an object in the document", op.Op, op.Path)
		}
		parent[segs[len(segs)-1]] = op.Value
	}
	return nil
}

// firstMissing returns the length of the shortest prefix of path that is missing or null in
// doc. (The tests check the operations against the original document with it.)
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

// decodeMember decodes a JSON object for a mutation that writes only below its member key:
// that member is decoded as decode does, while every other member stays raw JSON
// (json.RawMessage), which encodes back as it came. So metadata such as managedFields and the
// last-applied-configuration annotation, often half of what the apiserver sends, is never
// turned into maps.
func decodeMember(data []byte, key string) (map[string]any, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	out := make(map[string]any, len(members))
	for k, raw := range members {
		out[k] = raw
	}
	if raw, ok := members[key]; ok {
		v, err := decode(raw)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return out, nil
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
