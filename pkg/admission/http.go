package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// MaxRequestBytes is the largest AdmissionReview body served, as controller-runtime's limit:
// 7 MiB, two objects of 3 MiB (an update carries the old and the new object) and the rest.
const MaxRequestBytes = 7 * 1024 * 1024

// HTTP serves AdmissionReviews for an admission handler over HTTP. It answers as
// controller-runtime's webhook.Admission does (the same body limit and Content-Type rule,
// every error as an AdmissionReview with HTTP 200 and the code and message in
// response.status, v1 and v1beta1 reviews answered in their own version) and runs the handler
// through webhook.Admission.Handle (panics recovered and counted, response UID set).
//
// It decodes the review differently: in one pass, case-sensitively, as JSON only.
// controller-runtime's universal deserializer reads every body twice before the handler sees
// it (once with encoding/json to find apiVersion and kind, then again to decode), which was a
// fifth of the webhook's CPU time under load (docs/performance.md); and it also accepted YAML.
type HTTP struct {
	hook *webhook.Admission
	log  logr.Logger
}

// NewHTTP serves h, logging bad requests to log.
func NewHTTP(h cradmission.Handler, log logr.Logger) *HTTP {
	return &HTTP{log: log, hook: &webhook.Admission{
		Handler: h,
		// controller-runtime's default builds a logger with six request fields for every
		// request; the handlers log what they decide with their own fields, so the request's
		// logger is log as it is.
		LogConstructor: func(logr.Logger, *cradmission.Request) logr.Logger { return log },
	}}
}

var (
	reviewV1      = admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")
	reviewV1beta1 = schema.GroupVersionKind{Group: "admission.k8s.io", Version: "v1beta1", Kind: "AdmissionReview"}
)

// incomingReview is an AdmissionReview as sent: v1 and v1beta1 requests have the same fields.
type incomingReview struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Request    *incomingRequest `json:"request"`
}

// incomingRequest decodes an AdmissionRequest whose object and oldObject (which hide the
// embedded request's) are slices of the body rather than copies of it: the handlers only read
// them while the request is served, and the body buffer is reused after.
type incomingRequest struct {
	*admissionv1.AdmissionRequest
	Object    borrowed `json:"object"`
	OldObject borrowed `json:"oldObject"`
}

// borrowed is a JSON value kept as the slice of the input it was decoded from; null is nil,
// as runtime.RawExtension has it.
type borrowed []byte

func (b *borrowed) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	*b = data
	return nil
}

// bodies holds the buffers requests are read into. Bodies are about the size of the object;
// a buffer that grew past maxPooledBody is left to the garbage collector.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 256 << 10

func (s *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		s.fail(w, http.StatusBadRequest, errors.New("request body is empty"))
		return
	}
	defer r.Body.Close()
	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBody {
			bodies.Put(buf)
		}
	}()
	body, status, err := readBody(r, buf)
	if err != nil {
		s.fail(w, status, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("contentType=%s, expected application/json", ct))
		return
	}
	var req cradmission.Request
	in := incomingReview{Request: &incomingRequest{AdmissionRequest: &req.AdmissionRequest}}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &in); err != nil {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("decoding the AdmissionReview: %w", err))
		return
	}
	if in.Request != nil {
		req.Object.Raw, req.OldObject.Raw = in.Request.Object, in.Request.OldObject
	}
	gvk := reviewV1
	switch gv := (schema.FromAPIVersionAndKind(in.APIVersion, in.Kind)); {
	case in.APIVersion == "" && in.Kind == "":
		// As controller-runtime: a body without apiVersion and kind is read as a v1 review.
	case gv == reviewV1 || gv == reviewV1beta1:
		gvk = gv
	default:
		s.fail(w, http.StatusBadRequest, fmt.Errorf("the body is kind %q of apiVersion %q, not an AdmissionReview of %s or %s",
			in.Kind, in.APIVersion, reviewV1.GroupVersion(), reviewV1beta1.GroupVersion()))
		return
	}
	// A "request": null leaves in.Request nil and req empty: the handler answers that the
	// review has no request.
	resp := s.hook.Handle(r.Context(), req)
	s.write(w, gvk, &resp.AdmissionResponse)
}

// readBody reads the request body up to MaxRequestBytes into buf, grown first to
// Content-Length when the client sent one.
func readBody(r *http.Request, buf *bytes.Buffer) ([]byte, int, error) {
	if n := r.ContentLength; n > 0 && n < MaxRequestBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	limited := &io.LimitedReader{R: r.Body, N: MaxRequestBytes}
	if _, err := buf.ReadFrom(limited); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err)
	}
	if limited.N <= 0 {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", MaxRequestBytes)
	}
	return buf.Bytes(), 0, nil
}

// fail answers an error as a v1 AdmissionReview whose response carries the code and message.
func (s *HTTP) fail(w http.ResponseWriter, code int, err error) {
	s.log.Error(err, "bad admission request", "code", code)
	resp := cradmission.Errored(int32(code), err)
	s.write(w, reviewV1, &resp.AdmissionResponse)
}

func (s *HTTP) write(w http.ResponseWriter, gvk schema.GroupVersionKind, resp *admissionv1.AdmissionResponse) {
	out := admissionv1.AdmissionReview{Response: resp}
	out.APIVersion, out.Kind = gvk.GroupVersion().String(), gvk.Kind
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		// The response always encodes: this is the connection failing.
		s.log.Error(err, "writing the AdmissionReview response", "uid", resp.UID)
	}
}
