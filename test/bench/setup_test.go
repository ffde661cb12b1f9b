package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/metrics"
	psaadmission "k8s.io/pod-security-admission/admission"
	psaload "k8s.io/pod-security-admission/admission/api/load"
	psaapi "k8s.io/pod-security-admission/api"
	psametrics "k8s.io/pod-security-admission/metrics"
	psapolicy "k8s.io/pod-security-admission/policy"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"

	bulwarkadmission "github.com/bulwark-k8s/bulwark/pkg/admission"
	bulwarkmetrics "github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

var (
	setupOnce sync.Once
	setupErr  error
	env       *environment
)

// environment is everything the benchmarks share: Bulwark's handlers wired as `bulwark serve`
// wires them, and the upstream Pod Security admission wired as its webhook wires it.
type environment struct {
	nsa, restricted *policy.Snapshot

	validateNSA, validateRestricted, mutateNSA *bulwarkadmission.Options
	// The controller-runtime webhooks, instrumented as the webhook server registers them.
	httpValidateNSA, httpValidateRestricted, httpMutateNSA http.Handler

	psaEval      psapolicy.Evaluator
	psaRestrict  psaapi.LevelVersion
	psaAdmission *psaadmission.Admission
	psaWebhook   http.Handler

	log logr.Logger
}

func setup(b *testing.B) *environment {
	b.Helper()
	setupOnce.Do(func() { env, setupErr = newEnvironment() })
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	return env
}

func newEnvironment() (*environment, error) {
	for _, f := range append(slices.Clip(fixtures), pullSecretPod) {
		if err := f.load(filepath.Join("..", "testdata", "bench")); err != nil {
			return nil, err
		}
	}
	e := &environment{}
	var err error
	if e.nsa, err = policy.FromProfile(policy.NSA); err != nil {
		return nil, err
	}
	if e.restricted, err = policy.FromProfile(policy.Restricted); err != nil {
		return nil, err
	}

	// The logger `bulwark serve` builds: zap JSON at info, no sampling; here into io.Discard.
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	zl := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(encCfg), zapcore.AddSync(io.Discard), zap.InfoLevel),
		zap.AddCaller(), zap.AddStacktrace(zap.ErrorLevel))
	log := zapr.NewLogger(zl)
	ctrllog.SetLogger(log)
	e.log = log

	// Namespace labels from an informer cache, as the server reads them: the controller-runtime
	// cache returns a deep copy of the cached Namespace.
	nsIndexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := nsIndexer.Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{
		"kubernetes.io/metadata.name":        Namespace,
		psaapi.EnforceLevelLabel:             string(psaapi.LevelRestricted),
		"app.kubernetes.io/part-of":          "shop",
		"team.example.com/cost-center":       "cc-1234",
		"team.example.com/on-call-rotation":  "shop-primary",
		"kubernetes.io/metadata.environment": "production",
	}}}); err != nil {
		return nil, err
	}
	nsLister := corev1listers.NewNamespaceLister(nsIndexer)
	namespaces := func(_ context.Context, name string) (map[string]string, error) {
		ns, err := nsLister.Get(name)
		if err != nil {
			return nil, err
		}
		return ns.DeepCopy().Labels, nil
	}
	options := func(snap *policy.Snapshot) (*bulwarkadmission.Options, error) {
		rec, err := bulwarkmetrics.NewPrometheus(prometheus.NewRegistry())
		if err != nil {
			return nil, err
		}
		return &bulwarkadmission.Options{
			Policy: policy.NewHolder(snap), Metrics: rec, Namespaces: namespaces,
			OwnNamespace: "bulwark-system", Log: log.WithName("admission"),
		}, nil
	}
	if e.validateNSA, err = options(e.nsa); err != nil {
		return nil, err
	}
	if e.validateRestricted, err = options(e.restricted); err != nil {
		return nil, err
	}
	e.mutateNSA = e.validateNSA
	instrumented := func(path string, h cradmission.Handler) (http.Handler, error) { return e.instrumented(path, h), nil }
	if e.httpValidateNSA, err = instrumented("/validate", bulwarkadmission.NewValidator(*e.validateNSA)); err != nil {
		return nil, err
	}
	if e.httpValidateRestricted, err = instrumented("/validate-restricted", bulwarkadmission.NewValidator(*e.validateRestricted)); err != nil {
		return nil, err
	}
	if e.httpMutateNSA, err = instrumented("/mutate", bulwarkadmission.NewMutator(*e.mutateNSA)); err != nil {
		return nil, err
	}

	// The upstream Pod Security admission, as k8s.io/pod-security-admission/cmd/webhook sets
	// it up (server.Setup): the default configuration, the namespace from an informer lister
	// (its enforce label at restricted), Prometheus metrics.
	if e.psaEval, err = psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil); err != nil {
		return nil, err
	}
	e.psaRestrict = psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	cfg, err := psaload.LoadFromData(nil)
	if err != nil {
		return nil, err
	}
	rec := psametrics.NewPrometheusRecorder(psaapi.GetAPIVersion())
	rec.MustRegister(metrics.NewKubeRegistry().MustRegister)
	e.psaAdmission = &psaadmission.Admission{
		Configuration: cfg, Evaluator: e.psaEval, Metrics: rec,
		PodSpecExtractor: psaadmission.DefaultPodSpecExtractor{},
		NamespaceGetter:  psaadmission.NamespaceGetterFromListerAndClient(nsLister, nil),
		PodLister:        noPods{},
	}
	if err := e.psaAdmission.CompleteConfiguration(); err != nil {
		return nil, err
	}
	if err := e.psaAdmission.ValidateConfiguration(); err != nil {
		return nil, err
	}
	e.psaWebhook = &psaWebhook{delegate: e.psaAdmission}
	return e, e.check()
}

// instrumented serves h as `bulwark serve` serves it: through the webhook server's mux, which
// instruments every path it registers.
func (e *environment) instrumented(path string, h cradmission.Handler) http.Handler {
	srv := webhook.NewServer(webhook.Options{})
	srv.Register("/validate", bulwarkadmission.NewHTTP(h, e.log.WithName("webhook").WithValues("webhook", path), bulwarkadmission.HTTPOptions{}))
	return srv.WebhookMux()
}

type noPods struct{}

func (noPods) ListPods(context.Context, string) ([]*corev1.Pod, error) { return nil, nil }

// psaTemplate decodes the fixture's object into its typed form and returns the pod template,
// as PSA's DefaultPodSpecExtractor sees it.
func (f *fixture) psaTemplate() (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	if f.gvk.Kind == "Pod" {
		var pod corev1.Pod
		if err := kjson.UnmarshalCaseSensitivePreserveInts(f.raw, &pod); err != nil {
			return nil, nil, err
		}
		return &pod.ObjectMeta, &pod.Spec, nil
	}
	var d appsv1.Deployment
	if err := kjson.UnmarshalCaseSensitivePreserveInts(f.raw, &d); err != nil {
		return nil, nil, err
	}
	return &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec, nil
}

// serve sends body through an http.Handler as the webhook server does and returns the
// AdmissionReview response.
func serve(h http.Handler, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/validate?timeout=10s", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeResponse(w *httptest.ResponseRecorder) (*admissionv1.AdmissionResponse, error) {
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		return nil, err
	}
	if out.Response == nil {
		return nil, errNoResponse
	}
	return out.Response, nil
}

// psaScheme and psaCodecs are the scheme and codecs of the upstream webhook
// (k8s.io/pod-security-admission/cmd/webhook/server/scheme.go).
var (
	psaScheme = runtime.NewScheme()
	psaCodecs = serializer.NewCodecFactory(psaScheme)
)

func init() {
	utilruntime.Must(corev1.AddToScheme(psaScheme))
	utilruntime.Must(appsv1.AddToScheme(psaScheme))
	utilruntime.Must(batchv1.AddToScheme(psaScheme))
	utilruntime.Must(admissionv1.AddToScheme(psaScheme))
}

// psaWebhook is the request path of the upstream webhook's Server.HandleValidate
// (k8s.io/pod-security-admission/cmd/webhook/server/server.go v0.37.1), which cannot be
// imported without its Kubernetes client: read the body, decode the AdmissionReview with the
// scheme's universal deserializer, Validate, encode the review with encoding/json. Its
// timeout handling and logging at V(1) (off by default) are left out.
type psaWebhook struct{ delegate *psaadmission.Admission }

func (s *psaWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	limited := &io.LimitedReader{R: r.Body, N: 3 * 1024 * 1024}
	body, err := io.ReadAll(limited)
	if err != nil {
		http.Error(w, "unable to read the body from the incoming request", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "unable to process a request with a non-json content type", http.StatusBadRequest)
		return
	}
	kind := admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")
	obj, gvk, err := psaCodecs.UniversalDeserializer().Decode(body, &kind, nil)
	if err != nil || *gvk != kind {
		http.Error(w, "unable to decode the request", http.StatusBadRequest)
		return
	}
	review := obj.(*admissionv1.AdmissionReview)
	attrs := psaapi.RequestAttributes(review.Request, psaCodecs.UniversalDeserializer())
	resp := s.delegate.Validate(r.Context(), attrs)
	resp.UID = review.Request.UID
	review.Response = resp
	if err := json.NewEncoder(w).Encode(review); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
