package mutate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ApplyYAML applies add and replace operations (as Patch returns them) to a YAML node tree,
// for printing manifests as the webhook would admit them. What the user wrote keeps its key
// order and comments; a new key is appended at the end of its mapping, and a replaced scalar
// keeps its quoting style. Keys that a merge key
// (<<) supplies and aliases on the way to a change are expanded in place first, so the change
// lands on this path only, as it does in the JSON. doc may be a document node or its content.
//
// Merge keys lose their explicit !!merge tag, which the yaml/v3 encoder would otherwise print
// as "!!merge <<:" where the user wrote "<<:"; they stay merge keys.
func ApplyYAML(doc *yaml.Node, ops []Operation) error {
	if doc == nil {
		return fmt.Errorf("no YAML document")
	}
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) != 1 {
			return fmt.Errorf("empty YAML document")
		}
		root = root.Content[0]
	}
	untagMergeKeys(root)
	for _, op := range ops {
		if err := applyYAMLOp(root, op); err != nil {
			return fmt.Errorf("%s %s: %w", op.Operation, op.Path, err)
		}
	}
	return nil
}

func applyYAMLOp(root *yaml.Node, op Operation) error {
	if op.Operation != "add" && op.Operation != "replace" {
		return fmt.Errorf("unsupported operation %q", op.Operation)
	}
	segs, err := ParsePointer(op.Path)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("cannot replace the whole document")
	}
	parent := root
	path := []*yaml.Node{root}
	for i, seg := range segs[:len(segs)-1] {
		next, err := yamlStep(parent, seg)
		if err != nil {
			return err
		}
		if next == nil {
			return fmt.Errorf("%s does not exist", Pointer(segs[:i+1]))
		}
		parent = next
		path = append(path, next)
	}
	value, err := toYAML(op.Value)
	if err != nil {
		return err
	}
	last := segs[len(segs)-1]
	unalias(parent)
	if op.Operation == "replace" {
		return replaceYAML(root, path, parent, last, value)
	}
	expandAliasesOf(root, path)
	switch parent.Kind {
	case yaml.MappingNode:
		if v := mappingValue(parent, last); v != nil {
			// RFC 6902 add replaces an existing member (Patch only does so for null).
			value.HeadComment, value.LineComment, value.FootComment = v.HeadComment, v.LineComment, v.FootComment
			*v = *value
			return nil
		}
		if len(parent.Content) == 0 {
			parent.Style &^= yaml.FlowStyle // {} becomes a block mapping, unless inside a flow
		}
		parent.Content = append(parent.Content, stringNode(last), value)
	case yaml.SequenceNode:
		n := len(parent.Content)
		if last != "-" {
			if n, err = index(last, len(parent.Content)+1); err != nil {
				return err
			}
		}
		if len(parent.Content) == 0 {
			parent.Style &^= yaml.FlowStyle
		}
		parent.Content = append(parent.Content[:n], append([]*yaml.Node{value}, parent.Content[n:]...)...)
	default:
		return fmt.Errorf("parent is not a mapping or a sequence")
	}
	return nil
}

// expandAliasesOf expands the aliases, anywhere below root, of the nodes a change goes
// through (or replaces): they must keep what they referred to.
func expandAliasesOf(root *yaml.Node, nodes []*yaml.Node) {
	anchored := map[*yaml.Node]bool{}
	for _, n := range nodes {
		if n.Anchor != "" {
			anchored[n] = true
		}
	}
	if len(anchored) > 0 {
		expandAliases(root, anchored)
	}
}

// replaceYAML replaces the member last of parent, which must exist (as RFC 6902 requires), by
// value, keeping its comments and, from scalar to scalar, its style.
func replaceYAML(root *yaml.Node, path []*yaml.Node, parent *yaml.Node, last string, value *yaml.Node) error {
	var old *yaml.Node
	switch parent.Kind {
	case yaml.MappingNode:
		old = mappingValue(parent, last)
	case yaml.SequenceNode:
		i, err := index(last, len(parent.Content))
		if err != nil {
			return err
		}
		old = parent.Content[i]
	default:
		return fmt.Errorf("parent is not a mapping or a sequence")
	}
	if old == nil {
		return fmt.Errorf("%s does not exist", last)
	}
	expandAliasesOf(root, append(path, old))
	unalias(old)
	if old.Kind == yaml.ScalarNode && value.Kind == yaml.ScalarNode && old.Tag == value.Tag {
		value.Style = old.Style
	}
	value.HeadComment, value.LineComment, value.FootComment = old.HeadComment, old.LineComment, old.FootComment
	*old = *value
	return nil
}

// yamlStep returns the child of n under seg, nil when there is none.
func yamlStep(n *yaml.Node, seg string) (*yaml.Node, error) {
	unalias(n)
	switch n.Kind {
	case yaml.MappingNode:
		v := mappingValue(n, seg)
		if v != nil && isNull(v) {
			return nil, nil
		}
		return v, nil
	case yaml.SequenceNode:
		i, err := index(seg, len(n.Content))
		if err != nil {
			return nil, err
		}
		return n.Content[i], nil
	default:
		return nil, nil
	}
}

func index(seg string, n int) (int, error) {
	i, err := strconv.Atoi(seg)
	if err != nil || i < 0 || i >= n || (len(seg) > 1 && seg[0] == '0') {
		return 0, fmt.Errorf("index %q out of range", seg)
	}
	return i, nil
}

// mappingValue returns the value under key in mapping m, nil when there is none. A key that
// only a merge key supplies is copied into m first, so that changing it changes m only.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; !isMergeKey(k) && k.Value == key {
			return m.Content[i+1]
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) {
			continue
		}
		if v := mergedValue(m.Content[i+1], key); v != nil {
			v = copyNode(v)
			m.Content = append(m.Content, stringNode(key), v)
			return v
		}
	}
	return nil
}

// mergedValue finds key in the value of a merge key: a mapping, an alias of one, or a
// sequence of those (the first one that has key wins).
func mergedValue(v *yaml.Node, key string) *yaml.Node {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			if k := v.Content[i]; !isMergeKey(k) && k.Value == key {
				return v.Content[i+1]
			}
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			if isMergeKey(v.Content[i]) {
				if r := mergedValue(v.Content[i+1], key); r != nil {
					return r
				}
			}
		}
	case yaml.SequenceNode:
		for _, e := range v.Content {
			if r := mergedValue(e, key); r != nil {
				return r
			}
		}
	}
	return nil
}

func untagMergeKeys(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; isMergeKey(k) {
				k.Tag = ""
			}
		}
	}
	for _, c := range n.Content {
		untagMergeKeys(c)
	}
}

// isMergeKey reports whether k is a merge key (<<), as the yaml/v3 decoder decides it.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		(k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge" || k.Tag == "tag:yaml.org,2002:merge")
}

func isNull(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// unalias replaces an alias node, in place, by a copy of what it refers to, so that changes
// below it do not reach the anchored node or its other aliases.
func unalias(n *yaml.Node) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		head, line, foot := n.HeadComment, n.LineComment, n.FootComment
		*n = *copyNode(n.Alias)
		n.Anchor = ""
		n.HeadComment, n.LineComment, n.FootComment = head, line, foot
	}
}

// expandAliases replaces, in place, every alias below n that refers to one of targets by a
// copy of what it refers to.
func expandAliases(n *yaml.Node, targets map[*yaml.Node]bool) {
	if n.Kind == yaml.AliasNode {
		if targets[n.Alias] {
			unalias(n)
		} else {
			return
		}
	}
	for _, c := range n.Content {
		expandAliases(c, targets)
	}
}

// copyNode copies n deeply, without anchors (aliases inside keep pointing at their anchors).
func copyNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor = ""
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, e := range n.Content {
			c.Content[i] = copyNode(e)
		}
	}
	return &c
}

func stringNode(s string) *yaml.Node {
	n := &yaml.Node{}
	n.SetString(s)
	return n
}

// toYAML converts a JSON value (as Patch builds them) to a YAML node. Mapping keys are
// sorted.
func toYAML(v any) (*yaml.Node, error) {
	switch t := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	case string:
		return stringNode(t), nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range keys {
			c, err := toYAML(t[k])
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, stringNode(k), c)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range t {
			c, err := toYAML(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	default:
		n := &yaml.Node{}
		if err := n.Encode(v); err != nil {
			return nil, err
		}
		return n, nil
	}
}
