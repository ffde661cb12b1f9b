package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"

	"github.com/bulwark-k8s/bulwark/internal/yamljson"
)

// Error is an invalid policy: every problem found in it, in the order of their lines.
type Error struct {
	// Source names the policy: a file path, "profile nsa", or "<path>: data.policy.yaml" for
	// the policy.yaml key of a ConfigMap manifest.
	Source string
	// Embedded is "data.policy.yaml" when the problems are about the policy text held in a
	// ConfigMap manifest: their lines then count from the first line of that text.
	Embedded string
	// Problems lists every problem, ordered by line.
	Problems []Problem
}

// Problem is one mistake in a policy document.
type Problem struct {
	// Line is the 1-based line the problem is about (the key of the field, or its nearest
	// ancestor that exists); 0 when there is no document (a built-in profile).
	Line int
	// Field is the field path, e.g. "namespaces.rules[0].selector"; "" for the whole document.
	Field string
	// Message describes the problem, naming the field: `checks.host-nework: unknown check
	// ID (known: ...)`, `unknown field "namespaces.rules[0].selctor"`.
	Message string
}

// Error renders the problem as "line 12: <message>".
func (p Problem) Error() string {
	if p.Line > 0 {
		return "line " + strconv.Itoa(p.Line) + ": " + p.Message
	}
	return p.Message
}

// Error renders every problem on its own line below a header:
//
//	invalid policy deploy/policy.yaml (2 errors):
//	  line 3: profile: unknown profile "strict" (want one of nsa, baseline, restricted)
//	  line 7: unknown field "namespaces.rules[0].selctor"
//
// and, for a ConfigMap manifest, "  data.policy.yaml line 4: ...".
func (e *Error) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "invalid policy %s (%d %s):", e.Source, n, plural(n, "error", "errors"))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		if e.Embedded != "" && p.Line > 0 {
			b.WriteString(e.Embedded + " ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// problems collects the problems of one document.
type problems struct {
	list []Problem
}

// add records a problem at field, with the message "field: <text>".
func (ps *problems) add(field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	ps.list = append(ps.list, Problem{Field: field, Message: msg})
}

// addMessage records a problem whose message names the field itself.
func (ps *problems) addMessage(field, msg string) {
	ps.list = append(ps.list, Problem{Field: field, Message: msg})
}

// join appends key to a field path, in brackets when the key holds anything but letters,
// digits, '-', '_' and '/' (e.g. a label key with dots: matchLabels[app.kubernetes.io/name]).
func join(path, key string) string {
	if strings.IndexFunc(key, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '/')
	}) >= 0 {
		return path + "[" + key + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// within reports whether field is path or below it.
func within(field, path string) bool {
	if path == "" || field == path {
		return true
	}
	return strings.HasPrefix(field, path) && (field[len(path)] == '.' || field[len(path)] == '[')
}

// parsed is one YAML document: its node tree and its content as generic JSON values.
type parsed struct {
	root  *yaml.Node // the document's top node; nil for an empty document
	value any        // map[string]any, []any, string, json.Number, bool or nil
}

// parseYAML reads the single YAML (or JSON) document in data. YAML 1.2 applies (yaml.v3): an
// unquoted off is the string "off". A failure is returned as one problem at its line.
func parseYAML(data []byte) (*parsed, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return &parsed{}, nil
		}
		line, msg := yamljson.ErrorLine(data, err)
		return nil, &Problem{Line: max(line, 1), Message: msg}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		line, msg := yamljson.ErrorLine(data, err)
		return nil, &Problem{Line: max(line, 1), Message: msg}
	case len(next.Content) > 0 && !(next.Content[0].Kind == yaml.ScalarNode && next.Content[0].ShortTag() == "!!null"):
		return nil, &Problem{Line: next.Content[0].Line, Message: "a second YAML document: a policy file holds one document (apiVersion bulwark.dev/v1alpha1, kind Policy), or one ConfigMap holding it"}
	}
	if len(doc.Content) == 0 {
		return &parsed{}, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" && root.Value == "" {
		// An empty document ("---" alone), whose null yaml.v3 places on the line after the
		// separator, which may be past the end of the text.
		return &parsed{}, nil
	}
	js, err := yamljson.ToJSON(root)
	if err != nil {
		var le *yamljson.LineError
		if errors.As(err, &le) {
			return nil, &Problem{Line: max(le.Line, 1), Message: le.Err.Error()}
		}
		return nil, &Problem{Line: max(root.Line, 1), Message: err.Error()}
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, &Problem{Line: max(root.Line, 1), Message: err.Error()}
	}
	return &parsed{root: root, value: v}, nil
}

// lineOf returns the line of field in the document (1 for an empty document).
func (p *parsed) lineOf(field string) int {
	if p.root == nil {
		return 1
	}
	return max(yamljson.LineOf(p.root, p.root.Line, field), 1)
}

// typeCheck walks a generic JSON value against the Go type it will be decoded into, and
// returns the value with every unknown field and every value of the wrong type removed (a
// list item of the wrong type becomes null, so the items keep their indexes). Each removal is
// a problem; the paths of the values of the wrong type are added to bad, so that the checks
// of the content do not report them a second time.
type typeCheck struct {
	ps  *problems
	bad []string
}

var (
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
	fielderType = reflect.TypeFor[fielder]()
)

// fielder is a mapping type whose keys are not all Go fields (a check override's parameters
// are declared by the checks): fields gives every key it may hold and the key's type.
type fielder interface {
	fields() map[string]reflect.Type
}

func (c *typeCheck) value(v any, t reflect.Type, path string) (any, bool) {
	if v == nil {
		return nil, true
	}
	if t.Implements(fielderType) {
		return c.mapping(v, known(reflect.Zero(t).Interface().(fielder).fields()), path)
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		raw, _ := json.Marshal(v)
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			c.fail(path, err.Error())
			return nil, false
		}
		return v, true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.value(v, t.Elem(), path)
	case reflect.String:
		if _, ok := v.(string); !ok {
			c.fail(path, "expected a string, found "+describe(v))
			return nil, false
		}
	case reflect.Bool:
		switch x := v.(type) {
		case bool:
		case string:
			// YAML 1.1 spellings, which Kubernetes manifests (and earlier versions of this
			// policy format) accept.
			b, ok := yaml11Bools[x]
			if !ok {
				c.fail(path, "expected true or false, found "+describe(v))
				return nil, false
			}
			return b, true
		default:
			c.fail(path, "expected true or false, found "+describe(v))
			return nil, false
		}
	case reflect.Int, reflect.Int64:
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			c.fail(path, "expected a whole number, found "+describe(v))
			return nil, false
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			c.fail(path, "expected a list, found "+describe(v))
			return nil, false
		}
		out := make([]any, len(list))
		for i, item := range list {
			out[i], _ = c.value(item, t.Elem(), index(path, i))
		}
		return out, true
	case reflect.Map:
		return c.mapping(v, func(string) (reflect.Type, bool) { return t.Elem(), true }, path)
	case reflect.Struct:
		return c.mapping(v, known(jsonFields(t)), path)
	}
	return v, true
}

// known looks a key up in fields.
func known(fields map[string]reflect.Type) func(string) (reflect.Type, bool) {
	return func(k string) (reflect.Type, bool) {
		t, ok := fields[k]
		return t, ok
	}
}

// mapping checks a mapping whose keys typeOf gives the type of (false: an unknown field).
func (c *typeCheck) mapping(v any, typeOf func(string) (reflect.Type, bool), path string) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(path, "expected a mapping, found "+describe(v))
		return nil, false
	}
	out := make(map[string]any, len(m))
	for _, k := range sortedKeys(m) {
		f, known := typeOf(k)
		if !known {
			c.ps.addMessage(join(path, k), fmt.Sprintf("unknown field %q", join(path, k)))
			continue
		}
		if x, ok := c.value(m[k], f, join(path, k)); ok {
			out[k] = x
		}
	}
	return out, true
}

func (c *typeCheck) fail(path, msg string) {
	c.ps.add(path, "%s", msg)
	c.bad = append(c.bad, path)
}

var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"True": true, "TRUE": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
	"False": false, "FALSE": false,
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// describe names a generic JSON value for messages: `the number 5`, `a list`.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case json.Number:
		return "the number " + x.String()
	case bool:
		return "the boolean " + strconv.FormatBool(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", v)
}

// decodeDocument type-checks the parsed document and decodes what is well-typed into a
// Document. It returns the paths that had values of the wrong type.
func decodeDocument(p *parsed, ps *problems) (*Document, []string) {
	var doc Document
	v := p.value
	if v == nil {
		v = map[string]any{}
	}
	if _, ok := v.(map[string]any); !ok {
		ps.addMessage("", "expected a policy document (a mapping with apiVersion bulwark.dev/v1alpha1 and kind Policy), found "+describe(v))
		return nil, []string{""}
	}
	c := typeCheck{ps: ps}
	clean, _ := c.value(v, reflect.TypeFor[Document](), "")
	js, err := json.Marshal(clean)
	if err == nil {
		var strictErrs []error
		strictErrs, err = kjson.UnmarshalStrict(js, &doc)
		if err == nil && len(strictErrs) > 0 {
			err = strictErrs[0]
		}
	}
	if err != nil {
		// The type check should have caught everything the decoder rejects.
		ps.addMessage("", err.Error())
		return nil, append(c.bad, "")
	}
	return &doc, c.bad
}

// finish drops the problems of the content that are about values already reported as being
// of the wrong type (or about their parents, whose content is then incomplete), fills in the
// lines, and orders the problems by line.
func finish(p *parsed, ps *problems, decodeProblems int, bad []string) []Problem {
	var out []Problem
	for i, pr := range ps.list {
		if i >= decodeProblems && pr.Line == 0 {
			skip := false
			for _, b := range bad {
				if within(pr.Field, b) || within(b, pr.Field) {
					skip = true
					break
				}
			}
			if skip {
				continue
			}
		}
		if pr.Line == 0 {
			pr.Line = p.lineOf(pr.Field)
		}
		out = append(out, pr)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}
