package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	bulwarkadmission "github.com/bulwark-k8s/bulwark/pkg/admission"
	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// The benchmarks are named Benchmark<Step>/fixture=<fixture>/engine=<engine>, PSA first, so
// that benchstat can put Bulwark beside the upstream Pod Security admission (psa) per fixture
// and step (benchstat -col /engine -row /fixture):
//
//	Decode          the object's JSON to the pod template (podspec.Decode; PSA: the typed
//	                object with sigs.k8s.io/json, the decoder of apimachinery's JSON serializer)
//	Evaluate        the checks over the decoded template (Settings.Evaluate for the nsa and
//	                restricted profiles; PSA: Evaluator.EvaluatePod at restricted, latest)
//	DecodeEvaluate  both: the reference, "PSA's bare evaluator plus JSON decoding"
//	DecodeReview    the AdmissionReview body to an admission request (what controller-runtime
//	                and PSA's webhook do before any handler runs)
//	Mutate          the nsa mutation's JSON Patch (mutate.Patch, as the mutating webhook runs it)
//	Encode          the response as controller-runtime writes it (Response.Complete, then the
//	                AdmissionReview through encoding/json)
//	Handle          the handler on a decoded admission.Request (Validator.Handle,
//	                Mutator.Handle; PSA: Admission.Validate on the request's attributes)
//	ServeHTTP       the whole request: the AdmissionReview body through controller-runtime's
//	                webhook.Admission (instrumented as the webhook server registers it) with
//	                httptest; PSA: its webhook's HandleValidate path. /mutate also with image
//	                lookups (engine bulwark-mutate-nsa-images, images_test.go)
//
// The fixtures are the objects of test/testdata/bench as the kube-apiserver sends them.

var errNoResponse = errors.New("the AdmissionReview has no response")

// check makes sure every engine decides on every fixture what the fixture says, so that no
// benchmark measures a short-cut or an error path.
func (e *environment) check() error {
	ctx := context.Background()
	for _, f := range fixtures {
		pod, ok, err := podspec.Decode(f.gk, f.raw)
		if err != nil || !ok {
			return fmt.Errorf("%s: podspec.Decode: ok=%v, %v", f.name, ok, err)
		}
		if vs := e.restricted.Checks.Evaluate(pod); (len(vs) == 0) != f.restrictedOK {
			return fmt.Errorf("%s: Bulwark restricted: %d violations, want none: %v", f.name, len(vs), f.restrictedOK)
		}
		if denied := checks.Denied(e.nsa.Checks.Evaluate(pod)); denied != f.nsaDenied {
			return fmt.Errorf("%s: Bulwark nsa denied=%v, want %v", f.name, denied, f.nsaDenied)
		}
		meta, spec, err := f.psaTemplate()
		if err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
		agg := psapolicy.AggregateCheckResults(e.psaEval.EvaluatePod(e.psaRestrict, meta, spec))
		if agg.Allowed != f.psaAllowed {
			return fmt.Errorf("%s: PSA restricted allowed=%v, want %v: %s", f.name, agg.Allowed, f.psaAllowed, agg.ForbiddenDetail())
		}
		res, err := mutate.Patch(f.gk, f.raw, e.nsa.Mutation, mutate.Target{})
		if err != nil || (len(res.Patch) > 0) != f.mutatePatches {
			return fmt.Errorf("%s: mutate: %v, patches=%d, want some: %v", f.name, err, len(res.Patch), f.mutatePatches)
		}

		// The whole handlers answer with the verdicts above.
		for _, c := range []struct {
			engine  string
			h       http.Handler
			allowed bool
			patch   bool
		}{
			{"bulwark validate nsa", e.httpValidateNSA, !f.nsaDenied, false},
			{"bulwark validate restricted", e.httpValidateRestricted, f.restrictedOK, false},
			{"bulwark mutate nsa", e.httpMutateNSA, true, f.mutatePatches},
			{"psa webhook", e.psaWebhook, f.psaAllowed, false},
		} {
			w := serve(c.h, f.review)
			resp, err := decodeResponse(w)
			if err != nil {
				return fmt.Errorf("%s: %s: HTTP %d: %v: %s", f.name, c.engine, w.Code, err, w.Body)
			}
			if resp.Allowed != c.allowed || (len(resp.Patch) > 0) != c.patch || resp.UID != f.req.UID {
				return fmt.Errorf("%s: %s: allowed=%v patch=%d uid=%q, want allowed=%v patch=%v: %s",
					f.name, c.engine, resp.Allowed, len(resp.Patch), resp.UID, c.allowed, c.patch, w.Body)
			}
		}
		attrs := psaapi.RequestAttributes(&f.req.AdmissionRequest, psaCodecs.UniversalDeserializer())
		if resp := e.psaAdmission.Validate(ctx, attrs); resp.Allowed != f.psaAllowed {
			return fmt.Errorf("%s: PSA Validate allowed=%v, want %v", f.name, resp.Allowed, f.psaAllowed)
		}
	}
	return nil
}

func BenchmarkDecode(b *testing.B) {
	setup(b)
	for _, f := range fixtures {
		b.Run("fixture="+f.name+"/engine=psa", func(b *testing.B) {
			run(b, func() {
				if _, _, err := f.psaTemplate(); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("fixture="+f.name+"/engine=bulwark", func(b *testing.B) {
			run(b, func() {
				if _, _, err := podspec.Decode(f.gk, f.raw); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkDecodeReview is the AdmissionReview decoding that precedes every handler: the
// request body through apimachinery's universal deserializer, as controller-runtime's
// webhook.Admission and PSA's webhook both do it. The object stays raw JSON in the request.
func BenchmarkDecodeReview(b *testing.B) {
	setup(b)
	scheme := runtime.NewScheme()
	utilruntime.Must(admissionv1.AddToScheme(scheme))
	codecs := serializer.NewCodecFactory(scheme)
	for _, f := range fixtures {
		b.Run("fixture="+f.name+"/engine=universal-deserializer", func(b *testing.B) {
			run(b, func() {
				var ar admissionv1.AdmissionReview
				if _, _, err := codecs.UniversalDeserializer().Decode(f.review, nil, &ar); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// profiles are the Bulwark settings measured beside PSA's restricted level.
func (e *environment) profiles() []struct {
	name string
	s    *checks.Settings
} {
	return []struct {
		name string
		s    *checks.Settings
	}{{"bulwark-restricted", e.restricted.Checks}, {"bulwark-nsa", e.nsa.Checks}}
}

func BenchmarkEvaluate(b *testing.B) {
	e := setup(b)
	for _, f := range fixtures {
		meta, spec, _ := f.psaTemplate()
		b.Run("fixture="+f.name+"/engine=psa-restricted", func(b *testing.B) {
			run(b, func() {
				_ = e.psaEval.EvaluatePod(e.psaRestrict, meta, spec)
			})
		})
		pod, _, _ := podspec.Decode(f.gk, f.raw)
		for _, p := range e.profiles() {
			b.Run("fixture="+f.name+"/engine="+p.name, func(b *testing.B) {
				run(b, func() {
					_ = p.s.Evaluate(pod)
				})
			})
		}
	}
}

func BenchmarkDecodeEvaluate(b *testing.B) {
	e := setup(b)
	for _, f := range fixtures {
		b.Run("fixture="+f.name+"/engine=psa-restricted", func(b *testing.B) {
			run(b, func() {
				meta, spec, err := f.psaTemplate()
				if err != nil {
					b.Fatal(err)
				}
				_ = e.psaEval.EvaluatePod(e.psaRestrict, meta, spec)
			})
		})
		for _, p := range e.profiles() {
			b.Run("fixture="+f.name+"/engine="+p.name, func(b *testing.B) {
				run(b, func() {
					pod, _, err := podspec.Decode(f.gk, f.raw)
					if err != nil {
						b.Fatal(err)
					}
					_ = p.s.Evaluate(pod)
				})
			})
		}
	}
}

func BenchmarkMutate(b *testing.B) {
	e := setup(b)
	for _, f := range fixtures {
		b.Run("fixture="+f.name+"/engine=bulwark-nsa", func(b *testing.B) {
			run(b, func() {
				if _, err := mutate.Patch(f.gk, f.raw, e.nsa.Mutation, mutate.Target{}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	for _, f := range fixtures {
		for _, h := range []struct {
			name string
			h    cradmission.Handler
		}{
			{"validate-nsa", bulwarkadmission.NewValidator(*e.validateNSA)},
			{"mutate-nsa", bulwarkadmission.NewMutator(*e.mutateNSA)},
		} {
			resp := h.h.Handle(ctx, f.req)
			b.Run("fixture="+f.name+"/engine="+h.name, func(b *testing.B) {
				run(b, func() {
					r := resp
					if err := r.Complete(f.req); err != nil {
						b.Fatal(err)
					}
					ar := admissionv1.AdmissionReview{Response: &r.AdmissionResponse}
					ar.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
					if err := json.NewEncoder(io.Discard).Encode(ar); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

func BenchmarkHandle(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	for _, f := range fixtures {
		b.Run("fixture="+f.name+"/engine=psa", func(b *testing.B) {
			run(b, func() {
				attrs := psaapi.RequestAttributes(&f.req.AdmissionRequest, psaCodecs.UniversalDeserializer())
				_ = e.psaAdmission.Validate(ctx, attrs)
			})
		})
		for _, h := range []struct {
			name string
			h    cradmission.Handler
		}{
			{"bulwark-validate-restricted", bulwarkadmission.NewValidator(*e.validateRestricted)},
			{"bulwark-validate-nsa", bulwarkadmission.NewValidator(*e.validateNSA)},
			{"bulwark-mutate-nsa", bulwarkadmission.NewMutator(*e.mutateNSA)},
		} {
			b.Run("fixture="+f.name+"/engine="+h.name, func(b *testing.B) {
				run(b, func() {
					_ = h.h.Handle(ctx, f.req)
				})
			})
		}
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	e := setup(b)
	// /mutate with image lookups, the cache warm (images_test.go), right after /mutate
	// without them on the same fixture.
	withImages := map[*fixture][]imageCase{}
	for _, c := range e.warmImageLookups(b) {
		withImages[c.f] = append(withImages[c.f], c)
	}
	for _, f := range append(slices.Clip(fixtures), pullSecretPod) {
		handlers := []struct {
			name string
			h    http.Handler
		}{
			{"psa", e.psaWebhook},
			{"bulwark-validate-restricted", e.httpValidateRestricted},
			{"bulwark-validate-nsa", e.httpValidateNSA},
			{"bulwark-mutate-nsa", e.httpMutateNSA},
		}
		if f == pullSecretPod {
			handlers = handlers[3:] // only for the comparison with image lookups
		}
		for _, h := range handlers {
			b.Run("fixture="+f.name+"/engine="+h.name, func(b *testing.B) {
				run(b, func() {
					if w := serve(h.h, f.review); w.Code != http.StatusOK {
						b.Fatalf("HTTP %d: %s", w.Code, w.Body)
					}
				})
			})
		}
		for _, c := range withImages[f] {
			b.Run("fixture="+f.name+"/engine="+c.engine, func(b *testing.B) { benchImages(b, c) })
		}
	}
}
