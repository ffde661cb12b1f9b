package mutate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// apply applies add operations, as PatchPod returns them, to doc, a decoded JSON document:
// each adds a member to an object that is there.
func apply(doc any, ops []Operation) error {
	for _, op := range ops {
		segs, err := ParsePointer(op.Path)
		if err != nil {
			return err
		}
		if op.Operation != "add" || len(segs) == 0 {
			return fmt.Errorf("%s %s: only adding a member is supported", op.Operation, op.Path)
		}
		parent, ok := lookup(doc, segs[:len(segs)-1]).(map[string]any)
		if !ok {
			return fmt.Errorf("%s %s: the parent is not an object in the document", op.Operation, op.Path)
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
