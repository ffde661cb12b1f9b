// Package eventnote fits text into the note of an Event.
package eventnote

import "unicode/utf8"

// Max is the size in bytes an events.k8s.io Event's note may have.
const Max = 1024

// Fit returns msg when it fits in an Event's note, else msg cut on a character boundary with
// more (which says where the rest is) appended, within Max bytes.
func Fit(msg, more string) string {
	if len(msg) <= Max {
		return msg
	}
	cut := Max - len(more)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + more
}
