package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
	bulwarkadmission "github.com/bulwark-k8s/bulwark/pkg/admission"
	"github.com/bulwark-k8s/bulwark/pkg/images"
	bulwarkmetrics "github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// Image lookups (`bulwark serve --resolve-images`): the mutating webhook asks each image's
// registry what user the image runs as, through a cache, within a time budget per request.
// The benchmarks run /mutate as BenchmarkServeHTTP runs it, with an admission.ImageUsers built
// from an images.Resolver against go-containerregistry's registry (pkg/registry) on
// 127.0.0.1:
//
//	ServeHTTP/fixture=minimal-pod/engine=bulwark-mutate-nsa-images
//	                the cache warm (the image looked up once before the timer starts), beside
//	                ServeHTTP/fixture=minimal-pod/engine=bulwark-mutate-nsa, the same request
//	                without lookups. The pod sets no runAsUser nor runAsNonRoot, so the
//	                mutation asks for its image's user; the image runs as 65532, so the patch
//	                is the same as without lookups.
//	ServeHTTP/fixture=minimal-pod-pull-secret/engine=bulwark-mutate-nsa{,-images}
//	                the same Pod with its image in a registry that wants credentials, and a
//	                pull secret (`--image-pull-secrets`): the credentials are read from the
//	                Secret, as an informer's cache hands it out, on every request.
//	ImageLookupCold/fixture=minimal-pod/engine=bulwark-mutate-nsa-images/budget=100ms
//	                every request finds the cache empty and the registry stalled: the request
//	                should take the budget and no more. overrun-ns/op is the mean time past
//	                the budget, max-overrun-ns the worst request's.
//
// The fixtures name their images on registry.example.com and private.example.com, as the
// other benchmarks' requests do: the resolver's transport routes those hosts to the
// registries on 127.0.0.1 (over HTTP), so the requests are the same bytes with and without
// lookups.

const (
	publicRegistry  = "registry.example.com"
	privateRegistry = "private.example.com"
	pullSecretName  = "private-example-com"
	// imageUser is the user of the pushed images: numeric and not root, so that the mutation
	// adds runAsNonRoot as it does without lookups.
	imageUser = "65532:65532"
)

// routes is a transport that sends the requests for a registry host to another address, over
// plain HTTP.
type routes map[string]string

func (rt routes) RoundTrip(req *http.Request) (*http.Response, error) {
	to, ok := rt[req.URL.Host]
	if !ok {
		return nil, fmt.Errorf("no registry at %s", req.URL.Host)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = "http", to, to
	return http.DefaultTransport.RoundTrip(r)
}

// imageCase is a /mutate handler with image lookups for a fixture.
type imageCase struct {
	f      *fixture
	engine string
	h      http.Handler
	users  bulwarkadmission.ImageUsers
	// counters: the registries' manifest reads and the resolver's cache hits, to make sure
	// the measured requests are served from the cache.
	reads func() int64
	hits  func() float64
}

// warmImageLookups returns /mutate with image lookups for minimal-pod (anonymous) and for
// minimal-pod-pull-secret (with its pull secret), each with its cache warm, after checking
// that their answers are those of /mutate without lookups. The registries are served until b
// ends.
func (e *environment) warmImageLookups(b *testing.B) []imageCase {
	b.Helper()
	public := registrytest.Start(b, "", "")
	private := registrytest.Start(b, "puller", "s3cret")
	public.Push(b, "demo/hello:2.1.0", imageUser)
	private.Push(b, "demo/hello:2.1.0", imageUser)

	// The pull secret as the server reads it: from an informer's cache, which hands out a
	// deep copy of the cached Secret (controller-runtime's cache.Get).
	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := secrets.Add(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: pullSecretName,
			UID: "0f5c3f7e-8a57-4d4b-9d4e-5a0b7c1d2e3f", ResourceVersion: "48121"},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: private.DockerConfig(privateRegistry)},
	}); err != nil {
		b.Fatal(err)
	}
	read := func(_ context.Context, namespace string, names []string) []corev1.Secret {
		out := make([]corev1.Secret, 0, len(names))
		for _, name := range names {
			obj, ok, err := secrets.GetByKey(namespace + "/" + name)
			if err != nil || !ok {
				continue
			}
			out = append(out, *obj.(*corev1.Secret).DeepCopy())
		}
		return out
	}

	reg := prometheus.NewRegistry()
	rec, err := bulwarkmetrics.NewImagePrometheus(reg)
	if err != nil {
		b.Fatal(err)
	}
	// As `bulwark serve` builds it (pkg/server), with the routes to the registries.
	resolver := images.New(images.Options{Metrics: rec, Log: e.log.WithName("images"),
		Transport: routes{publicRegistry: public.Host, privateRegistry: private.Host}})
	// No ServiceAccounts: minimal-pod is looked up anonymously, as with --resolve-images alone,
	// and minimal-pod-pull-secret names its own pull secret, so its ServiceAccount's are not
	// read.
	opts := *e.mutateNSA
	users := bulwarkadmission.ResolveImages(resolver, read, nil)
	opts.Images = users
	h := e.instrumented("/mutate", bulwarkadmission.NewMutator(opts))
	reads := func() int64 { return public.Manifests.Load() + private.Manifests.Load() }
	hits := func() float64 { return lookups(b, reg, "hit") }

	var out []imageCase
	for _, f := range []*fixture{fixtureNamed("minimal-pod"), pullSecretPod} {
		// The first request looks the image up (well within the default budget, 1 s), the
		// second must find it in the cache; both answer as /mutate without lookups.
		want := serve(e.httpMutateNSA, f.review)
		for i, from := range []string{"the registry", "the cache"} {
			before, hit := reads(), hits()
			got := serve(h, f.review)
			if err := sameAnswer(got, want); err != nil {
				b.Fatalf("%s: /mutate with the image from %s: %v", f.name, from, err)
			}
			if i == 1 && (reads() != before || hits() != hit+1) {
				b.Fatalf("%s: the second request read %d manifests and hit the cache %v times, want 0 and 1",
					f.name, reads()-before, hits()-hit)
			}
		}
		out = append(out, imageCase{f: f, engine: "bulwark-mutate-nsa-images", h: h, users: users, reads: reads, hits: hits})
	}
	return out
}

// sameAnswer says how the response got differs from want (decision, patch, warnings).
func sameAnswer(got, want *httptest.ResponseRecorder) error {
	g, err := decodeResponse(got)
	if err != nil {
		return fmt.Errorf("HTTP %d: %v: %s", got.Code, err, got.Body)
	}
	w, err := decodeResponse(want)
	if err != nil {
		return err
	}
	if g.Allowed != w.Allowed || !bytes.Equal(g.Patch, w.Patch) || !slices.Equal(g.Warnings, w.Warnings) || len(g.Patch) == 0 {
		return fmt.Errorf("allowed=%v patch=%s warnings=%q, want allowed=%v patch=%s warnings=%q",
			g.Allowed, g.Patch, g.Warnings, w.Allowed, w.Patch, w.Warnings)
	}
	return nil
}

// lookups reads bulwark_image_lookups_total for result from reg.
func lookups(b *testing.B, reg prometheus.Gatherer, result string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "bulwark_image_lookups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	b.Fatalf("no bulwark_image_lookups_total{result=%q}", result)
	return 0
}

func fixtureNamed(name string) *fixture {
	for _, f := range fixtures {
		if f.name == name {
			return f
		}
	}
	panic("no fixture " + name)
}

// benchImages times a /mutate handler with image lookups on c's fixture, and fails when a
// request did not find its image in the cache.
func benchImages(b *testing.B, c imageCase) {
	reads, hits, n := c.reads(), c.hits(), 0
	run(b, func() {
		if w := serve(c.h, c.f.review); w.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", w.Code, w.Body)
		}
		n++
	})
	if r, h := c.reads()-reads, c.hits()-hits; r != 0 || h != float64(n) {
		b.Fatalf("%d requests read %d manifests and hit the cache %v times, want 0 and %d", n, r, h, n)
	}
}

// BenchmarkImageUsers is the part of the warm benchmarks that image lookups add to /mutate:
// admission.ImageUsers on the decoded pod, then the user of each of its containers' images, as
// the mutation asks for them; the pull secret read and its credentials included.
func BenchmarkImageUsers(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	for _, c := range e.warmImageLookups(b) {
		pod, ok, err := podspec.Decode(c.f.gk, c.f.raw)
		if err != nil || !ok {
			b.Fatalf("%s: podspec.Decode: %v, %v", c.f.name, ok, err)
		}
		var refs []string
		pod.Containers(func(c podspec.Container) bool {
			refs = append(refs, c.Image)
			return true
		})
		b.Run("fixture="+c.f.name+"/engine=bulwark-images-warm", func(b *testing.B) {
			reads, hits, n := c.reads(), c.hits(), 0
			run(b, func() {
				users := c.users(ctx, Namespace, pod)
				for _, ref := range refs {
					if u := users(ref); !u.Known || u.User != imageUser {
						b.Fatalf("%s: %+v", ref, u)
					}
				}
				n++
			})
			if r, h := c.reads()-reads, c.hits()-hits; r != 0 || h != float64(n) {
				b.Fatalf("%d lookups read %d manifests and hit the cache %v times, want 0 and %d", n, r, h, n)
			}
		})
	}
}

// BenchmarkImageLookupCold is /mutate with image lookups when the image's registry does not
// answer: an HTTP server on 127.0.0.1 that holds every request until the client gives up. With
// a budget of 100 ms a request should take 100 ms plus what /mutate costs without lookups, and
// allow the pod without runAsNonRoot, saying why. Two cases:
//
//	lookup=new     the cache is empty on every request (a new resolver each time): each
//	               request starts a lookup, which goes on in the background after the budget
//	               (LookupTimeout, 1 s here)
//	lookup=joined  one resolver, whose first lookup is still waiting for the registry: each
//	               request joins it, as every request for the image does while a registry stalls
//
// engine=timer/budget=100ms is the reference for the time past the budget: a bare wait for a
// context whose timeout is the budget, in the same process, so that what the machine adds to
// any timer (a goroutine waiting for a core when the timer fires) is not taken for Bulwark's.
func BenchmarkImageLookupCold(b *testing.B) {
	e := setup(b)
	const budget = 100 * time.Millisecond
	var asked atomic.Int64 // requests the registry received
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		<-r.Context().Done()
		http.Error(w, "stalled", http.StatusServiceUnavailable)
	}))
	b.Cleanup(func() {
		stalled.CloseClientConnections()
		stalled.Close()
	})
	if host, _, _ := net.SplitHostPort(stalled.Listener.Addr().String()); host != "127.0.0.1" {
		b.Fatalf("the stalled registry listens on %s", host)
	}
	reg := prometheus.NewRegistry()
	rec, err := bulwarkmetrics.NewImagePrometheus(reg)
	if err != nil {
		b.Fatal(err)
	}
	rt := routes{publicRegistry: strings.TrimPrefix(stalled.URL, "http://")}
	f := fixtureNamed("minimal-pod")

	b.Run("engine=timer/budget="+budget.String(), func(b *testing.B) {
		overrun(b, budget, func() {
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			<-ctx.Done()
			cancel()
		})
	})

	// joined's lookup must outlast the benchmark.
	shared := images.New(images.Options{Budget: budget, LookupTimeout: time.Hour, Transport: rt, Metrics: rec, Log: e.log})
	for _, c := range []struct {
		lookup string
		users  bulwarkadmission.ImageUsers
		// joins: no request asks the registry anything; each waits for the first's lookup.
		joins bool
	}{
		{"new", func(ctx context.Context, namespace string, pod *podspec.Pod) func(string) mutate.ImageUser {
			r := images.New(images.Options{Budget: budget, LookupTimeout: time.Second, Transport: rt, Metrics: rec, Log: e.log})
			return bulwarkadmission.ResolveImages(r, nil, nil)(ctx, namespace, pod)
		}, false},
		{"joined", bulwarkadmission.ResolveImages(shared, nil, nil), true},
	} {
		opts := *e.mutateNSA
		opts.Images = c.users
		h := e.instrumented("/mutate", bulwarkadmission.NewMutator(opts))

		// The first request: the pod allowed and patched without runAsNonRoot, a warning that
		// the image could not be looked up, a timeout counted. For joined, it starts the lookup.
		timeouts := lookups(b, reg, "timeout")
		w := serve(h, f.review)
		resp, err := decodeResponse(w)
		if err != nil {
			b.Fatalf("HTTP %d: %v: %s", w.Code, err, w.Body)
		}
		if !resp.Allowed || len(resp.Patch) == 0 || bytes.Contains(resp.Patch, []byte("runAsNonRoot")) ||
			!slices.ContainsFunc(resp.Warnings, func(s string) bool { return strings.Contains(s, "could not be looked up") }) {
			b.Fatalf("a lookup past the budget: allowed=%v patch=%s warnings=%q; want the pod patched without runAsNonRoot and a warning that the image could not be looked up",
				resp.Allowed, resp.Patch, resp.Warnings)
		}
		if n := lookups(b, reg, "timeout") - timeouts; n != 1 {
			b.Fatalf("%v lookups timed out, want 1", n)
		}

		b.Run("fixture="+f.name+"/engine=bulwark-mutate-nsa-images/budget="+budget.String()+"/lookup="+c.lookup, func(b *testing.B) {
			timeouts, before := lookups(b, reg, "timeout"), asked.Load()
			n := overrun(b, budget, func() {
				if w := serve(h, f.review); w.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", w.Code, w.Body)
				}
			})
			if got := lookups(b, reg, "timeout") - timeouts; got != float64(n) {
				b.Fatalf("%d requests, %v lookups timed out; want every one", n, got)
			}
			if got := asked.Load() - before; c.joins && got != 0 {
				b.Fatalf("%d requests asked the registry %d times; want them to join the lookup in flight", n, got)
			}
		})
	}
}

// overrun times fn with run and reports how long it took past budget: overrun-ns/op, the mean,
// and max-overrun-ns, the slowest call's. It returns the number of calls.
func overrun(b *testing.B, budget time.Duration, fn func()) int {
	var total, worst time.Duration
	n := 0
	run(b, func() {
		start := time.Now()
		fn()
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		n++
	})
	b.ReportMetric(float64(total/time.Duration(n)-budget), "overrun-ns/op")
	b.ReportMetric(float64(worst-budget), "max-overrun-ns")
	return n
}
