package server

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long the metrics gate keeps an answer for one bearer token, method and path. An allowed
// scraper costs the apiserver one TokenReview and one SubjectAccessReview a minute per replica;
// a revoked token or permission stops working within that minute.
const (
	allowedFor      = time.Minute
	forbiddenFor    = 30 * time.Second
	unauthorizedFor = 10 * time.Second
	// reviewTimeout bounds each review; the scrape fails (503) rather than waits longer.
	reviewTimeout = 10 * time.Second
	// maxAnswers bounds the cache: requests with ever new tokens must not grow it without end.
	maxAnswers = 1024
)

// tokenReviewer and accessReviewer are the one method of the typed clients the gate calls.
type tokenReviewer interface {
	Create(context.Context, *authenticationv1.TokenReview, metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

type accessReviewer interface {
	Create(context.Context, *authorizationv1.SubjectAccessReview, metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// metricsAuth is the metrics server's FilterProvider: a caller must send a bearer token that
// the apiserver authenticates (TokenReview) and allows to use the request's method on its path
// as a non-resource URL (SubjectAccessReview, e.g. get on /metrics), the way the Kubernetes
// components protect their own metrics.
func metricsAuth(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationclient.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationclient.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return newMetricsGate(authn.TokenReviews(), authz.SubjectAccessReviews(), log, next), nil
	}, nil
}

// metricsGate answers each request with next or with the reason it may not have it.
type metricsGate struct {
	tokens tokenReviewer
	access accessReviewer
	log    logr.Logger
	next   http.Handler
	now    func() time.Time

	mu      sync.Mutex
	answers map[gateKey]gateAnswer
}

// gateKey identifies what was decided: the token (by its hash; the token itself is not kept),
// the method and the path.
type gateKey struct {
	token        [sha256.Size]byte
	method, path string
}

// gateAnswer is a decision: code 0 lets the request through, anything else is the response.
type gateAnswer struct {
	code    int
	message string
	expires time.Time
}

func newMetricsGate(tokens tokenReviewer, access accessReviewer, log logr.Logger, next http.Handler) *metricsGate {
	return &metricsGate{tokens: tokens, access: access, log: log, next: next, now: time.Now, answers: map[gateKey]gateAnswer{}}
}

func (g *metricsGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark metrics"`)
		http.Error(w, "Unauthorized: send an Authorization: Bearer header with a token the Kubernetes apiserver accepts", http.StatusUnauthorized)
		return
	}
	key := gateKey{token: sha256.Sum256([]byte(token)), method: r.Method, path: r.URL.Path}
	a, ok := g.cached(key)
	if !ok {
		var err error
		if a, err = g.review(r.Context(), token, r.Method, r.URL.Path); err != nil {
			g.log.Error(err, "cannot check a metrics request with the apiserver", "path", r.URL.Path)
			http.Error(w, "Service Unavailable: the Kubernetes apiserver could not be asked about the token: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		g.remember(key, a)
	}
	if a.code != 0 {
		if a.code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark metrics", error="invalid_token"`)
		}
		http.Error(w, a.message, a.code)
		return
	}
	g.next.ServeHTTP(w, r)
}

// review asks the apiserver who the token belongs to and whether that user may use method on
// path. An error means the apiserver could not answer, not that the answer was no.
func (g *metricsGate) review(ctx context.Context, token, method, path string) (gateAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	now := g.now()
	tr, err := g.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return gateAnswer{}, err
	}
	if !tr.Status.Authenticated {
		g.log.V(1).Info("metrics request with a token the apiserver does not accept", "path", path, "reason", tr.Status.Error)
		return gateAnswer{code: http.StatusUnauthorized, message: "Unauthorized: the Kubernetes apiserver does not accept the token", expires: now.Add(unauthorizedFor)}, nil
	}
	user := tr.Status.User
	verb := strings.ToLower(method)
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}}
	if len(user.Extra) > 0 {
		sar.Spec.Extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			sar.Spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	res, err := g.access.Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return gateAnswer{}, err
	}
	if !res.Status.Allowed {
		g.log.V(1).Info("metrics request denied", "user", user.Username, "verb", verb, "path", path, "reason", res.Status.Reason)
		return gateAnswer{code: http.StatusForbidden, message: "Authorization denied for user " + user.Username + ": it may not " + verb + " " + path,
			expires: now.Add(forbiddenFor)}, nil
	}
	return gateAnswer{expires: now.Add(allowedFor)}, nil
}

func (g *metricsGate) cached(key gateKey) (gateAnswer, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.answers[key]
	if !ok || !g.now().Before(a.expires) {
		return gateAnswer{}, false
	}
	return a, true
}

func (g *metricsGate) remember(key gateKey, a gateAnswer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.answers) >= maxAnswers {
		now := g.now()
		for k, old := range g.answers {
			if !now.Before(old.expires) {
				delete(g.answers, k)
			}
		}
		if len(g.answers) >= maxAnswers {
			clear(g.answers)
		}
	}
	g.answers[key] = a
}

// bearerToken is the token of an "Authorization: Bearer TOKEN" header; the scheme is
// case-insensitive (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
