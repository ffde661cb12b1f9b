package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeAPIServer answers reviews from tables and counts them.
type fakeAPIServer struct {
	users      map[string]authenticationv1.UserInfo // token → user
	allowed    map[string]bool                      // "user verb path"
	down       bool
	tokenCalls int
	sars       []authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeAPIServer) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	f.tokenCalls++
	if f.down {
		return nil, errors.New("connection refused")
	}
	out := tr.DeepCopy()
	if u, ok := f.users[tr.Spec.Token]; ok {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
	} else {
		out.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
	}
	return out, nil
}

type fakeAccess struct{ *fakeAPIServer }

func (f fakeAccess) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f.sars = append(f.sars, sar.Spec)
	out := sar.DeepCopy()
	a := sar.Spec.NonResourceAttributes
	out.Status.Allowed = f.allowed[sar.Spec.User+" "+a.Verb+" "+a.Path]
	return out, nil
}

func TestMetricsGate(t *testing.T) {
	scraper := authenticationv1.UserInfo{Username: "system:serviceaccount:monitoring:prometheus", UID: "u-1",
		Groups: []string{"system:serviceaccounts"}, Extra: map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"prometheus-0"}}}
	stranger := authenticationv1.UserInfo{Username: "system:serviceaccount:default:app"}
	api := &fakeAPIServer{
		users:   map[string]authenticationv1.UserInfo{"scraper-token": scraper, "stranger-token": stranger},
		allowed: map[string]bool{scraper.Username + " get /metrics": true},
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "bulwark_policy_info 1\n") })
	g := newMetricsGate(api, fakeAccess{api}, logr.Discard(), metrics)
	g.now = func() time.Time { return now }
	get := func(header string) (int, string, http.Header) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w.Code, w.Body.String(), w.Header()
	}
	expect := func(what, header string, code int, body string, tokenCalls int) {
		t.Helper()
		got, text, _ := get(header)
		if got != code || !strings.Contains(text, body) || (code != http.StatusOK && strings.Contains(text, "bulwark_")) {
			t.Errorf("%s: HTTP %d %q, want %d containing %q", what, got, text, code, body)
		}
		if api.tokenCalls != tokenCalls {
			t.Errorf("%s: %d TokenReviews so far, want %d", what, api.tokenCalls, tokenCalls)
		}
	}

	for _, h := range []string{"", "Basic c2NyYXBlcjpwdw==", "Bearer", "Bearer   "} {
		code, body, hdr := get(h)
		if code != http.StatusUnauthorized || !strings.Contains(body, "Authorization: Bearer") || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: HTTP %d %q (WWW-Authenticate %q), want 401 asking for a bearer token", h, code, body, hdr.Get("WWW-Authenticate"))
		}
	}
	expect("no token reaches the apiserver", "", http.StatusUnauthorized, "Unauthorized", 0)

	expect("a token the apiserver rejects", "Bearer forged", http.StatusUnauthorized, "does not accept the token", 1)
	expect("the same token again, answered from the cache", "Bearer forged", http.StatusUnauthorized, "does not accept the token", 1)

	expect("a valid token without the permission", "Bearer stranger-token", http.StatusForbidden,
		"Authorization denied for user system:serviceaccount:default:app: it may not get /metrics", 2)

	expect("the scraper, case-insensitive scheme", "bearer scraper-token", http.StatusOK, "bulwark_policy_info", 3)
	want := authorizationv1.SubjectAccessReviewSpec{User: scraper.Username, UID: "u-1", Groups: scraper.Groups,
		Extra:                 map[string]authorizationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"prometheus-0"}},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}
	if last := api.sars[len(api.sars)-1]; !reflect.DeepEqual(last, want) {
		t.Errorf("SubjectAccessReview for the scraper:\n got %+v\nwant %+v", last, want)
	}
	expect("the scraper within the minute", "Bearer scraper-token", http.StatusOK, "bulwark_policy_info", 3)

	// Answers expire: the rejection after 10 s, the denial after 30 s, the permission after a minute.
	now = now.Add(11 * time.Second)
	expect("the rejected token after 11 s", "Bearer forged", http.StatusUnauthorized, "does not accept", 4)
	expect("the denied token after 11 s", "Bearer stranger-token", http.StatusForbidden, "Authorization denied", 4)
	now = now.Add(20 * time.Second)
	expect("the denied token after 31 s", "Bearer stranger-token", http.StatusForbidden, "Authorization denied", 5)
	expect("the scraper after 31 s", "Bearer scraper-token", http.StatusOK, "bulwark_policy_info", 5)
	now = now.Add(30 * time.Second)
	expect("the scraper after 61 s", "Bearer scraper-token", http.StatusOK, "bulwark_policy_info", 6)

	// An apiserver that cannot answer is an error of the moment: 503, and not remembered.
	api.down = true
	expect("a new token while the apiserver is down", "Bearer other", http.StatusServiceUnavailable, "connection refused", 7)
	expect("the scraper while its answer is fresh", "Bearer scraper-token", http.StatusOK, "bulwark_policy_info", 7)
	api.down = false
	api.users["other"] = scraper
	expect("the new token once the apiserver is back", "Bearer other", http.StatusOK, "bulwark_policy_info", 8)

	// Ever new tokens do not grow the cache without bound.
	for i := range maxAnswers + 10 {
		get(fmt.Sprintf("Bearer flood-%d", i))
	}
	if n := len(g.answers); n > maxAnswers {
		t.Errorf("%d cached answers after a flood of tokens, want at most %d", n, maxAnswers)
	}
}
