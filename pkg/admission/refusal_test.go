package admission

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// countingRefusals records Refused calls, which come from the server's goroutines.
type countingRefusals struct {
	nopRecorder
	mu      sync.Mutex
	reasons []string
}

// list returns the refusals recorded so far, as "webhook/reason" separated by spaces.
func (c *countingRefusals) list() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.reasons, " ")
}

type nopRecorder struct{}

func (nopRecorder) Decision(string, string, string, string, time.Duration) {}
func (nopRecorder) Violation(string, string, string)                       {}
func (nopRecorder) Mutation(string)                                        {}

func (c *countingRefusals) Refused(webhook, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reasons = append(c.reasons, webhook+"/"+reason)
}

// TestOversizedReviewDeniedWithUID: a review over the limit is denied with its own uid, in its
// own version, so the apiserver rejects the request under failurePolicy Ignore too, and the
// refusal is counted with its reason.
func TestOversizedReviewDeniedWithUID(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	rec := &countingRefusals{}
	srv := webhook.NewServer(webhook.Options{})
	srv.Register(httpValidate, NewHTTP(h.v, logr.Discard(), HTTPOptions{Webhook: "validate", Metrics: rec}))
	ts := httptest.NewServer(srv.WebhookMux())
	t.Cleanup(ts.Close)
	s := &webhookServer{t: t, h: h, url: ts.URL, client: &http.Client{Timeout: 60 * time.Second}}

	for _, version := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		obj := kPod.object("x", `{"containers":[{"name":"c","image":"nginx:1","env":[{"name":"PAD","value":"`+strings.Repeat("<", maxBody)+`"}]}]}`)
		body := review(version, requestJSON("the-uid", kPod, "CREATE", obj))
		r := s.post(httpValidate, "application/json", body)
		if r.APIVersion != version || r.Response.UID != "the-uid" || r.Response.Allowed || r.code() != 413 {
			t.Errorf("%s: answered %s uid %q allowed %v code %d, want %s, the request's uid, denied with 413",
				version, r.APIVersion, r.Response.UID, r.Response.Allowed, r.code(), version)
		}
		if want := "the AdmissionReview is " + strconv.Itoa(len(body)) + " bytes, over Bulwark's limit of 19922944; the object cannot be checked"; r.message() != want {
			t.Errorf("%s: message %q, want %q", version, r.message(), want)
		}
	}
	if got := rec.list(); got != "validate/too_large validate/too_large" {
		t.Errorf("refusals counted: %q", got)
	}
}

// TestReviewIdentity: the uid and apiVersion are read from the start of a review that may be
// cut short anywhere after them, and nothing is guessed from a body that does not say them.
func TestReviewIdentity(t *testing.T) {
	full := string(review("admission.k8s.io/v1beta1", requestJSON("u-1", kPod, "CREATE", kPod.object("x", minimalSpec))))
	cut := full[:strings.Index(full, `"uid":"u-1"`)+len(`"uid":"u-1"`)]
	for _, tc := range []struct {
		name, body, apiVersion, uid string
	}{
		{"whole", full, "admission.k8s.io/v1beta1", "u-1"},
		{"cut after the uid", cut, "admission.k8s.io/v1beta1", "u-1"},
		{"cut inside the uid", cut[:len(cut)-3], "admission.k8s.io/v1beta1", ""},
		{"uid after the object", `{"apiVersion":"admission.k8s.io/v1","request":{"object":{"a":[1,{"b":"c"}]},"uid":"late"}}`, "admission.k8s.io/v1", "late"},
		{"uid of another case", `{"request":{"UID":"x"}}`, "", ""},
		{"not JSON", "\x1f\x8b", "", ""},
		{"empty", "", "", ""},
	} {
		v, uid := reviewIdentity([]byte(tc.body))
		if v != tc.apiVersion || uid != tc.uid {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tc.name, v, uid, tc.apiVersion, tc.uid)
		}
	}
}

// TestBodyBudget: bodies are held against one budget shared by the endpoints. A body that
// would take more than is free is refused with its uid (429), the budget is whole again once
// requests are answered, and a declared Content-Length reserves nothing.
func TestBodyBudget(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	rec := &countingRefusals{}
	budget := NewBodyBudget(1 << 20)
	srv := webhook.NewServer(webhook.Options{})
	srv.Register(httpValidate, NewHTTP(h.v, logr.Discard(), HTTPOptions{Webhook: "validate", Metrics: rec, Budget: budget}))
	ts := httptest.NewServer(srv.WebhookMux())
	t.Cleanup(ts.Close)
	s := &webhookServer{t: t, h: h, url: ts.URL, client: &http.Client{Timeout: 60 * time.Second}}

	big := review("admission.k8s.io/v1", requestJSON("big", kPod, "CREATE",
		kPod.object("x", `{"containers":[{"name":"c","image":"nginx:1","env":[{"name":"PAD","value":"`+strings.Repeat("x", 2<<20)+`"}]}]}`)))
	r := s.post(httpValidate, "application/json", big)
	if r.Response.UID != "big" || r.Response.Allowed || r.code() != http.StatusTooManyRequests ||
		!strings.Contains(r.message(), "Bulwark holds the most admission request bodies it may at once") {
		t.Errorf("a body over the budget: uid %q allowed %v code %d %q", r.Response.UID, r.Response.Allowed, r.code(), r.message())
	}
	if free := available(budget); free != 1<<20 {
		t.Errorf("the budget has %d bytes free after the answer, want all %d", free, 1<<20)
	}
	small := review("admission.k8s.io/v1", requestJSON("small", kPod, "CREATE", kPod.object("x", minimalSpec)))
	if r := s.post(httpValidate, "application/json", small); r.Response.UID != "small" || r.code() == http.StatusTooManyRequests {
		t.Errorf("a small body after the refusal: uid %q code %d %q", r.Response.UID, r.code(), r.message())
	}

	// A client that declares 19 MiB and sends the start of a review holds what it sent: the
	// handler is waiting for the rest while the budget is read.
	release := holdBody(t, ts.URL+httpValidate, MaxRequestBytes, small[:len(small)/2])
	time.Sleep(200 * time.Millisecond)
	if free := available(budget); free < 1<<20-int64(len(small)) {
		t.Errorf("a declared Content-Length of %d took %d bytes of the budget before they arrived", MaxRequestBytes, 1<<20-free)
	}
	release()
	if got := rec.list(); !strings.HasPrefix(got, "validate/body_budget") {
		t.Errorf("refusals counted: %q", got)
	}
}

// TestSlowBodyCutOff: a client that sends the start of a review and then trickles the rest is
// answered with a denial of its uid once the grace has passed, over HTTP/1.1 and HTTP/2, its
// bytes go back to the budget, and a client that sends at a normal pace is served.
func TestSlowBodyCutOff(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	rec := &countingRefusals{}
	budget := NewBodyBudget(1 << 20)
	srv := webhook.NewServer(webhook.Options{})
	srv.Register(httpValidate, NewHTTP(h.v, logr.Discard(), HTTPOptions{
		Webhook: "validate", Metrics: rec, Budget: budget, BodyGrace: 300 * time.Millisecond, MinBodyRate: 64 << 10}))
	ts := httptest.NewUnstartedServer(srv.WebhookMux())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)

	pad := strings.Repeat("x", 200<<10)
	body := review("admission.k8s.io/v1", requestJSON("slow", kPod, "CREATE",
		kPod.object("x", `{"containers":[{"name":"c","image":"nginx:1","env":[{"name":"PAD","value":"`+pad+`"}]}]}`)))
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			client := ts.Client()
			client.Timeout = 20 * time.Second
			if proto == "HTTP/1.1" {
				tr := client.Transport.(*http.Transport).Clone()
				tr.ForceAttemptHTTP2, tr.TLSNextProto = false, map[string]func(string, *tls.Conn) http.RoundTripper{}
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
				client = &http.Client{Transport: tr, Timeout: 20 * time.Second}
			}
			// The first 4 KiB at once, then 1 KiB every 100 ms: 10 KiB/s, under the minimum.
			pr, pw := io.Pipe()
			go func() {
				if _, err := pw.Write(body[:4096]); err != nil {
					return
				}
				for off := 4096; off < len(body); off += 1024 {
					time.Sleep(100 * time.Millisecond)
					if _, err := pw.Write(body[off:min(off+1024, len(body))]); err != nil {
						return
					}
				}
				pw.Close()
			}()
			req, _ := http.NewRequest(http.MethodPost, ts.URL+httpValidate, pr)
			req.ContentLength = int64(len(body))
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := client.Do(req)
			t.Logf("answered after %s", time.Since(start))
			defer pw.CloseWithError(errors.New("test over"))
			if err != nil {
				t.Fatalf("the slow client got no answer: %v", err)
			}
			defer resp.Body.Close()
			var r reviewResponse
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Response == nil {
				t.Fatalf("answer not a review: %v", err)
			}
			if resp.Proto != proto {
				t.Errorf("answered over %s, want %s", resp.Proto, proto)
			}
			if r.Response.UID != "slow" || r.Response.Allowed || r.code() != http.StatusRequestTimeout ||
				!strings.Contains(r.message(), "the AdmissionReview body arrived too slowly") {
				t.Errorf("the slow body: uid %q allowed %v code %d %q", r.Response.UID, r.Response.Allowed, r.code(), r.message())
			}
		})
	}
	if free := available(budget); free != 1<<20 {
		t.Errorf("the budget has %d bytes free after the answers, want all %d", free, 1<<20)
	}
	if got := rec.list(); got != "validate/slow_body validate/slow_body" {
		t.Errorf("refusals counted: %q", got)
	}

	// The same body written at once is read whole and evaluated: the pace allows it.
	s := &webhookServer{t: t, h: h, url: ts.URL, client: ts.Client()}
	if r := s.post(httpValidate, "application/json", body); r.Response.UID != "slow" || !r.Response.Allowed {
		t.Errorf("the body sent at once: uid %q allowed %v code %d %q", r.Response.UID, r.Response.Allowed, r.code(), r.message())
	}
}

// TestBodyBudgetReserve: while large bodies hold all the budget they may take, an ordinary
// review (at most smallBody) is still read, from the quarter kept for it; a larger one is
// refused.
func TestBodyBudgetReserve(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	budget := NewBodyBudget(704 << 10) // 528 KiB for any body, 176 KiB kept for small ones
	srv := webhook.NewServer(webhook.Options{})
	srv.Register(httpValidate, NewHTTP(h.v, logr.Discard(), HTTPOptions{Webhook: "validate", Budget: budget}))
	ts := httptest.NewServer(srv.WebhookMux())
	t.Cleanup(ts.Close)
	s := &webhookServer{t: t, h: h, url: ts.URL, client: &http.Client{Timeout: 60 * time.Second}}

	// A client sends 500 KiB of a body and holds the rest: its buffer of 512 KiB holds 496 KiB
	// of the 528 (the first 16 KiB are outside the budget).
	release := holdBody(t, ts.URL+httpValidate, 2<<20, review("admission.k8s.io/v1", requestJSON("holder", kPod, "CREATE", `{"a":"`+strings.Repeat("x", 500<<10))))
	deadline := time.Now().Add(10 * time.Second)
	for budget.free.Load() > 32<<10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, want := budget.free.Load(), int64(32<<10); got != want {
		t.Fatalf("the held body left %d bytes free, want %d", got, want)
	}
	pad := func(uid string, n int) []byte {
		return review("admission.k8s.io/v1", requestJSON(uid, kPod, "CREATE",
			kPod.object("x", `{"containers":[{"name":"c","image":"nginx:1","env":[{"name":"PAD","value":"`+strings.Repeat("y", n)+`"}]}]}`)))
	}
	// 100 KiB needs a 128 KiB buffer, 112 KiB of the budget: more than is free (32 KiB).
	if r := s.post(httpValidate, "application/json", pad("ordinary", 100<<10)); r.Response.UID != "ordinary" || r.code() == http.StatusTooManyRequests {
		t.Errorf("an ordinary review while the budget is held: code %d %q", r.code(), r.message())
	}
	if r := s.post(httpValidate, "application/json", pad("large", 300<<10)); r.code() != http.StatusTooManyRequests {
		t.Errorf("a 300 KiB review while the budget is held: code %d %q, want 429", r.code(), r.message())
	}
	release()
	// The handler notices the client gone on its next read.
	for deadline := time.Now().Add(10 * time.Second); available(budget) != 704<<10 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := available(budget); got != 704<<10 {
		t.Errorf("the budget has %d bytes after the answers, want all %d", got, 704<<10)
	}
}

// holdBody posts to url a body declared as declared bytes long, sends its first part and
// holds the rest back; release ends the request (the client goes away) and waits for it.
func holdBody(t *testing.T, url string, declared int64, first []byte) (release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, url, pr)
	req.ContentLength = declared
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	return func() {
		pw.CloseWithError(io.ErrUnexpectedEOF)
		<-done
	}
}

// available is what a budget has left, both parts.
func available(b *BodyBudget) int64 { return b.free.Load() + b.reserve.Load() }
