package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Paths as pkg/server registers them (pkg/server imports this package, so its constants
// cannot be used here).
const (
	httpValidate = "/validate"
	httpMutate   = "/mutate"
)

// maxBody is the limit on an AdmissionReview body: the largest an apiserver sends.
const maxBody = MaxRequestBytes

// webhookServer serves both handlers the way `bulwark serve` does: NewHTTP around the
// Validator and Mutator, registered on a controller-runtime webhook.Server (which
// adds its instrumentation), whose mux is served here over plain HTTP.
type webhookServer struct {
	t      *testing.T
	h      *harness
	url    string
	client *http.Client
}

func newWebhookServer(t *testing.T) *webhookServer {
	t.Helper()
	h := newHarness(t, profile(t, "nsa"))
	srv := webhook.NewServer(webhook.Options{})
	srv.Register(httpValidate, NewHTTP(h.v, logr.Discard(), HTTPOptions{}))
	srv.Register(httpMutate, NewHTTP(h.m, logr.Discard(), HTTPOptions{}))
	ts := httptest.NewServer(srv.WebhookMux())
	t.Cleanup(ts.Close)
	// A timeout on every request: a hung connection fails the test instead of hanging it.
	return &webhookServer{t: t, h: h, url: ts.URL, client: &http.Client{Timeout: 20 * time.Second}}
}

// reviewResponse is what a webhook answers, read without the typed decoder so that its
// apiVersion and kind are seen as sent.
type reviewResponse struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   *struct {
		UID       string `json:"uid"`
		Allowed   bool   `json:"allowed"`
		Patch     []byte `json:"patch"`
		PatchType string `json:"patchType"`
		Status    *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
		Warnings []string `json:"warnings"`
	} `json:"response"`
}

func (r *reviewResponse) code() int {
	if r.Response == nil || r.Response.Status == nil {
		return 0
	}
	return r.Response.Status.Code
}

func (r *reviewResponse) message() string {
	if r.Response == nil || r.Response.Status == nil {
		return ""
	}
	return r.Response.Status.Message
}

// post sends body to path with a Content-Type and returns the decoded answer. The HTTP status
// is 200 for every answer, errors included: the webhook protocol carries the error in
// response.status.
func (s *webhookServer) post(path, contentType string, body []byte) *reviewResponse {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return s.do(req)
}

func (s *webhookServer) do(req *http.Request) *reviewResponse {
	s.t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	var out reviewResponse
	if err := json.Unmarshal(data, &out); err != nil {
		s.t.Fatalf("%s %s: answer is not JSON: %v: %.300s", req.Method, req.URL.Path, err, data)
	}
	if out.Response == nil {
		s.t.Fatalf("%s %s: answer has no response: %.300s", req.Method, req.URL.Path, data)
	}
	return &out
}

// assertServing sends a good request to both webhooks: the privileged pod is denied by
// /validate and patched by /mutate.
func (s *webhookServer) assertServing() {
	s.t.Helper()
	body := review("admission.k8s.io/v1", requestJSON("good", kPod, "CREATE", kPod.object("root", privilegedSpec)))
	v := s.post(httpValidate, "application/json", body)
	if v.Response.Allowed || v.code() != http.StatusForbidden || !strings.Contains(v.message(), "[privileged]") || v.Response.UID != "good" {
		s.t.Fatalf("server no longer serving /validate: %+v", v.Response)
	}
	m := s.post(httpMutate, "application/json", body)
	if !m.Response.Allowed || m.Response.PatchType != "JSONPatch" || len(m.Response.Patch) == 0 || m.Response.UID != "good" {
		s.t.Fatalf("server no longer serving /mutate: %+v", m.Response)
	}
}

const privilegedSpec = `{"containers":[{"name":"app","image":"nginx:1.27","securityContext":{"privileged":true}}]}`

// requestJSON is an AdmissionRequest as the apiserver sends it, as JSON.
func requestJSON(uid string, k kind, op, object string) string {
	obj := ""
	if object != "" {
		obj = `,"object":` + object
	}
	return fmt.Sprintf(`{"uid":%q,"kind":{"group":%q,"version":%q,"kind":%q},"resource":{"group":%q,"version":%q,"resource":%q},`+
		`"name":"x","namespace":"team-a","operation":%q,"userInfo":{"username":"alice@example.com"}%s}`,
		uid, k.group, k.version, k.kind, k.group, k.version, k.resource, op, obj)
}

// review wraps a request (JSON) in an AdmissionReview of apiVersion.
func review(apiVersion, request string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":%q,"kind":"AdmissionReview","request":%s}`, apiVersion, request))
}

// nested returns a JSON value nested depth objects deep.
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

// TestHTTPBadInput sends each bad request to both webhooks over HTTP: each gets a 4xx answer
// naming the problem, and the server keeps serving (a good request after each).
func TestHTTPBadInput(t *testing.T) {
	s := newWebhookServer(t)
	s.assertServing()

	podReq := func(uid string, k kind, object string) []byte {
		return review("admission.k8s.io/v1", requestJSON(uid, k, "CREATE", object))
	}
	// A pod template with an unknown field nested deeper than any decoder accepts.
	deepSpec := func(depth int) string {
		return `{"containers":[{"name":"app","image":"nginx:1.27"}],"x":` + nested(depth) + `}`
	}
	mismatch := kPod
	mismatch.resource = "deployments"
	mismatch.group = "apps"
	unknownOnPods := kService
	unknownOnPods.resource = "pods"

	cases := []struct {
		name        string
		contentType string // "" means application/json
		body        []byte
		code        int
		want        []string // fragments of response.status.message
	}{
		{name: "empty body", body: nil, code: 400, want: []string{"request body is empty"}},
		{name: "malformed JSON", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{`), code: 400,
			want: []string{"unexpected end of JSON input"}},
		{name: "binary", body: []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"), code: 400,
			want: []string{"decoding the AdmissionReview: invalid character '\\x1f' looking for beginning of value"}},
		// The Content-Type is application/json, and so must the body be: YAML is not read.
		{name: "YAML", body: []byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\n"), code: 400,
			want: []string{"decoding the AdmissionReview: invalid character 'a' looking for beginning of value"}},
		{name: "JSON array", body: []byte(`[1,2]`), code: 400, want: []string{"cannot unmarshal array"}},
		{name: "wrong Content-Type", contentType: "text/plain", body: podReq("u", kPod, kPod.object("x", minimalSpec)), code: 400,
			want: []string{"contentType=text/plain, expected application/json"}},
		{name: "Content-Type with parameters", contentType: "application/json; charset=utf-8", body: podReq("u", kPod, kPod.object("x", minimalSpec)), code: 400,
			want: []string{"contentType=application/json; charset=utf-8, expected application/json"}},
		{name: "body over the limit", body: append(podReq("u", kPod, kPod.object("x", minimalSpec)), bytes.Repeat([]byte(" "), maxBody)...), code: 413,
			want: []string{"bytes, over Bulwark's limit of 19922944; the object cannot be checked"}},
		// A body without apiVersion and kind is read as a v1 AdmissionReview, as
		// controller-runtime reads it; any other kind is refused by name.
		{name: "no AdmissionReview kind", body: []byte(`{"request":{"uid":"u"}}`), code: 400, want: []string{"the AdmissionReview request has no operation"}},
		{name: "a Pod instead of an AdmissionReview", body: []byte(kPod.object("x", privilegedSpec)), code: 400,
			want: []string{`the body is kind "Pod" of apiVersion "v1", not an AdmissionReview of admission.k8s.io/v1 or admission.k8s.io/v1beta1`}},
		{name: "an AdmissionReview of an unknown version", body: review("admission.k8s.io/v2", requestJSON("u", kPod, "CREATE", kPod.object("x", privilegedSpec))), code: 400,
			want: []string{`the body is kind "AdmissionReview" of apiVersion "admission.k8s.io/v2"`}},
		// Field names are matched exactly, as the kube-apiserver writes them: "Request" is not "request".
		{name: "field names in another case", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","Request":` + requestJSON("u", kPod, "CREATE", kPod.object("x", privilegedSpec)) + `}`), code: 400,
			want: []string{"the AdmissionReview has no request"}},
		{name: "no request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), code: 400,
			want: []string{"the AdmissionReview has no request"}},
		{name: "null request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`), code: 400,
			want: []string{"the AdmissionReview has no request"}},
		{name: "request without uid", body: review("admission.k8s.io/v1", strings.Replace(requestJSON("", kPod, "CREATE", kPod.object("x", privilegedSpec)), `"uid":"",`, "", 1)), code: 400,
			want: []string{"the AdmissionReview request has no uid"}},
		{name: "request without operation", body: review("admission.k8s.io/v1", requestJSON("u", kPod, "", kPod.object("x", privilegedSpec))), code: 400,
			want: []string{"the AdmissionReview request has no operation"}},
		{name: "no object", body: podReq("u", kPod, ""), code: 400, want: []string{"the AdmissionReview request has no object"}},
		{name: "null object", body: podReq("u", kPod, "null"), code: 400, want: []string{"the AdmissionReview request has no object"}},
		{name: "kind does not match resource", body: podReq("u", mismatch, kPod.object("x", privilegedSpec)), code: 400,
			want: []string{"the AdmissionReview request's kind Pod.apps does not match its resource deployments.apps"}},
		{name: "unknown kind on a pod resource", body: podReq("u", unknownOnPods, kPod.object("x", privilegedSpec)), code: 400,
			want: []string{"the AdmissionReview request's kind Service does not match its resource pods"}},
		{name: "object of another kind", body: podReq("u", kPod, kDeployment.object("x", privilegedSpec)), code: 400,
			want: []string{"the object is a Deployment.apps, but the AdmissionReview request says Pod"}},
		{name: "object is a string", body: podReq("u", kPod, `"pod"`), code: 400, want: []string{"decoding Pod: the object: got a string, want an object"}},
		{name: "nested deeper than the decoder's limit", body: podReq("u", kPod, kPod.object("x", deepSpec(20000))), code: 400,
			want: []string{"max depth"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			for _, path := range []string{httpValidate, httpMutate} {
				r := s.post(path, ct, c.body)
				if r.Response.Allowed || r.code() != c.code {
					t.Errorf("%s: allowed %v, code %d (%q); want denied with %d", path, r.Response.Allowed, r.code(), r.message(), c.code)
				}
				for _, w := range c.want {
					if !strings.Contains(r.message(), w) {
						t.Errorf("%s: message %q lacks %q", path, r.message(), w)
					}
				}
				if len(r.Response.Patch) != 0 {
					t.Errorf("%s: error answer carries a patch", path)
				}
				s.assertServing()
			}
		})
	}

	t.Run("GET without body", func(t *testing.T) {
		for _, path := range []string{httpValidate, httpMutate} {
			req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
			r := s.do(req)
			if r.Response.Allowed || r.code() != 400 || r.message() != "request body is empty" {
				t.Errorf("%s: %+v", path, r.Response)
			}
			s.assertServing()
		}
	})
}

// TestHTTPOddButValid: requests that are unusual but not wrong get a real decision.
func TestHTTPOddButValid(t *testing.T) {
	s := newWebhookServer(t)

	t.Run("v1beta1 AdmissionReview", func(t *testing.T) {
		// The webhook configurations ask for v1 only, but controller-runtime decodes v1beta1 the
		// same way and answers in the version it was asked in: the same decision.
		body := review("admission.k8s.io/v1beta1", requestJSON("b1", kPod, "CREATE", kPod.object("root", privilegedSpec)))
		v := s.post(httpValidate, "application/json", body)
		if v.APIVersion != "admission.k8s.io/v1beta1" || v.Kind != "AdmissionReview" {
			t.Errorf("answered as %s %s, want admission.k8s.io/v1beta1 AdmissionReview", v.APIVersion, v.Kind)
		}
		if v.Response.Allowed || v.code() != 403 || !strings.Contains(v.message(), "[privileged]") || v.Response.UID != "b1" {
			t.Errorf("validate: %+v", v.Response)
		}
		m := s.post(httpMutate, "application/json", body)
		if m.APIVersion != "admission.k8s.io/v1beta1" || !m.Response.Allowed || m.Response.PatchType != "JSONPatch" {
			t.Errorf("mutate: %s %+v", m.APIVersion, m.Response)
		}
		s.assertServing()
	})

	t.Run("unknown kind", func(t *testing.T) {
		// A kind Bulwark does not evaluate, on its own resource: the webhook configuration never
		// sends one, and denying it would block that kind in the whole cluster; it is admitted
		// with the reason.
		body := review("admission.k8s.io/v1", requestJSON("svc", kService, "CREATE", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`))
		for _, path := range []string{httpValidate, httpMutate} {
			r := s.post(path, "application/json", body)
			if !r.Response.Allowed || !strings.Contains(r.message(), "kind Service carries no pod template Bulwark knows") {
				t.Errorf("%s: %+v", path, r.Response)
			}
		}
	})

	t.Run("deeply nested unknown field within the limit", func(t *testing.T) {
		spec := `{"containers":[{"name":"app","image":"nginx:1.27","securityContext":{"privileged":true}}],"x":` + nested(5000) + `}`
		body := review("admission.k8s.io/v1", requestJSON("deep", kPod, "CREATE", kPod.object("x", spec)))
		v := s.post(httpValidate, "application/json", body)
		if v.Response.Allowed || v.code() != 403 || !strings.Contains(v.message(), "[privileged]") {
			t.Errorf("validate: %+v", v.Response)
		}
		m := s.post(httpMutate, "application/json", body)
		if !m.Response.Allowed || len(m.Response.Patch) == 0 {
			t.Errorf("mutate: %+v", m.Response)
		}
		s.assertServing()
	})

	t.Run("huge object under the limit", func(t *testing.T) {
		// 1000 privileged containers and a 5 MiB annotation: a decision within the client's
		// timeout, one denial naming the check, warnings within the apiserver's budget.
		var cs []string
		for i := range 1000 {
			cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":"nginx:1.27","securityContext":{"privileged":true}}`, i))
		}
		obj := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"big","annotations":{"blob":%q}},"spec":{"containers":[%s]}}`,
			strings.Repeat("x", 5<<20), strings.Join(cs, ","))
		body := review("admission.k8s.io/v1", requestJSON("big", kPod, "CREATE", obj))
		if len(body) >= maxBody {
			t.Fatalf("body of %d bytes is over the limit", len(body))
		}
		start := time.Now()
		v := s.post(httpValidate, "application/json", body)
		// The denial lists the first violations and counts the rest (maxDenialLines).
		if v.Response.Allowed || v.code() != 403 || !strings.Contains(v.message(), `Pod "big" violates`) ||
			!strings.Contains(v.message(), "spec.containers[49].securityContext.privileged") ||
			!strings.Contains(v.message(), "... and 950 more; run `bulwark scan`") {
			t.Errorf("validate: allowed %v code %d message %.300q", v.Response.Allowed, v.code(), v.message())
		}
		total := 0
		for _, w := range v.Response.Warnings {
			total += len(w)
		}
		if total > 4096 {
			t.Errorf("warnings of %d characters, over the apiserver's 4096", total)
		}
		m := s.post(httpMutate, "application/json", body)
		if !m.Response.Allowed || len(m.Response.Patch) == 0 {
			t.Errorf("mutate: allowed %v code %d message %q", m.Response.Allowed, m.code(), m.message())
		}
		t.Logf("huge object: both webhooks answered in %v; denial message %d bytes, patch %d bytes",
			time.Since(start), len(v.message()), len(m.Response.Patch))
		s.assertServing()
	})
}
