package admission

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// kind describes one workload kind as the apiserver sends it, and where its pod spec sits.
type kind struct {
	group, version, kind, resource string
	// specPath is the dotted path of the pod spec in messages, pointer its JSON pointer.
	specPath, pointer string
}

var (
	kPod                   = kind{"", "v1", "Pod", "pods", "spec", "/spec"}
	kPodTemplate           = kind{"", "v1", "PodTemplate", "podtemplates", "template.spec", "/template/spec"}
	kReplicationController = kind{"", "v1", "ReplicationController", "replicationcontrollers", "spec.template.spec", "/spec/template/spec"}
	kDeployment            = kind{"apps", "v1", "Deployment", "deployments", "spec.template.spec", "/spec/template/spec"}
	kReplicaSet            = kind{"apps", "v1", "ReplicaSet", "replicasets", "spec.template.spec", "/spec/template/spec"}
	kStatefulSet           = kind{"apps", "v1", "StatefulSet", "statefulsets", "spec.template.spec", "/spec/template/spec"}
	kDaemonSet             = kind{"apps", "v1", "DaemonSet", "daemonsets", "spec.template.spec", "/spec/template/spec"}
	kJob                   = kind{"batch", "v1", "Job", "jobs", "spec.template.spec", "/spec/template/spec"}
	kCronJob               = kind{"batch", "v1", "CronJob", "cronjobs", "spec.jobTemplate.spec.template.spec", "/spec/jobTemplate/spec/template/spec"}
	kService               = kind{"", "v1", "Service", "services", "", ""}
)

// allKinds lists every kind that carries a pod template.
var allKinds = []kind{kPod, kDeployment, kReplicaSet, kStatefulSet, kDaemonSet, kJob, kCronJob, kReplicationController, kPodTemplate}

func (k kind) apiVersion() string {
	if k.group == "" {
		return k.version
	}
	return k.group + "/" + k.version
}

// object renders an object of kind k named name whose pod spec is spec (JSON). extra, when
// non-empty, is merged into the object's own spec (e.g. `"replicas": 3`).
func (k kind) object(name, spec string, extra ...string) string {
	meta := fmt.Sprintf(`"metadata":{"name":%q,"namespace":"team-a"}`, name)
	head := fmt.Sprintf(`"apiVersion":%q,"kind":%q,%s`, k.apiVersion(), k.kind, meta)
	tmpl := fmt.Sprintf(`{"metadata":{"labels":{"app":%q}},"spec":%s}`, name, spec)
	more := ""
	for _, e := range extra {
		more += "," + e
	}
	selector := fmt.Sprintf(`"selector":{"matchLabels":{"app":%q}}`, name)
	switch k.kind {
	case "Pod":
		return fmt.Sprintf(`{%s,"spec":%s}`, head, spec)
	case "PodTemplate":
		return fmt.Sprintf(`{%s,"template":%s}`, head, tmpl)
	case "CronJob":
		return fmt.Sprintf(`{%s,"spec":{"schedule":"*/5 * * * *","jobTemplate":{"spec":{"template":%s}}%s}}`, head, tmpl, more)
	case "Job":
		return fmt.Sprintf(`{%s,"spec":{"template":%s%s}}`, head, tmpl, more)
	case "ReplicationController":
		return fmt.Sprintf(`{%s,"spec":{"replicas":1,"selector":{"app":%q},"template":%s%s}}`, head, name, tmpl, more)
	default:
		return fmt.Sprintf(`{%s,"spec":{%s,"template":%s%s}}`, head, selector, tmpl, more)
	}
}

// request builds an admission request as the apiserver sends it.
func request(op admissionv1.Operation, k kind, name, obj, old string) admission.Request {
	r := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("uid-" + strings.ToLower(string(op)) + "-" + k.resource + "-" + name),
		Kind:      metav1.GroupVersionKind{Group: k.group, Version: k.version, Kind: k.kind},
		Resource:  metav1.GroupVersionResource{Group: k.group, Version: k.version, Resource: k.resource},
		Name:      name,
		Namespace: "team-a",
		Operation: op,
		UserInfo:  authenticationv1.UserInfo{Username: "alice@example.com", Groups: []string{"developers"}},
	}}
	if obj != "" {
		r.Object = runtime.RawExtension{Raw: []byte(obj)}
	}
	if old != "" {
		r.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	return r
}

// harness wires both handlers to one policy, a fresh Prometheus registry and a logger that
// keeps every line.
type harness struct {
	t   *testing.T
	reg *prometheus.Registry
	v   *Validator
	m   *Mutator

	mu   sync.Mutex
	logs []map[string]any
}

func newHarness(t *testing.T, snap *policy.Snapshot) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry()}
	rec, err := metrics.NewPrometheus(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	log := funcr.NewJSON(func(obj string) {
		var line map[string]any
		if err := json.Unmarshal([]byte(obj), &line); err != nil {
			t.Errorf("log line is not JSON: %v: %s", err, obj)
			return
		}
		h.mu.Lock()
		h.logs = append(h.logs, line)
		h.mu.Unlock()
	}, funcr.Options{})
	opts := Options{Policy: policy.NewHolder(snap), Metrics: rec, Log: log}
	h.v, h.m = NewValidator(opts), NewMutator(opts)
	return h
}

func profile(t *testing.T, name string) *policy.Snapshot {
	t.Helper()
	s, err := policy.FromProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parsePolicy(t *testing.T, doc string) *policy.Snapshot {
	t.Helper()
	s, err := policy.Parse([]byte(doc), "test-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logLines returns the captured lines whose msg is msg.
func (h *harness) logLines(msg string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, l := range h.logs {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// counter returns the value of the counter name with exactly the given labels (0 when the
// series does not exist).
func (h *harness) counter(name string, labels map[string]string) float64 {
	h.t.Helper()
	for _, m := range h.series(name) {
		if reflect.DeepEqual(labelMap(m), labels) {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// counters renders every series of the counter name as "k=v,k=v" -> value.
func (h *harness) counters(name string) map[string]float64 {
	h.t.Helper()
	out := map[string]float64{}
	for _, m := range h.series(name) {
		out[labelKey(labelMap(m))] = m.GetCounter().GetValue()
	}
	return out
}

func (h *harness) series(name string) []*dto.Metric {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func labelKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

// decisions returns the bulwark_admission_decisions_total series.
func (h *harness) decisions() map[string]float64 {
	return h.counters("bulwark_admission_decisions_total")
}

func decisionKey(webhook, resource, operation, decision string) string {
	return labelKey(map[string]string{"webhook": webhook, "resource": resource, "operation": operation, "decision": decision})
}

func violationKey(check, action, resource string) string {
	return labelKey(map[string]string{"check": check, "action": action, "resource": resource})
}

// assertMaps fails unless got equals want.
func assertMaps(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// applyPatch completes the response for req as the webhook server does, checks that it
// carries a JSON Patch, and applies that patch to obj as the apiserver would.
func applyPatch(t *testing.T, req admission.Request, resp admission.Response, obj string) string {
	t.Helper()
	if err := resp.Complete(req); err != nil {
		t.Fatal(err)
	}
	if resp.UID != req.UID {
		t.Errorf("response UID %q, want %q", resp.UID, req.UID)
	}
	if len(resp.Patches) == 0 {
		if resp.Patch != nil || resp.PatchType != nil {
			t.Errorf("no patches but patch %q, type %v", resp.Patch, resp.PatchType)
		}
		return obj
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v, want JSONPatch", resp.PatchType)
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("decoding patch %s: %v", resp.Patch, err)
	}
	out, err := p.Apply([]byte(obj))
	if err != nil {
		t.Fatalf("applying patch %s: %v", resp.Patch, err)
	}
	return string(out)
}

// assertJSONEqual compares two JSON documents semantically.
func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("objects differ:\n got  %s\n want %s", gi, wi)
	}
}

// at returns the value at a JSON pointer-like path of segments in doc.
func at(t *testing.T, doc string, segs ...any) any {
	t.Helper()
	var cur any
	if err := json.Unmarshal([]byte(doc), &cur); err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		switch k := s.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

// pointerSegs turns a kind's pod spec pointer into segments for at.
func pointerSegs(p string) []any {
	var out []any
	for _, s := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		out = append(out, s)
	}
	return out
}

// checkIDs returns the check IDs of warnings or denial lines of the form "[id] ...".
func checkIDs(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "[") {
			if i := strings.Index(l, "]"); i > 0 {
				out = append(out, l[1:i])
			}
		}
	}
	return out
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
