// Package bypass runs the adversarial manifests of test/testdata/bypass through the engine
// the way the webhook does (the mutating webhook first, then the validating one) and checks
// each verdict against the one its header expects, and Bulwark's baseline and restricted
// profiles against the Pod Security Admission library on the same objects.
//
// Each case is one YAML file whose header comments say:
//
//	# expect: denied CHECK-ID...   the enforced checks, exactly (sorted or not)
//	# expect: admitted             no enforced check
//	# warn: CHECK-ID...            the warned checks after mutation, exactly (default: none
//	                               for an admitted case, unchecked for a denied one)
//	# profile: NAME                the profile (default: nsa)
package bypass

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/bulwark-k8s/bulwark/internal/patchtest"
	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
)

const corpus = "../testdata/bypass"

type expectation struct {
	profile   string
	denied    bool
	enforce   []string // the enforced check IDs, sorted
	warn      []string // the warned check IDs, sorted
	checkWarn bool
}

func parseHeader(t *testing.T, data []byte) expectation {
	t.Helper()
	e := expectation{profile: "nsa"}
	seen := false
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		key, value, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		switch key {
		case "expect":
			seen = true
			switch {
			case len(fields) > 0 && fields[0] == "denied":
				e.denied, e.enforce = true, fields[1:]
			case len(fields) == 1 && fields[0] == "admitted":
			default:
				t.Fatalf("bad expect header %q", line)
			}
		case "warn":
			e.warn, e.checkWarn = fields, true
		case "profile":
			e.profile = strings.TrimSpace(value)
		}
	}
	if !seen {
		t.Fatal("no `# expect:` header")
	}
	if !e.denied {
		e.checkWarn = true
	}
	sort.Strings(e.enforce)
	sort.Strings(e.warn)
	return e
}

func TestBypassCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpus, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in %s: %v", corpus, err)
	}
	now := time.Now()
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want := parseHeader(t, data)
			snap, err := policy.FromProfile(want.profile)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := scan.Read([]string{file}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 1 {
				t.Fatalf("%d objects, want one per case", len(docs))
			}
			d := docs[0]
			gk := gvk(t, d).GroupKind()
			original := d.JSON

			// The mutating webhook runs first.
			dec := snap.Resolve(policy.Request{Namespace: "team-a", Kind: gk.Kind, Name: "x", Now: now})
			if dec.Mutation != nil {
				res, err := mutate.Patch(gk, d.JSON, dec.Mutation, mutate.Target{})
				if err != nil {
					t.Fatalf("mutate: %v", err)
				}
				mutated := patchtest.Apply(t, d.JSON, res.Patch)
				assertMutationSafe(t, gk, original, res, mutated)
				again, err := mutate.Patch(gk, mutated, dec.Mutation, mutate.Target{})
				if err != nil || len(again.Patch) != 0 {
					t.Errorf("mutation not idempotent: %v %v", err, again.Changes)
				}
				d.JSON = mutated
			}
			results, err := scan.EvaluatePolicy(docs, snap, now)
			if err != nil {
				t.Fatal(err)
			}
			r := results[0]
			if r.Skipped || r.Exempt != "" {
				t.Fatalf("not evaluated: skipped %v, exempt %q", r.Skipped, r.Exempt)
			}
			enforce, warn := ids(r.Violations, checks.Enforce), ids(r.Violations, checks.Warn)
			if denied := r.Decision() == scan.DecisionDenied; denied != want.denied || !slices.Equal(enforce, want.enforce) {
				t.Errorf("%s: denied %v by %v, want denied %v by %v\n%s", want.profile, denied, enforce, want.denied, want.enforce, describe(r.Violations))
			}
			if want.checkWarn && !slices.Equal(warn, want.warn) {
				t.Errorf("%s: warned %v, want %v\n%s", want.profile, warn, want.warn, describe(r.Violations))
			}

			// Bulwark's baseline and restricted profiles agree with PSA's baseline:latest and
			// restricted:latest on the object as written.
			pod, _, err := podspec.Decode(gk, original)
			if err != nil {
				t.Fatal(err)
			}
			for _, level := range []psaapi.Level{psaapi.LevelBaseline, psaapi.LevelRestricted} {
				assertPSAParity(t, level, pod)
			}
		})
	}
}

func gvk(t *testing.T, d *scan.Document) schema.GroupVersionKind {
	t.Helper()
	gv, err := schema.ParseGroupVersion(d.APIVersion)
	if err != nil {
		t.Fatal(err)
	}
	return gv.WithKind(d.Kind)
}

func ids(vs []checks.Violation, action checks.Action) []string {
	var out []string
	for _, v := range vs {
		if v.Action == action && !slices.Contains(out, v.Check) {
			out = append(out, v.Check)
		}
	}
	sort.Strings(out)
	return out
}

func describe(vs []checks.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + string(v.Action) + " " + v.String() + "\n")
	}
	return b.String()
}

// assertMutationSafe: the mutation only adds, and never adds the Linux-only fields to a
// Windows pod (the apiserver rejects them there).
func assertMutationSafe(t *testing.T, gk schema.GroupKind, original []byte, res *mutate.Result, mutated []byte) {
	t.Helper()
	for _, op := range res.Patch {
		if op.Operation != "add" {
			t.Errorf("mutation %s %s: only additions are allowed", op.Operation, op.Path)
		}
	}
	pod, _, err := podspec.Decode(gk, original)
	if err != nil {
		t.Fatal(err)
	}
	if pod.IsWindows() {
		for _, c := range res.Changes {
			for _, linux := range []string{"seccompProfile", "allowPrivilegeEscalation", "capabilities", "procMount", "seLinuxOptions"} {
				if strings.Contains(c.Field, linux) {
					t.Errorf("Windows pod mutated with Linux-only field %s", c.Field)
				}
			}
		}
	}
	if !bytes.Equal(original, mutated) && len(res.Patch) == 0 {
		t.Error("object changed without a patch")
	}
}

var psaEvaluator = func() psapolicy.Evaluator {
	e, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		panic(err)
	}
	return e
}()

// assertPSAParity: Bulwark's profile of the same name as level denies exactly when PSA
// level:latest does.
func assertPSAParity(t *testing.T, level psaapi.Level, pod *podspec.Pod) {
	t.Helper()
	results := psaEvaluator.EvaluatePod(psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}, &pod.Meta, &pod.Spec)
	agg := psapolicy.AggregateCheckResults(results)
	psaAllowed := agg.Allowed
	snap, err := policy.FromProfile(string(level))
	if err != nil {
		t.Fatal(err)
	}
	dec := snap.Resolve(policy.Request{Namespace: "team-a", Kind: pod.GroupKind.Kind, Name: "x", Now: time.Now()})
	vs := dec.Apply(dec.Checks.Evaluate(pod))
	if ours := !checks.Denied(vs); ours != psaAllowed {
		t.Errorf("%s: Bulwark allows %v, PSA %s:latest allows %v (%s)\n%s", level, ours, level, psaAllowed,
			agg.ForbiddenReason(), describe(vs))
	}
}
