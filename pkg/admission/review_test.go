package admission

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	sigsjson "sigs.k8s.io/json"
)

// decodeBoth decodes body with decodeReview and as a whole, as it was before decodeReview.
func decodeBoth(body []byte) (fast, whole *incomingReview, fastErr, wholeErr error) {
	fast = &incomingReview{Request: &incomingRequest{AdmissionRequest: &admissionv1.AdmissionRequest{}}}
	whole = &incomingReview{Request: &incomingRequest{AdmissionRequest: &admissionv1.AdmissionRequest{}}}
	return fast, whole, decodeReview(body, fast), sigsjson.UnmarshalCaseSensitivePreserveInts(body, whole)
}

// sameDecoding fails t unless decodeReview read body as the whole decoding does: the same
// error, or the same review with the same object bytes.
func sameDecoding(t *testing.T, body []byte) {
	t.Helper()
	fast, whole, fastErr, wholeErr := decodeBoth(body)
	if fmt.Sprint(fastErr) != fmt.Sprint(wholeErr) {
		t.Fatalf("error %v, decoded as a whole %v\nbody %q", fastErr, wholeErr, body)
	}
	var s reviewScan
	if s.scan(body) && !json.Valid(body) {
		t.Fatalf("the scan takes a body encoding/json refuses: %q", body)
	}
	if fastErr == nil && !reflect.DeepEqual(fast, whole) {
		t.Fatalf("decoded differently\n got %+v\nwant %+v\nbody %q", fast, whole, body)
	}
}

func TestDecodeReviewSameAsWhole(t *testing.T) {
	pod := kPod.object("web", compliant)
	dep := kDeployment.object("web", privilegedSpec)
	upd := reviewBody(t, "admission.k8s.io/v1", "u1", kDeployment, admissionv1.Update, "", []byte(dep), []byte(kDeployment.object("web", minimalSpec)))
	create := reviewBody(t, "admission.k8s.io/v1", "u2", kPod, admissionv1.Create, "", []byte(pod), nil)
	for name, body := range map[string]string{
		"create":                    string(create),
		"update":                    string(upd),
		"oldObject first":           `{"request":{"oldObject":{"a":1},"uid":"u","object":{"b":[1,2,{"c":null}]}}}`,
		"object null":               `{"request":{"uid":"u","object":null,"oldObject":{"x":"y"}}}`,
		"object not an object":      `{"request":{"object":"text","oldObject":-1.5e+3}}`,
		"whitespace":                " \n{ \"request\" :\t{ \"object\" : { \"k\" : [ ] } , \"uid\" : \"u\" } } \r\n",
		"escaped key":               `{"request":{"obj\u0065ct":{"a":1}}}`,
		"escaped request":           `{"requ\u0065st":{"object":{"a":1}}}`,
		"escape in a value":         `{"request":{"uid":"\u00e9\n\"","object":{"k\"":"\\\/\b\f\n\r\t\uABcd"}}}`,
		"repeated object":           `{"request":{"object":{"a":1},"object":{"b":2}}}`,
		"repeated request":          `{"request":{"object":{"a":1}},"request":{"uid":"u"}}`,
		"request null":              `{"apiVersion":"admission.k8s.io/v1","request":null}`,
		"request not an object":     `{"request":[{"object":{}}]}`,
		"other case":                `{"Request":{"object":{"a":1}},"request":{"Object":{"b":1},"object":{"c":1}}}`,
		"wrong type elsewhere":      `{"request":{"uid":5,"object":{"a":1}}}`,
		"wrong type of request":     `{"request":{"kind":"Pod","object":{"a":1}}}`,
		"invalid object":            `{"request":{"object":{"a":}}}`,
		"invalid after object":      `{"request":{"object":{"a":1}},}`,
		"trailing data":             `{"request":{"object":{"a":1}}} x`,
		"two values":                `{"request":{"object":{}}}{}`,
		"cut short":                 `{"request":{"object":{"a":"b`,
		"control character":         "{\"request\":{\"object\":{\"a\":\"\x01\"}}}",
		"bad escape":                `{"request":{"object":{"a":"\x"}}}`,
		"short unicode escape":      `{"request":{"object":{"a":"\u12"}}}`,
		"numbers":                   `{"request":{"object":[0,-0,1.5,2e10,3E-2,-4.25e+7,10]}}`,
		"leading zero":              `{"request":{"object":[01]}}`,
		"bare minus":                `{"request":{"object":[-]}}`,
		"dot without digits":        `{"request":{"object":[1.]}}`,
		"exponent without digits":   `{"request":{"object":[1e+]}}`,
		"literals":                  `{"request":{"object":[true,false,null]}}`,
		"bad literal":               `{"request":{"object":[nul]}}`,
		"literal run on":            `{"request":{"object":[truex]}}`,
		"invalid UTF-8":             "{\"request\":{\"object\":{\"a\":\"\xff\xfe\"}}}",
		"empty":                     ``,
		"not an object":             `[1,2]`,
		"deep at the limit":         `{"request":{"object":` + nested(maxDepth-2) + `}}`,
		"deep beyond the limit":     `{"request":{"object":` + nested(maxDepth-1) + `}}`,
		"deep array beyond":         `{"request":{"object":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}}`,
		"trailing comma in array":   `{"request":{"object":[1,]}}`,
		"missing colon":             `{"request":{"object" {}}}`,
		"key not a string":          `{"request":{object:{}}}`,
		"no objects":                `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u"}}`,
		"empty request":             `{"request":{}}`,
		"object empty string value": `{"request":{"object":""}}`,
	} {
		t.Run(name, func(t *testing.T) { sameDecoding(t, []byte(body)) })
	}
	var s reviewScan
	if s.scan([]byte(`{"request":{"object":` + nested(maxDepth-1) + `}}`)) {
		t.Fatal("the scan takes nesting deeper than encoding/json's limit")
	}
}

// TestDecodeReviewScansWhatApiserversSend holds the saving: a review as an apiserver writes
// it, an update included, is checked and split by the scan, not decoded as a whole.
func TestDecodeReviewScansWhatApiserversSend(t *testing.T) {
	dep := []byte(kDeployment.object("web", privilegedSpec))
	for _, body := range [][]byte{
		reviewBody(t, "admission.k8s.io/v1", "u", kPod, admissionv1.Create, "", []byte(kPod.object("web", compliant)), nil),
		reviewBody(t, "admission.k8s.io/v1beta1", "u", kDeployment, admissionv1.Update, "", dep, dep),
		[]byte(`{"request":{"object":` + nested(maxDepth-2) + `}}`), // as deep as encoding/json goes
		// Escapes below the request's members, as in managedFields and annotations.
		[]byte(`{"request":{"object":{"a":{"managedFields":[{"fieldsV1":{"k:{\"name\":\"app\"}":{}}}],"x\u003cy":"\u0026"}}}}`),
	} {
		var s reviewScan
		if !s.scan(body) || !s.object.found {
			t.Fatalf("the scan declined %.200s", body)
		}
		if got := string(body[s.object.start:s.object.end]); got != string(dep) && !strings.HasPrefix(got, `{"apiVersion":"v1","kind":"Pod"`) && !strings.HasPrefix(got, `{"a":{`) {
			t.Fatalf("request.object found as %.100s", got)
		}
	}
}

// FuzzDecodeReview: decodeReview reads any body as decoding it as a whole does, and its scan
// takes only JSON that encoding/json takes.
//
//	go test ./pkg/admission -run '^$' -fuzz '^FuzzDecodeReview$' -fuzztime 60s
func FuzzDecodeReview(f *testing.F) {
	f.Add(reviewBody(f, "admission.k8s.io/v1", "u", kPod, admissionv1.Create, "", []byte(kPod.object("web", compliant)), nil))
	f.Add(reviewBody(f, "admission.k8s.io/v1", "u", kDeployment, admissionv1.Update, "", []byte(kDeployment.object("web", privilegedSpec)), []byte(kDeployment.object("web", minimalSpec))))
	for _, s := range []string{
		`{"request":{"oldObject":{"a":[1,-2.5e3,true,null,"\u00e9"]},"object":{"b":{}}}}`,
		`{"request":{"object":{"a":1},"object":{"b":2}}}`,
		`{"requ\u0065st":{"object":{"a":1}}}`,
		`{"request":{"uid":5,"object":{"a":01}}}`,
		"{\"request\":{\"object\":\"\x01\xff\"}}",
		`{"request":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameDecoding(t, body) })
}
