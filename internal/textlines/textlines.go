// Package textlines counts the lines of a text as YAML readers see them. The fuzz tests use
// it to check that every line an error names exists.
package textlines

import "bytes"

// Count counts the lines of data: a line break is \n, \r\n, \r, or one of the Unicode breaks
// NEL, LS and PS that yaml.v3 also takes as one; a last line without a break counts; at least 1.
func Count(data []byte) int {
	n := 0
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			n++
		case data[i] == '\r':
			n++
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
		case bytes.HasPrefix(data[i:], []byte("\u0085")), bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n++
		}
	}
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) && !bytes.HasSuffix(data, []byte("\r")) {
		n++
	}
	return max(n, 1)
}
