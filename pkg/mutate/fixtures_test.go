package mutate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

var update = flag.Bool("update", false, "rewrite the golden files under test/testdata/mutate")

const fixtureDir = "../../test/testdata/mutate"

// run is one mutation of one input fixture, golden-compared against <golden>.mutated.yaml
// (the input with the patch applied by ApplyYAML) and <golden>.patch.txt (the operations and
// the changes).
type run struct {
	input  string
	golden string
	opts   Options
	target Target
}

// TestFixtures runs every test/testdata/mutate/<case>.input.yaml. Header comments configure
// the run (NSA defaults and a full target otherwise):
//
//	# only: a, b            exactly these defaults on
//	# enable: a, b          these on as well as the NSA defaults
//	# disable: a, b         these off
//	# requests: cpu=Q memory=Q
//	# limits: cpu=Q memory=Q
//	# ephemeral-only: name, ...   Target{EphemeralOnly: true, Existing: names}
//	# images: looked-up     every image looked up (lookedUp); otherwise images are not consulted
func TestFixtures(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(fixtureDir, "*.input.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	for _, in := range inputs {
		r := run{input: in, golden: strings.TrimSuffix(in, ".input.yaml"), opts: NSADefaults()}
		readHeader(t, &r)
		t.Run(filepath.Base(r.golden), func(t *testing.T) { checkRun(t, r) })
	}
}

// TestDefaultsPerKind runs each default alone, the NSA defaults and all defaults on a bare
// Pod, Deployment and CronJob, with every image looked up: each default adds its fields, and
// only its own, under the kind's pod spec path.
func TestDefaultsPerKind(t *testing.T) {
	kinds := map[string]schema.GroupKind{
		"pod":        {Kind: "Pod"},
		"deployment": {Group: "apps", Kind: "Deployment"},
		"cronjob":    {Group: "batch", Kind: "CronJob"},
	}
	for kind, gk := range kinds {
		shape, _ := podspec.ShapeOf(gk)
		prefix := Pointer(shape.SpecPointer()) + "/"
		fieldPrefix := shape.SpecPath() + "."
		in := filepath.Join(fixtureDir, "defaults", kind+".input.yaml")
		runs := map[string]Options{"nsa": NSADefaults()}
		all := NSADefaults()
		for _, name := range Names() {
			one := NSADefaults()
			for _, other := range Names() {
				if err := one.Set(other, other == name); err != nil {
					t.Fatal(err)
				}
			}
			runs[name] = one
			if err := all.Set(name, true); err != nil {
				t.Fatal(err)
			}
		}
		runs["all"] = all
		nsa := NSADefaults()
		for name, opts := range runs {
			r := run{input: in, golden: filepath.Join(fixtureDir, "defaults", kind+"."+name), opts: opts, target: Target{Images: lookedUp}}
			t.Run(kind+"/"+name, func(t *testing.T) {
				res := checkRun(t, r)
				if len(res.Changes) == 0 {
					t.Fatalf("no changes")
				}
				for _, op := range res.Patch {
					if !strings.HasPrefix(op.Path, prefix) {
						t.Errorf("op %s is not under %s", op.Path, prefix)
					}
				}
				for _, c := range res.Changes {
					if !strings.HasPrefix(c.Field, fieldPrefix) {
						t.Errorf("change %s is not under %s", c, fieldPrefix)
					}
					if name != "nsa" && name != "all" && c.Default != name {
						t.Errorf("default %s made change %s", name, c)
					}
					if name == "nsa" && !nsa.Enabled(c.Default) {
						t.Errorf("nsa made change %s", c)
					}
				}
			})
		}
	}
}

func readHeader(t *testing.T, r *run) {
	t.Helper()
	data, err := os.ReadFile(r.input)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		key, val, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var list []string
		for _, f := range strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == ' ' }) {
			list = append(list, f)
		}
		switch key {
		case "only":
			for _, n := range Names() {
				must(t, r.opts.Set(n, false))
			}
			fallthrough
		case "enable":
			for _, n := range list {
				must(t, r.opts.Set(n, true))
			}
		case "disable":
			for _, n := range list {
				must(t, r.opts.Set(n, false))
			}
		case "requests", "limits":
			q := &r.opts.Requests
			if key == "limits" {
				q = &r.opts.Limits
			}
			for _, kv := range list {
				name, v, _ := strings.Cut(kv, "=")
				switch name {
				case "cpu":
					q.CPU = resource.MustParse(v)
				case "memory":
					q.Memory = resource.MustParse(v)
				default:
					t.Fatalf("%s: unknown resource %q", r.input, name)
				}
			}
		case "ephemeral-only":
			r.target.EphemeralOnly, r.target.Existing = true, map[string]bool{}
			for _, n := range list {
				r.target.Existing[n] = true
			}
		case "images":
			if val != "looked-up" {
				t.Fatalf("%s: images: %q, want looked-up", r.input, val)
			}
			r.target.Images = lookedUp
		}
	}
}

// lookedUp is the tests' image lookup: every image runs as uid 65532, and its reference
// points at the digest fakeDigest makes of it.
func lookedUp(image string) ImageUser {
	return ImageUser{Known: true, User: "65532", Digest: fakeDigest(image)}
}

// fakeDigest makes a digest of an image reference, the same every run.
func fakeDigest(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkRun mutates the input and checks the result every way there is: the operations are
// additions of missing members only (and pinned images), valid RFC 6902 (applied with evanphx/json-patch, as an
// apiserver applies them), the original survives in the result, mutating again adds nothing,
// and ApplyYAML gives the same object as the golden YAML.
func checkRun(t *testing.T, r run) *Result {
	t.Helper()
	data, err := os.ReadFile(r.input)
	must(t, err)
	js, err := sigsyaml.YAMLToJSON(data)
	must(t, err)
	gk := groupKind(t, js)

	res, patched := mutateJSON(t, gk, js, &r.opts, r.target)
	checkAdditionsOnly(t, js, res)

	// What the user wrote survives, unknown fields and numbers included.
	orig, err := decode(js)
	must(t, err)
	mutated, err := decode(patched)
	must(t, err)
	if path, ok := contains(orig, mutated, ""); !ok {
		t.Fatalf("the mutated object lost or changed %s", path)
	}

	// Idempotence.
	again, err := Patch(gk, patched, &r.opts, r.target)
	must(t, err)
	if len(again.Patch) != 0 || len(again.Changes) != 0 {
		t.Fatalf("mutating the result again: %v %v", again.Patch, again.Changes)
	}

	// ApplyYAML gives the same object, and the golden text.
	var doc yaml.Node
	must(t, yaml.Unmarshal(data, &doc))
	must(t, ApplyYAML(&doc, res.Patch))
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	must(t, enc.Encode(&doc))
	must(t, enc.Close())
	outJSON, err := sigsyaml.YAMLToJSON(out.Bytes())
	must(t, err)
	if !jsonpatch.Equal(outJSON, patched) {
		t.Fatalf("ApplyYAML result differs from the patched object:\nyaml:    %s\npatched: %s", outJSON, patched)
	}
	yamlAgain, err := Patch(gk, outJSON, &r.opts, r.target)
	must(t, err)
	if len(yamlAgain.Patch) != 0 {
		t.Fatalf("mutating the ApplyYAML result again: %v", yamlAgain.Patch)
	}
	golden(t, r.golden+".mutated.yaml", out.Bytes())
	golden(t, r.golden+".patch.txt", patchText(t, res))
	return res
}

func groupKind(t *testing.T, js []byte) schema.GroupKind {
	t.Helper()
	var tm struct{ APIVersion, Kind string }
	must(t, json.Unmarshal(js, &tm))
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	must(t, err)
	return gv.WithKind(tm.Kind).GroupKind()
}

// checkAdditionsOnly checks that every operation is an add of a member that is missing (or
// null) in the original, below a parent that exists, or else the replace of a container's
// image that pins it (pinnedImage), with no path twice, and that the changes lie below the
// operations.
func checkAdditionsOnly(t *testing.T, js []byte, res *Result) {
	t.Helper()
	orig, err := decode(js)
	must(t, err)
	seen := map[string]bool{}
	for _, op := range res.Patch {
		if seen[op.Path] {
			t.Errorf("two ops for %s", op.Path)
		}
		seen[op.Path] = true
		segs, err := ParsePointer(op.Path)
		must(t, err)
		if op.Operation == "replace" {
			was, _ := lookup(orig, segs).(string)
			now, _ := op.Value.(string)
			if len(segs) < 2 || segs[len(segs)-1] != "image" || !pinnedImage(was, now) {
				t.Errorf("op replace %s: %v with %v, which is not a pinned image", op.Path, lookup(orig, segs), op.Value)
			}
			continue
		}
		if op.Operation != "add" {
			t.Errorf("op %q at %s", op.Operation, op.Path)
		}
		if n := firstMissing(orig, segs); n != len(segs) {
			t.Errorf("op %s: the parent %s is missing in the original", op.Path, Pointer(segs[:n]))
		}
		if v := lookup(orig, segs); v != nil {
			t.Errorf("op %s overwrites the user's value %v", op.Path, v)
		}
	}
	if len(res.Changes) < len(res.Patch) {
		t.Errorf("%d changes for %d operations", len(res.Changes), len(res.Patch))
	}
}

// pinnedImage reports whether now is the image reference was, which had no digest, pinned
// to a sha256 digest.
func pinnedImage(was, now string) bool {
	digest, ok := strings.CutPrefix(now, was+"@sha256:")
	return ok && was != "" && !strings.Contains(was, "@") && len(digest) == 64 && strings.Trim(digest, "0123456789abcdef") == ""
}

// contains reports whether every non-null value of orig is in mutated, unchanged (or, for a
// container's image, pinned); it returns the first path that is not.
func contains(orig, mutated any, path string) (string, bool) {
	switch o := orig.(type) {
	case map[string]any:
		m, ok := mutated.(map[string]any)
		if !ok {
			return path, false
		}
		for k, v := range o {
			if v == nil {
				continue
			}
			if p, ok := contains(v, m[k], path+"/"+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		m, ok := mutated.([]any)
		if !ok || len(m) != len(o) {
			return path, false
		}
		for i := range o {
			if p, ok := contains(o[i], m[i], fmt.Sprintf("%s/%d", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	default:
		if was, ok := orig.(string); ok && strings.HasSuffix(path, "/image") {
			if now, _ := mutated.(string); pinnedImage(was, now) {
				return "", true
			}
		}
		return path, orig == mutated
	}
}

func patchText(t *testing.T, res *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("# operations\n")
	for _, op := range res.Patch {
		v, err := json.Marshal(op.Value)
		must(t, err)
		fmt.Fprintf(&b, "%s %s %s\n", op.Operation, op.Path, v)
	}
	b.WriteString("# changes\n")
	for _, c := range res.Changes {
		fmt.Fprintf(&b, "%s\n", c)
	}
	if len(res.Notes) > 0 {
		b.WriteString("# notes\n")
		for _, n := range res.Notes {
			fmt.Fprintf(&b, "%s\n", n)
		}
	}
	return b.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		must(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/mutate/ -update to write it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("%s differs (go test ./pkg/mutate/ -update rewrites it):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}
