package admission

import (
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	sigsjson "sigs.k8s.io/json"
)

// decodeReview reads an AdmissionReview body into in, with the result, errors included, of
// sigsjson.UnmarshalCaseSensitivePreserveInts(body, in), but fewer passes over the objects
// the review carries.
//
// The objects are most of a review, and the handler decodes them from the slices the review
// keeps. Decoding the review as a whole, encoding/json reads each object twice before the
// handler gets it: once to check that the body is JSON, and again to find where the object
// ends; the handler's own decoding then reads it twice more. Here one plain scan checks the
// body and finds where request.object and request.oldObject lie; the rest of the review, with
// null in their place, is decoded as before, and the objects are sliced from the body. Under
// load at one connection, decoding JSON was half of the webhook's CPU (docs/performance.md).
//
// Whatever the scan does not take as certain (a body that is not JSON, an escaped or repeated
// key on its way, a request that is not an object) is decoded as a whole, as before, so that
// every error reads as it did.
func decodeReview(body []byte, in *incomingReview) error {
	var s reviewScan
	if s.scan(body) && (s.object.found || s.oldObject.found) {
		req := in.Request.AdmissionRequest
		if decodeWithoutObjects(body, &s, in) == nil {
			return nil
		}
		*in = incomingReview{Request: &incomingRequest{AdmissionRequest: req}}
		*req = admissionv1.AdmissionRequest{}
	}
	return sigsjson.UnmarshalCaseSensitivePreserveInts(body, in)
}

// reduced holds the bodies decoded without their objects.
var reduced = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// decodeWithoutObjects decodes body with null in place of the objects s found, then slices
// them from body.
func decodeWithoutObjects(body []byte, s *reviewScan, in *incomingReview) error {
	bp := reduced.Get().(*[]byte)
	buf, at := (*bp)[:0], 0
	for _, sp := range s.inOrder() {
		buf = append(append(buf, body[at:sp.start]...), "null"...)
		at = sp.end
	}
	buf = append(buf, body[at:]...)
	err := sigsjson.UnmarshalCaseSensitivePreserveInts(buf, in)
	if cap(buf) <= maxPooledBody {
		*bp = buf[:0]
		reduced.Put(bp)
	}
	if err != nil {
		return err
	}
	for _, f := range []struct {
		sp  span
		dst *borrowed
	}{{s.object, &in.Request.Object}, {s.oldObject, &in.Request.OldObject}} {
		if f.sp.found {
			if err := f.dst.UnmarshalJSON(body[f.sp.start:f.sp.end]); err != nil {
				return err
			}
		}
	}
	return nil
}

// span is where a value lies in a body.
type span struct {
	start, end int
	found      bool
}

// maxDepth is encoding/json's limit on nested objects and arrays, beyond which a body is not
// valid for it.
const maxDepth = 10000

// reviewScan checks that a body is JSON, accepting only what encoding/json accepts, and finds
// the values of the members object and oldObject of the member request of its top-level
// object. It declines (scan returns false) what it does not take as certain.
type reviewScan struct {
	b                 []byte
	i                 int
	object, oldObject span
}

// inOrder returns the spans found, in the order they lie in the body.
func (s *reviewScan) inOrder() []span {
	out := make([]span, 0, 2)
	for _, sp := range []span{s.object, s.oldObject} {
		if sp.found {
			out = append(out, sp)
		}
	}
	if len(out) == 2 && out[1].start < out[0].start {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// scan reads b, and says whether it is JSON whose objects s found where the body has them.
func (s *reviewScan) scan(b []byte) bool {
	s.b, s.i = b, 0
	s.space()
	if !s.is('{') {
		return false
	}
	seenRequest := false
	ok := s.members(func(key []byte) bool {
		if string(key) != "request" {
			return s.value(1)
		}
		if seenRequest {
			return false
		}
		seenRequest = true
		if !s.is('{') {
			return false // null or not an object: decoded as a whole
		}
		return s.members(func(key []byte) bool {
			var sp *span
			switch string(key) {
			case "object":
				sp = &s.object
			case "oldObject":
				sp = &s.oldObject
			default:
				return s.value(2)
			}
			if sp.found {
				return false
			}
			sp.start = s.i
			if !s.value(2) {
				return false
			}
			sp.end, sp.found = s.i, true
			return true
		})
	})
	if !ok {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// is says whether the next byte is c.
func (s *reviewScan) is(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

func (s *reviewScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// members reads the object at s.i, the top level or the request, calling member after each
// key and its colon, with s.i at the value, which member must read. A key with an escape is
// declined: it could spell a name member compares.
func (s *reviewScan) members(member func(key []byte) bool) bool {
	return s.container('}', func() bool {
		start := s.i + 1
		if !s.is('"') {
			return false
		}
		if escaped, ok := s.str(); !ok || escaped {
			return false
		}
		key := s.b[start : s.i-1]
		s.space()
		if !s.is(':') {
			return false
		}
		s.i++
		s.space()
		return member(key)
	})
}

// container reads the object or array at s.i, whose closing byte is end, calling item for
// each member or element, with s.i at its start.
func (s *reviewScan) container(end byte, item func() bool) bool {
	s.i++
	s.space()
	if s.is(end) {
		s.i++
		return true
	}
	for {
		if !item() {
			return false
		}
		s.space()
		switch {
		case s.is(','):
			s.i++
			s.space()
		case s.is(end):
			s.i++
			return true
		default:
			return false
		}
	}
}

// value reads one value at s.i, inside containers nested depth deep.
func (s *reviewScan) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		if depth >= maxDepth {
			return false
		}
		return s.container('}', func() bool {
			if !s.is('"') {
				return false
			}
			if _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if !s.is(':') {
				return false
			}
			s.i++
			s.space()
			return s.value(depth + 1)
		})
	case c == '[':
		if depth >= maxDepth {
			return false
		}
		return s.container(']', func() bool { return s.value(depth + 1) })
	case c == '"':
		_, ok := s.str()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

func (s *reviewScan) literal(l string) bool {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// str reads the string at s.i (its opening quote) and says whether it has escapes.
func (s *reviewScan) str() (escaped, ok bool) {
	b, i := s.b, s.i+1
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return escaped, true
		case c < 0x20:
			return false, false
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !hex(b[i+2]) || !hex(b[i+3]) || !hex(b[i+4]) || !hex(b[i+5]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		default:
			i++
		}
	}
	return false, false
}

func hex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// number reads a number as JSON writes it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *reviewScan) number() bool {
	b, i := s.b, s.i
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	s.i = i
	return true
}
