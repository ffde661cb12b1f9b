package policy_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// levels pairs each PSA level with the Bulwark profile that promises its verdict.
var levels = []struct {
	profile string
	psa     psaapi.Level
}{
	{policy.Baseline, psaapi.LevelBaseline},
	{policy.Restricted, psaapi.LevelRestricted},
}

var (
	psaOnce      sync.Once
	psaEvaluator psapolicy.Evaluator
	psaErr       error
)

// upstream returns the Pod Security Admission evaluator with its default (versioned) checks.
func upstream(t testing.TB) psapolicy.Evaluator {
	t.Helper()
	psaOnce.Do(func() {
		psaEvaluator, psaErr = psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	})
	if psaErr != nil {
		t.Fatalf("psa NewEvaluator: %v", psaErr)
	}
	return psaEvaluator
}

// psaVerdict evaluates pod at level:latest upstream.
func psaVerdict(t testing.TB, level psaapi.Level, pod *corev1.Pod) psapolicy.AggregateCheckResult {
	t.Helper()
	lv := psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}
	return psapolicy.AggregateCheckResults(upstream(t).EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec))
}

var (
	profileMu    sync.Mutex
	profileCache = map[string]*policy.Snapshot{}
)

// profile returns the snapshot of a built-in profile (cached: snapshots are immutable).
func profile(t testing.TB, name string) *policy.Snapshot {
	t.Helper()
	profileMu.Lock()
	defer profileMu.Unlock()
	if s, ok := profileCache[name]; ok {
		return s
	}
	s, err := policy.FromProfile(name)
	if err != nil {
		t.Fatalf("FromProfile(%q): %v", name, err)
	}
	profileCache[name] = s
	return s
}

// decodeObject turns a YAML or JSON manifest into Bulwark's view of its pod template.
func decodeObject(t testing.TB, name string, data []byte) (*podspec.Pod, []byte) {
	t.Helper()
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	gk := groupKindOf(t, name, js)
	pod, ok, err := podspec.Decode(gk, js)
	if err != nil || !ok {
		t.Fatalf("%s: podspec.Decode(%v): ok=%v err=%v", name, gk, ok, err)
	}
	return pod, js
}

func groupKindOf(t testing.TB, name string, js []byte) schema.GroupKind {
	t.Helper()
	var tm struct{ APIVersion, Kind string }
	if err := json.Unmarshal(js, &tm); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return gv.WithKind(tm.Kind).GroupKind()
}

// asCorePod builds the corev1.Pod PSA sees from a decoded template: its metadata and spec.
func asCorePod(p *podspec.Pod) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: p.Meta, Spec: p.Spec}
}

// verdicts is one pod's verdict at one level from both sides.
type verdicts struct {
	oursDenied bool
	ours       []checks.Violation
	psa        psapolicy.AggregateCheckResult
}

func (v verdicts) agree() bool { return v.oursDenied != v.psa.Allowed }

// describe renders both sides' reasons for a failure message.
func (v verdicts) describe() string {
	var b strings.Builder
	b.WriteString("  Bulwark denied=" + boolString(v.oursDenied) + "\n")
	for _, x := range v.ours {
		b.WriteString("    " + string(x.Action) + " " + x.String() + "\n")
	}
	b.WriteString("  PSA allowed=" + boolString(v.psa.Allowed) + "\n")
	for i, r := range v.psa.ForbiddenReasons {
		b.WriteString("    " + r + ": " + v.psa.ForbiddenDetails[i] + "\n")
	}
	return b.String()
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// compareLevel evaluates ours (the profile's snapshot) and PSA's (core) on one pod.
func compareLevel(t testing.TB, profileName string, level psaapi.Level, ours *podspec.Pod, core *corev1.Pod) verdicts {
	t.Helper()
	vs := profile(t, profileName).Checks.Evaluate(ours)
	return verdicts{oursDenied: checks.Denied(vs), ours: vs, psa: psaVerdict(t, level, core)}
}

// toYAML renders v for a failure message.
func toYAML(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(out)
}
