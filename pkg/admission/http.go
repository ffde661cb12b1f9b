package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/metrics"
)

// MaxRequestBytes is the largest AdmissionReview read and checked: the largest an apiserver
// sends. An object fits in etcd's request limit, 1.5 MiB (--max-request-bytes), and travels as
// JSON, where one byte of a string can take six (`<` is written \u003c); an update carries the
// old and the new object: 2 × 6 × 1.5 MiB = 18 MiB, and 1 MiB for the rest of the review.
// A larger review is refused with its uid, so that the apiserver denies the request under any
// failurePolicy rather than treating the call as failed.
const MaxRequestBytes = 19 << 20

// DefaultBodyBudget is how many bytes of request bodies are held at once, across requests,
// unless the options say otherwise: room for three reviews at MaxRequestBytes, or thousands
// of ordinary ones, and a bound on what slow or oversized bodies can make Bulwark hold.
const DefaultBodyBudget = 64 << 20

// freeBodyBytes are read from every body outside the budget: room for the review's
// apiVersion and uid, which a refusal needs.
const freeBodyBytes = 16 << 10

// A body must arrive at a pace an apiserver keeps: it has DefaultBodyGrace from the end of
// the headers, and one more second for every DefaultMinBodyRate bytes that have arrived, up
// to maxBodyTime. The apiserver writes a review in one go, so even a review at
// MaxRequestBytes arrives long before its deadline (5 s + 19 s); a client that trickles a
// body loses its connection after the grace, and with it the body bytes and the goroutine it
// held.
const (
	DefaultBodyGrace   = 5 * time.Second
	DefaultMinBodyRate = 1 << 20
	// maxBodyTime is the longest a body is read: an apiserver waits at most 30 s for a
	// webhook, so a body still arriving then has nobody waiting for its answer.
	maxBodyTime = 30 * time.Second
)

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
	hook    *webhook.Admission
	log     logr.Logger
	webhook string
	rec     metrics.Recorder
	budget  *BodyBudget
	grace   time.Duration
	rate    int64
	auth    func(*http.Request) error
}

// HTTPOptions configure NewHTTP.
type HTTPOptions struct {
	// Webhook names the endpoint in metrics: validate or mutate.
	Webhook string
	// Metrics counts the requests refused before the handler (nil for none).
	Metrics metrics.Recorder
	// Budget bounds the bytes of request bodies held at once; endpoints that share one share
	// the bound. Nil for none.
	Budget *BodyBudget
	// BodyGrace and MinBodyRate bound how slowly a body may arrive (see DefaultBodyGrace);
	// zero for the defaults.
	BodyGrace   time.Duration
	MinBodyRate int64
	// Authenticate, when set, decides whether a request's caller may be served, before any of
	// its body is read: an error is answered with HTTP 403 and the error's text, and counted
	// as refused with reason client_cert.
	Authenticate func(*http.Request) error
}

// NewHTTP serves h, logging bad requests to log.
func NewHTTP(h cradmission.Handler, log logr.Logger, o HTTPOptions) *HTTP {
	rec := o.Metrics
	if rec == nil {
		rec = metrics.Nop{}
	}
	if o.BodyGrace <= 0 {
		o.BodyGrace = DefaultBodyGrace
	}
	if o.MinBodyRate <= 0 {
		o.MinBodyRate = DefaultMinBodyRate
	}
	return &HTTP{log: log, webhook: o.Webhook, rec: rec, budget: o.Budget, grace: o.BodyGrace, rate: o.MinBodyRate, auth: o.Authenticate, hook: &webhook.Admission{
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
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBody = 256 << 10

// BodyBudget bounds the bytes of request bodies held at once. Buffers grow only as bytes
// arrive, never from a declared Content-Length, and each growth is taken from the budget
// first: a client that declares a large body, or sends it slowly, holds only what it sent.
//
// A quarter of the budget is kept for bodies of at most smallBody bytes (ordinary reviews: a
// pod or a workload, old and new), so that clients holding large bodies cannot take it all:
// while they hold the rest, ordinary reviews are still read.
type BodyBudget struct {
	free    atomic.Int64 // for any body
	reserve atomic.Int64 // for bodies of at most smallBody
}

// smallBody is the largest body the reserve is for.
const smallBody = 256 << 10

// NewBodyBudget is a budget of limit bytes, a quarter of them kept for small bodies.
func NewBodyBudget(limit int64) *BodyBudget {
	b := &BodyBudget{}
	b.reserve.Store(limit / 4)
	b.free.Store(limit - limit/4)
	return b
}

// bodyHold is what one body holds of a budget.
type bodyHold struct{ free, reserve int64 }

func takeFrom(pool *atomic.Int64, n int64) bool {
	if pool.Add(-n) < 0 {
		pool.Add(n)
		return false
	}
	return true
}

// take takes n more bytes for a body whose buffer grows to size bytes.
func (b *BodyBudget) take(h *bodyHold, n int64, size int) bool {
	if b == nil || n <= 0 {
		return true
	}
	if takeFrom(&b.free, n) {
		h.free += n
		return true
	}
	if size <= smallBody && takeFrom(&b.reserve, n) {
		h.reserve += n
		return true
	}
	return false
}

func (b *BodyBudget) give(h bodyHold) {
	if b != nil {
		b.free.Add(h.free)
		b.reserve.Add(h.reserve)
	}
}

// refusal is a request answered before the handler, with the reason counted in metrics.
type refusal struct {
	code   int32
	reason metav1.StatusReason
	metric string
	err    error
}

func (s *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.auth != nil {
		if err := s.auth(r); err != nil {
			// Not an AdmissionReview answer: the caller is not an apiserver this webhook serves.
			s.rec.Refused(s.webhook, "client_cert")
			s.log.Error(err, "refused a caller", "remote", r.RemoteAddr)
			w.Header().Set("Connection", "close")
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		s.refuse(w, nil, &refusal{http.StatusBadRequest, metav1.StatusReasonBadRequest, "empty_body", errors.New("request body is empty")})
		return
	}
	defer r.Body.Close()
	bp := bodies.Get().(*[]byte)
	body, held, ref := s.readBody(w, r, (*bp)[:0])
	defer func() {
		s.budget.give(held)
		if cap(body) <= maxPooledBody {
			*bp = body[:0]
			bodies.Put(bp)
		}
	}()
	if ref != nil {
		s.refuse(w, body, ref)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.refuse(w, body, &refusal{http.StatusBadRequest, metav1.StatusReasonBadRequest, "content_type", fmt.Errorf("contentType=%s, expected application/json", ct)})
		return
	}
	var req cradmission.Request
	in := incomingReview{Request: &incomingRequest{AdmissionRequest: &req.AdmissionRequest}}
	if err := decodeReview(body, &in); err != nil {
		s.refuse(w, body, &refusal{http.StatusBadRequest, metav1.StatusReasonBadRequest, "decode", fmt.Errorf("decoding the AdmissionReview: %w", err)})
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
		s.refuse(w, body, &refusal{http.StatusBadRequest, metav1.StatusReasonBadRequest, "not_a_review", fmt.Errorf("the body is kind %q of apiVersion %q, not an AdmissionReview of %s or %s",
			in.Kind, in.APIVersion, reviewV1.GroupVersion(), reviewV1beta1.GroupVersion())})
		return
	}
	// A "request": null leaves in.Request nil and req empty: the handler answers that the
	// review has no request.
	resp := s.hook.Handle(r.Context(), req)
	s.write(w, gvk, &resp.AdmissionResponse)
}

// readBody reads the request body into buf, growing it as bytes arrive and taking each growth
// beyond freeBodyBytes from the budget, and refuses a body that arrives too slowly (see
// DefaultBodyGrace). It returns the bytes read (all of them, or the prefix read before a
// refusal) and what of the budget they hold.
func (s *HTTP) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, bodyHold, *refusal) {
	var held bodyHold
	account := func(c int) bool {
		return s.budget.take(&held, int64(c)-freeBodyBytes-held.free-held.reserve, c)
	}
	if !account(cap(buf)) {
		buf = make([]byte, 0, freeBodyBytes) // a pooled buffer larger than the budget allows
	}
	pace := newBodyPace(w, s.grace, s.rate)
	defer pace.done()
	for {
		if len(buf) > MaxRequestBytes {
			size := "more than " + strconv.Itoa(MaxRequestBytes)
			if r.ContentLength > 0 {
				size = strconv.FormatInt(r.ContentLength, 10)
			}
			return buf, held, &refusal{http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, "too_large",
				fmt.Errorf("the AdmissionReview is %s bytes, over Bulwark's limit of %d; the object cannot be checked", size, MaxRequestBytes)}
		}
		if len(buf) == cap(buf) {
			next := min(max(2*cap(buf), 4096), MaxRequestBytes+1)
			if !account(next) {
				return buf, held, &refusal{http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, "body_budget",
					fmt.Errorf("Bulwark holds the most admission request bodies it may at once; the object was not checked: retry")}
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		pace.before(len(buf))
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if len(buf) <= MaxRequestBytes {
				return buf, held, nil
			}
			continue // refused as too large above
		}
		if err != nil {
			if pace.expired(err) {
				// The connection cannot carry another request: its body is half read.
				w.Header().Set("Connection", "close")
				return buf, held, &refusal{http.StatusRequestTimeout, metav1.StatusReasonTimeout, "slow_body",
					fmt.Errorf("the AdmissionReview body arrived too slowly: %d bytes in %s, under Bulwark's minimum of %d bytes a second after the first %s; the object was not checked",
						len(buf), time.Since(pace.start).Round(time.Millisecond), s.rate, s.grace)}
			}
			return buf, held, &refusal{http.StatusBadRequest, metav1.StatusReasonBadRequest, "read", fmt.Errorf("reading the request body: %w", err)}
		}
	}
}

// bodyPace sets the connection's read deadline as a body arrives: the grace from the start,
// and one second more for every rate bytes read, up to maxBodyTime.
type bodyPace struct {
	rc       *http.ResponseController
	start    time.Time
	grace    time.Duration
	rate     int64
	deadline time.Time // the one set on the connection; zero before one is
	passed   bool      // it passed
}

func newBodyPace(w http.ResponseWriter, grace time.Duration, rate int64) *bodyPace {
	return &bodyPace{rc: http.NewResponseController(w), start: time.Now(), grace: grace, rate: rate}
}

// before sets the deadline for the next read, after read bytes have arrived. The deadline
// moves in steps of a tenth of a second at least, so that reading a large body in small
// pieces does not set it at every read.
func (p *bodyPace) before(read int) {
	d := p.grace + time.Duration(int64(read)*int64(time.Second)/p.rate)
	deadline := p.start.Add(min(d, maxBodyTime))
	if !p.deadline.IsZero() && deadline.Sub(p.deadline) < 100*time.Millisecond {
		return
	}
	// A server that cannot set deadlines (ErrNotSupported) leaves its own ReadTimeout.
	if p.rc.SetReadDeadline(deadline) == nil {
		p.deadline = deadline
	}
}

// expired says whether err is the read deadline passing.
func (p *bodyPace) expired(err error) bool {
	p.passed = !p.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded)
	return p.passed
}

// done lifts the deadline once the body is read: the server's own background read, which
// notices a client going away while the handler runs, must not end the request when it
// passes. A deadline that passed stays: the server would otherwise wait for the rest of the
// body before it answers (net/http reads what is left of a small body to keep the connection).
func (p *bodyPace) done() {
	if !p.deadline.IsZero() && !p.passed {
		_ = p.rc.SetReadDeadline(time.Time{})
	}
}

// refuse answers a request refused before the handler. When the body read so far names the
// review's uid, the answer is a denial of that request in the review's own version, which the
// apiserver enforces under any failurePolicy; otherwise it is an error without a uid, as
// nothing else can be said.
func (s *HTTP) refuse(w http.ResponseWriter, body []byte, ref *refusal) {
	s.rec.Refused(s.webhook, ref.metric)
	apiVersion, uid := reviewIdentity(body)
	s.log.Error(ref.err, "refused admission request", "code", ref.code, "reason", ref.metric, "uid", uid)
	resp := cradmission.Errored(ref.code, ref.err)
	resp.Result.Reason = ref.reason
	gvk := reviewV1
	if uid != "" {
		resp.UID = types.UID(uid)
		if apiVersion == reviewV1beta1.GroupVersion().String() {
			gvk = reviewV1beta1
		}
	}
	s.write(w, gvk, &resp.AdmissionResponse)
}

// reviewIdentity reads apiVersion and request.uid from the start of a review, which may be
// cut short: it stops at the uid, and at the first thing it cannot read.
func reviewIdentity(body []byte) (apiVersion, uid string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	key := func() (string, bool) {
		t, err := dec.Token()
		k, ok := t.(string)
		return k, err == nil && ok
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", ""
	}
	for dec.More() {
		k, ok := key()
		if !ok {
			return apiVersion, ""
		}
		switch k {
		case "apiVersion":
			if dec.Decode(&apiVersion) != nil {
				return "", ""
			}
		case "request":
			if t, err := dec.Token(); err != nil || t != json.Delim('{') {
				return apiVersion, ""
			}
			for dec.More() {
				k, ok := key()
				if !ok {
					return apiVersion, ""
				}
				if k == "uid" {
					if dec.Decode(&uid) != nil {
						return apiVersion, ""
					}
					return apiVersion, uid
				}
				var skip json.RawMessage
				if dec.Decode(&skip) != nil {
					return apiVersion, ""
				}
			}
			return apiVersion, ""
		default:
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return apiVersion, ""
			}
		}
	}
	return apiVersion, ""
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
