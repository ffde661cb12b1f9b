// Package yamljson converts YAML (go.yaml.in/yaml/v3 node trees, YAML 1.2) to JSON for
// decoding, and finds the line of a field path in the tree, so that decoding errors can name
// the line they are about. pkg/scan and pkg/policy share it.
package yamljson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LineError is a conversion problem at a line of the document.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// ToJSON converts a YAML node to compact JSON, keeping the key order. Scalars follow their
// resolved tag: strings, integers, floats, booleans and null as such; timestamps as the string
// written; binary values as the text they decode to. Aliases are expanded and merge keys (<<)
// merged, explicit keys winning over merged ones and earlier merged mappings over later ones.
// Mapping keys must be strings (see Options.KubectlKeys); duplicate keys, values JSON cannot
// hold (.inf, .nan), aliases that contain themselves and excessive aliasing (a "billion
// laughs" document) are errors, each a *LineError.
func ToJSON(n *yaml.Node) ([]byte, error) { return Options{}.ToJSON(n) }

// Options change how ToJSON reads scalars.
type Options struct {
	// YAML11Booleans reads a plain scalar (neither quoted nor tagged) that YAML 1.1 spells as
	// a boolean, y, yes, on, n, no, off in lower, Title or upper case, as true or false, the
	// way kubectl (sigs.k8s.io/yaml, go-yaml v2) reads manifests. YAML 1.2 reads them as strings.
	// Mapping keys are not affected unless KubectlKeys is set too.
	YAML11Booleans bool
	// KubectlKeys reads a mapping key that is an integer, a float or a boolean as the string
	// of its value (0x10: "16", yes: "true" with YAML11Booleans), as kubectl does; otherwise
	// such a key is an error. A null key is an error either way.
	KubectlKeys bool
}

// ToJSON is the package's ToJSON with the options of o.
func (o Options) ToJSON(n *yaml.Node) ([]byte, error) {
	c := converter{expanding: map[*yaml.Node]bool{}, opts: o}
	if err := c.value(n); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

type converter struct {
	buf       bytes.Buffer
	expanding map[*yaml.Node]bool // alias targets being expanded, to catch an alias inside its anchor
	inAlias   int                 // depth of alias expansion
	nodes     int                 // nodes converted
	aliased   int                 // nodes converted as part of an alias or merge
	opts      Options
}

func (c *converter) fail(n *yaml.Node, format string, args ...any) error {
	return &LineError{Line: n.Line, Err: fmt.Errorf(format, args...)}
}

// count guards against exponential alias expansion with the ratio yaml.v3 uses when it
// decodes into Go values.
func (c *converter) count(n *yaml.Node, aliased bool) error {
	c.nodes++
	if aliased || c.inAlias > 0 {
		c.aliased++
	}
	if c.aliased > 100 && c.nodes > 1000 && float64(c.aliased)/float64(c.nodes) > allowedAliasRatio(c.nodes) {
		return c.fail(n, "document contains excessive aliasing")
	}
	return nil
}

func allowedAliasRatio(nodes int) float64 {
	const low, high = 400000, 4000000
	switch {
	case nodes <= low:
		return 0.99
	case nodes >= high:
		return 0.10
	}
	return 0.99 - 0.89*float64(nodes-low)/float64(high-low)
}

// follow calls f with the target of alias n.
func (c *converter) follow(n *yaml.Node, f func(*yaml.Node) error) error {
	t := n.Alias
	if t == nil {
		return c.fail(n, "unknown anchor %q", n.Value)
	}
	if c.expanding[t] {
		return c.fail(n, "alias *%s is used inside its own anchor", n.Value)
	}
	c.expanding[t] = true
	c.inAlias++
	err := f(t)
	c.inAlias--
	delete(c.expanding, t)
	return err
}

func (c *converter) value(n *yaml.Node) error {
	if err := c.count(n, false); err != nil {
		return err
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.follow(n, c.value)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			c.buf.WriteString("null")
			return nil
		}
		return c.value(n.Content[0])
	case yaml.MappingNode:
		entries, err := c.entries(n)
		if err != nil {
			return err
		}
		c.buf.WriteByte('{')
		for i, e := range entries {
			if i > 0 {
				c.buf.WriteByte(',')
			}
			writeString(&c.buf, e.key)
			c.buf.WriteByte(':')
			if err := c.value(e.value); err != nil {
				return err
			}
		}
		c.buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		c.buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				c.buf.WriteByte(',')
			}
			if err := c.value(item); err != nil {
				return err
			}
		}
		c.buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return c.fail(n, "unsupported YAML node")
}

func (c *converter) scalar(n *yaml.Node) error {
	if c.opts.YAML11Booleans && n.Style == 0 {
		if b, ok := yaml11Bools[n.Value]; ok && n.ShortTag() == "!!str" {
			c.buf.WriteString(strconv.FormatBool(b))
			return nil
		}
	}
	switch n.ShortTag() {
	case "!!null":
		c.buf.WriteString("null")
	case "!!bool":
		if b, ok := yaml11Bools[n.Value]; ok && c.opts.YAML11Booleans {
			c.buf.WriteString(strconv.FormatBool(b)) // !!bool yes
			return nil
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return c.fail(n, "invalid boolean %q", n.Value)
		}
		c.buf.WriteString(strconv.FormatBool(b))
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			return c.fail(n, "invalid integer %q", n.Value)
		}
		switch x := v.(type) {
		case int:
			c.buf.WriteString(strconv.Itoa(x))
		case int64:
			c.buf.WriteString(strconv.FormatInt(x, 10))
		case uint64:
			c.buf.WriteString(strconv.FormatUint(x, 10))
		case float64:
			return c.float(n, x)
		default:
			return c.fail(n, "invalid integer %q", n.Value)
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return c.fail(n, "invalid number %q", n.Value)
		}
		return c.float(n, f)
	case "!!binary": // the bytes it encodes, as kubectl reads it
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			return c.fail(n, "invalid base64 in !!binary: %v", err)
		}
		writeString(&c.buf, string(b))
	default: // !!str, !!timestamp and tags of the user's own: the text as written
		writeString(&c.buf, n.Value)
	}
	return nil
}

// yaml11Bools are the booleans of YAML 1.1 that YAML 1.2 reads as strings, as go-yaml v2
// resolves them (true, True, TRUE and the false ones are booleans in both).
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

func (c *converter) float(n *yaml.Node, f float64) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return c.fail(n, "%s cannot be represented in JSON", n.Value)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return c.fail(n, "%v", err)
	}
	c.buf.Write(b)
	return nil
}

// writeString writes s as a JSON string, without the HTML escaping of json.Marshal.
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode's newline
}

type entry struct {
	key   string
	value *yaml.Node
}

func isMergeKey(k *yaml.Node) bool { return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" }

// entries lists a mapping's keys and values in order, with merge keys expanded in place.
func (c *converter) entries(m *yaml.Node) ([]entry, error) {
	explicit := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if isMergeKey(k) {
			continue
		}
		key, err := c.key(k)
		if err != nil {
			return nil, err
		}
		if prev, dup := explicit[key]; dup {
			return nil, c.fail(k, "mapping key %q already defined at line %d", key, prev.Line)
		}
		explicit[key] = k
	}
	out := make([]entry, 0, len(m.Content)/2)
	merged := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !isMergeKey(k) {
			key, _ := c.key(k)
			out = append(out, entry{key: key, value: v})
			continue
		}
		add := func(src *yaml.Node) error {
			if src.Kind != yaml.MappingNode {
				return c.fail(src, "the merge key << takes a mapping or a list of mappings, found %s", Describe(src))
			}
			sub, err := c.entries(src)
			if err != nil {
				return err
			}
			for _, e := range sub {
				if explicit[e.key] == nil && !merged[e.key] {
					if err := c.count(src, true); err != nil {
						return err
					}
					merged[e.key] = true
					out = append(out, e)
				}
			}
			return nil
		}
		addAny := func(n *yaml.Node) error {
			if n.Kind == yaml.AliasNode {
				return c.follow(n, add)
			}
			return add(n)
		}
		var err error
		if v.Kind == yaml.SequenceNode { // as in yaml.v3: a list written here, not an alias to one
			for _, item := range v.Content {
				if err = addAny(item); err != nil {
					break
				}
			}
		} else {
			err = addAny(v)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// key returns a mapping key, which must be a string.
func (c *converter) key(k *yaml.Node) (string, error) {
	n := k
	if n.Kind == yaml.AliasNode {
		n = Deref(n)
	}
	if n == nil {
		return "", c.fail(k, "mapping keys must be strings, found %s", Describe(k))
	}
	if n.Kind != yaml.ScalarNode {
		return "", c.fail(k, "mapping keys must be strings, found %s", Describe(n))
	}
	tag := n.ShortTag()
	if c.opts.KubectlKeys {
		switch {
		case tag == "!!str" && n.Style == 0 && c.opts.YAML11Booleans:
			if b, ok := yaml11Bools[n.Value]; ok {
				return strconv.FormatBool(b), nil
			}
		case tag == "!!int", tag == "!!float", tag == "!!bool":
			sub := converter{opts: c.opts}
			if err := sub.scalar(n); err != nil {
				return "", err
			}
			return sub.buf.String(), nil
		}
	}
	if tag != "!!str" {
		return "", c.fail(k, "mapping keys must be strings, found %s (%s)", n.Value, strings.TrimPrefix(tag, "!!"))
	}
	return n.Value, nil
}

// Deref follows aliases to the node they name.
func Deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// Lookup finds key in mapping m (explicit keys first, then merged mappings in order) and
// returns its key and value nodes, or nils. It is for documents ToJSON accepted, so it need
// not guard against every malformation, only against endless recursion.
func Lookup(m *yaml.Node, key string) (k, v *yaml.Node) { return lookupDepth(Deref(m), key, 0) }

func lookupDepth(m *yaml.Node, key string, depth int) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode || depth > 50 {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if isMergeKey(k) {
			continue
		}
		if dk := Deref(k); dk != nil && dk.Kind == yaml.ScalarNode && dk.Value == key {
			return k, m.Content[i+1]
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) {
			continue
		}
		v := Deref(m.Content[i+1])
		srcs := []*yaml.Node{v}
		if v != nil && v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		for _, src := range srcs {
			if k, v := lookupDepth(Deref(src), key, depth+1); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}
