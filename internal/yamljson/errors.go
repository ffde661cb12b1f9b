package yamljson

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yaml.v3 reports parser errors (as opposed to scanner errors) with a 0-based line; these are
// its parser problems (parserc.go), whose line is one too small.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
}

// ErrorLine splits a yaml.v3 syntax error in data, "yaml: line 14: problem", into 14 and
// "yaml: problem", correcting the line yaml.v3 gives its parser errors and keeping it within
// the text (at the end of a text, yaml.v3 reports the line after the last). An error without
// a line is returned as 0 and its text.
func ErrorLine(data []byte, err error) (int, string) {
	return ErrorLineIn(lastLine(data), err)
}

// ErrorLineIn is ErrorLine for a text of lines lines (as ErrorLine counts them: the line
// breaks, plus one for a last line without a final newline), when the text is not at hand.
func ErrorLineIn(lines int, err error) (int, string) {
	msg := err.Error()
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg
	}
	line, _ := strconv.Atoi(m[1])
	if yamlParserProblems[m[2]] {
		line++
	}
	return min(line, max(lines, 1)), "yaml: " + m[2]
}

// lastLine is the number of the last line of data: its line breaks, plus one for a last line
// without a final newline; at least 1.
func lastLine(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return max(n, 1)
}

// Describe names the kind of a node for messages: "a list", "a mapping", "a string of 12
// characters". A scalar's value is never quoted: a document that is not an object may be
// anything a user keeps beside manifests (a private key, a token), and errors are printed
// and logged; the line number the message carries locates it.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("a string of %d characters", utf8.RuneCountInString(n.Value))
	}
	return "an alias"
}
