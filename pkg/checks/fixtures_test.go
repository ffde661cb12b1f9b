package checks_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

const fixtureRoot = "../../test/testdata/checks"

// fixture is one test/testdata/checks/<check>/{pass,fail}/*.yaml file. Header comments set what is
// expected and how the check is configured:
//
//	# field: <path>      (fail only, one line per expected violation, in report order)
//	# params: <json>     (checks.Params for this fixture)
type fixture struct {
	path   string
	fields []string
	params checks.Params
	pod    *podspec.Pod      // the fixture of a pod check
	rbac   *rbacspec.Object  // the fixture of an RBAC check
	ns     *checks.Namespace // the fixture of a namespace check: a Namespace, then its objects
}

// evaluate runs the settings over the fixture's object.
func (f fixture) evaluate(s *checks.Settings) []checks.Violation {
	if f.rbac != nil {
		return s.EvaluateRBAC(f.rbac)
	}
	if f.ns != nil {
		return s.EvaluateNamespace(f.ns)
	}
	return s.Evaluate(f.pod)
}

func loadFixture(t *testing.T, path string) fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{path: path}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		key, val, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		val = strings.TrimSpace(val)
		switch key {
		case "field":
			f.fields = append(f.fields, val)
		case "params":
			if err := json.Unmarshal([]byte(val), &f.params); err != nil {
				t.Fatalf("%s: bad params header: %v", path, err)
			}
		}
	}
	if strings.Contains(string(data), "\nkind: Namespace\n") {
		f.ns = decodeNamespace(t, path, data)
		return f
	}
	gk, js := groupKind(t, path, data)
	if _, ok := rbacspec.Lookup(gk); ok {
		o, _, err := rbacspec.Decode(gk, js)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		f.rbac = o
		return f
	}
	f.pod = decodeManifest(t, path, data)
	return f
}

func decodeManifest(t *testing.T, path string, data []byte) *podspec.Pod {
	t.Helper()
	gk, js := groupKind(t, path, data)
	pod, ok, err := podspec.Decode(gk, js)
	if err != nil || !ok {
		t.Fatalf("%s: not a pod-bearing object (ok=%v): %v", path, ok, err)
	}
	return pod
}

// decodeNamespace reads a namespace fixture: a Namespace, then the ResourceQuotas, LimitRanges
// and NetworkPolicies in it, one document each.
func decodeNamespace(t *testing.T, path string, data []byte) *checks.Namespace {
	t.Helper()
	ns := &checks.Namespace{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		gk, js := groupKind(t, path, []byte(doc))
		var err error
		switch gk.Kind {
		case "Namespace":
			var o corev1.Namespace
			err = json.Unmarshal(js, &o)
			ns.Name, ns.Labels = o.Name, o.Labels
		case "ResourceQuota":
			var o corev1.ResourceQuota
			err = json.Unmarshal(js, &o)
			ns.ResourceQuotas = append(ns.ResourceQuotas, o)
		case "LimitRange":
			var o corev1.LimitRange
			err = json.Unmarshal(js, &o)
			ns.LimitRanges = append(ns.LimitRanges, o)
		case "NetworkPolicy":
			var o networkingv1.NetworkPolicy
			err = json.Unmarshal(js, &o)
			ns.NetworkPolicies = append(ns.NetworkPolicies, o)
		default:
			t.Fatalf("%s: a namespace fixture holds a %s", path, gk.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %s: %v", path, gk.Kind, err)
		}
	}
	if ns.Name == "" {
		t.Fatalf("%s: the namespace has no name", path)
	}
	return ns
}

// groupKind reads a manifest as JSON and returns its group and kind.
func groupKind(t *testing.T, path string, data []byte) (schema.GroupKind, []byte) {
	t.Helper()
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var tm struct{ APIVersion, Kind string }
	if err := json.Unmarshal(js, &tm); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return gv.WithKind(tm.Kind).GroupKind(), js
}

// podFixtureFiles lists the fixtures of every pod check (those of RBAC checks hold no pod).
func podFixtureFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureRoot, "*", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures (%v)", err)
	}
	var out []string
	for _, f := range files {
		id := filepath.Base(filepath.Dir(filepath.Dir(f)))
		if c, ok := checks.Get(id); !ok || c.Target == checks.Pods {
			out = append(out, f)
		}
	}
	return out
}

// only returns settings in which id alone is enforced.
func only(t *testing.T, id string, params checks.Params) *checks.Settings {
	t.Helper()
	s, err := checks.Compile(map[string]checks.Action{id: checks.Enforce}, params)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFixtures runs every check against its pass and fail fixtures: a pass fixture has no
// violation, a fail fixture has exactly the violations its "# field:" lines name, each with a
// message and a fix.
func TestFixtures(t *testing.T) {
	for _, c := range checks.All() {
		t.Run(c.ID, func(t *testing.T) {
			for _, kind := range []string{"pass", "fail"} {
				files, err := filepath.Glob(filepath.Join(fixtureRoot, c.ID, kind, "*.yaml"))
				if err != nil {
					t.Fatalf("listing the %s fixtures of %s: %v", kind, c.ID, err)
				}
				for _, file := range files {
					t.Run(kind+"/"+filepath.Base(file), func(t *testing.T) {
						f := loadFixture(t, file)
						if (f.rbac != nil) != (c.Target == checks.RBAC) || (f.ns != nil) != (c.Target == checks.Namespaces) {
							t.Fatalf("the fixture's object is not of the check's target %q", c.Target)
						}
						vs := f.evaluate(only(t, c.ID, f.params))
						var got []string
						for _, v := range vs {
							got = append(got, v.Field)
							if v.Check != c.ID || v.Message == "" || v.Fix == "" || v.Action != checks.Enforce {
								t.Errorf("incomplete violation: %+v", v)
							}
						}
						switch {
						case kind == "pass" && len(vs) > 0:
							t.Errorf("pass fixture has violations:\n%s", render(vs))
						case kind == "fail" && len(f.fields) == 0:
							t.Errorf("fail fixture names no expected field (# field: ...)")
						case kind == "fail" && !slices.Equal(got, f.fields):
							t.Errorf("fields = %q, want %q\n%s", got, f.fields, render(vs))
						}
					})
				}
			}
		})
	}
}

func render(vs []checks.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + v.String() + "\n")
	}
	return b.String()
}
