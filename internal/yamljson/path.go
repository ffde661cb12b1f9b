package yamljson

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LineOf returns the line of a field below node n, given as a dotted path with indexes as
// checks and decoders report it: "spec.template.spec.containers[1].securityContext.privileged",
// or a bracketed key for keys holding dots, "metadata.annotations[example.com/x]". A key the
// path spells with dots ("resources.limits.example.com/gpu") is found too. When the field is
// absent it returns the line of its nearest ancestor that exists, and line (the line of n as
// the caller knows it) when nothing does.
func LineOf(n *yaml.Node, line int, field string) int {
	n = Deref(n)
	if n == nil {
		return line
	}
	segs := parsePath(field)
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		if s.index >= 0 {
			if n.Kind != yaml.SequenceNode || s.index >= len(n.Content) {
				return line
			}
			item := n.Content[s.index]
			line, n = item.Line, Deref(item)
			if n == nil {
				return line
			}
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		key := s.name
		k, v := Lookup(n, key)
		// A key with dots, spelled without brackets: join the following plain segments.
		for j := i + 1; k == nil && !s.bracket && j < len(segs) && segs[j].index < 0 && !segs[j].bracket; j++ {
			key += "." + segs[j].name
			if k, v = Lookup(n, key); k != nil {
				i = j
			}
		}
		if k == nil {
			return line
		}
		line, n = k.Line, Deref(v)
		if n == nil {
			return line
		}
	}
	return line
}

type pathSeg struct {
	name    string
	index   int  // >= 0 for a list index
	bracket bool // the key was written in brackets
}

// parsePath splits "a.b[2].c[some.key]" into a, b, 2, c, some.key.
func parsePath(p string) []pathSeg {
	var segs []pathSeg
	for len(p) > 0 {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				end = len(p)
			}
			inner := p[1:end]
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 && inner != "" && inner[0] != '+' {
				segs = append(segs, pathSeg{index: n})
			} else {
				if len(inner) >= 2 && (inner[0] == '"' || inner[0] == '\'') && inner[len(inner)-1] == inner[0] {
					inner = inner[1 : len(inner)-1]
				}
				segs = append(segs, pathSeg{name: inner, index: -1, bracket: true})
			}
			p = p[min(end+1, len(p)):]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			segs = append(segs, pathSeg{name: p[:end], index: -1})
			p = p[end:]
		}
	}
	return segs
}
