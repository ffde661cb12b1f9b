package scan

import "github.com/bulwark-k8s/bulwark/internal/yamljson"

// LineOf returns the line of a field of d, given as a dotted path with indexes as checks
// report it: "spec.template.spec.containers[1].securityContext.privileged", or a bracketed key
// for keys holding dots, "metadata.annotations[example.com/x]". A key the path spells with
// dots ("resources.limits.example.com/gpu") is found too. When the field is absent it returns
// the line of its nearest ancestor that exists, and d.Line when nothing does. The document of
// a compacted Result (Result.Compact) has no Node: it gives the lines resolved then, and d.Line
// for any other field.
func LineOf(d *Document, field string) int {
	if d == nil {
		return 0
	}
	if d.Node == nil {
		for _, fl := range d.lines {
			if fl.field == field {
				return fl.line
			}
		}
	}
	return yamljson.LineOf(d.Node, d.Line, field)
}
