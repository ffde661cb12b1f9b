package policy_test

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// catalog is every check ID of CHECKS.md, copied from the document, with its nsa action.
var catalog = []struct {
	id  string
	nsa checks.Action
}{
	{"host-network", checks.Enforce},
	{"host-pid", checks.Enforce},
	{"host-ipc", checks.Enforce},
	{"host-path", checks.Enforce},
	{"host-ports", checks.Enforce},
	{"host-process", checks.Enforce},
	{"host-probes", checks.Enforce},
	{"privileged", checks.Enforce},
	{"capabilities", checks.Enforce},
	{"proc-mount", checks.Enforce},
	{"sysctls", checks.Enforce},
	{"apparmor", checks.Enforce},
	{"selinux", checks.Enforce},
	{"seccomp", checks.Enforce},
	{"run-as-non-root", checks.Warn},
	{"run-as-user", checks.Warn},
	{"privilege-escalation", checks.Warn},
	{"drop-capabilities", checks.Warn},
	{"seccomp-required", checks.Warn},
	{"volume-types", checks.Warn},
	{"read-only-root-filesystem", checks.Warn},
	{"resource-limits", checks.Warn},
	{"resource-requests", checks.Warn},
	{"automount-service-account-token", checks.Audit},
	{"image-tag", checks.Warn},
	{"image-registry", checks.Enforce},
}

// baselineIDs and restrictedIDs are what the profiles table of CHECKS.md names.
var (
	baselineIDs = []string{"host-network", "host-pid", "host-ipc", "host-path", "host-ports", "host-process", "host-probes",
		"privileged", "capabilities", "proc-mount", "sysctls", "apparmor", "selinux", "seccomp"}
	restrictedIDs = append(slices.Clone(baselineIDs),
		"run-as-non-root", "run-as-user", "privilege-escalation", "drop-capabilities", "seccomp-required", "volume-types")
)

// mutationDefaults are the defaults of CHECKS.md's mutation table and whether each is on.
var mutationDefaults = map[string]bool{
	"seccomp": true, "privilege-escalation": true, "drop-capabilities": true, "run-as-non-root": true,
	"read-only-root-filesystem": false, "resources": true, "automount-service-account-token": false,
}

const (
	checkFixtureRoot = "../../test/testdata/checks"
	// checksDoc is the check catalog as documented in the repository.
	checksDoc = "../../docs/checks.md"
	// sharedChecksDoc is the contract docs/checks.md is a copy of, where it is checked out
	// beside the repository.
	sharedChecksDoc = "../../../shared/CHECKS.md"
)

func catalogIDs() []string {
	ids := make([]string, len(catalog))
	for i, c := range catalog {
		ids[i] = c.id
	}
	return ids
}

// TestCatalog ties the registry, the fixtures, the profiles and CHECKS.md together.
func TestCatalog(t *testing.T) {
	ids := catalogIDs()
	t.Run("registry", func(t *testing.T) {
		for _, id := range ids {
			if c, ok := checks.Get(id); !ok {
				t.Errorf("check %q of CHECKS.md is not registered", id)
			} else if c.ID != id {
				t.Errorf("checks.Get(%q) returned check %q", id, c.ID)
			}
		}
		for _, id := range checks.IDs() {
			if !slices.Contains(ids, id) {
				t.Errorf("registered check %q is not in CHECKS.md", id)
			}
		}
		if got := len(checks.IDs()); got != len(ids) {
			t.Errorf("%d checks registered, CHECKS.md lists %d", got, len(ids))
		}
	})

	t.Run("fixtures", func(t *testing.T) {
		for _, id := range ids {
			for _, kind := range []string{"pass", "fail"} {
				files, err := filepath.Glob(filepath.Join(checkFixtureRoot, id, kind, "*.yaml"))
				if err != nil || len(files) == 0 {
					t.Errorf("no fixture in %s (%v)", filepath.Join(checkFixtureRoot, id, kind, "*.yaml"), err)
				}
			}
		}
	})

	t.Run("profiles", func(t *testing.T) {
		nsa, baseline, restricted := profile(t, policy.NSA), profile(t, policy.Baseline), profile(t, policy.Restricted)
		for _, c := range catalog {
			if got := nsa.Checks.Action(c.id); got != c.nsa {
				t.Errorf("nsa: %s is %q, CHECKS.md says %q", c.id, got, c.nsa)
			}
			want := checks.Off
			if slices.Contains(baselineIDs, c.id) {
				want = checks.Enforce
			}
			if got := baseline.Checks.Action(c.id); got != want {
				t.Errorf("baseline: %s is %q, want %q", c.id, got, want)
			}
			want = checks.Off
			if slices.Contains(restrictedIDs, c.id) {
				want = checks.Enforce
			}
			if got := restricted.Checks.Action(c.id); got != want {
				t.Errorf("restricted: %s is %q, want %q", c.id, got, want)
			}
		}
		if !restricted.Checks.Params().StrictProcMount {
			t.Error("restricted: PSA's restricted procMount rule (StrictProcMount) is off")
		}
		if baseline.Checks.Params().StrictProcMount || nsa.Checks.Params().StrictProcMount {
			t.Error("baseline or nsa: StrictProcMount is on; only restricted applies PSA's restricted procMount rule")
		}
		if baseline.Mutation != nil || restricted.Mutation != nil {
			t.Errorf("baseline and restricted must not mutate: baseline %+v, restricted %+v", baseline.Mutation, restricted.Mutation)
		}
		if nsa.Mutation == nil {
			t.Fatal("nsa: mutation is off")
		}
		for name, on := range mutationDefaults {
			if got := nsa.Mutation.Enabled(name); got != on {
				t.Errorf("nsa: mutation default %s on=%v, CHECKS.md says %v", name, got, on)
			}
		}
		if names := slices.Sorted(maps.Keys(mutationDefaults)); !slices.Equal(slices.Sorted(slices.Values(mutate.Names())), names) {
			t.Errorf("mutate.Names() = %q, CHECKS.md lists %q", mutate.Names(), names)
		}
		if p, _ := policy.FromProfile(""); p == nil || p.Profile != policy.NSA {
			t.Errorf("the default profile is not nsa: %+v", p)
		}
	})

	t.Run("CHECKS.md", func(t *testing.T) {
		data, err := os.ReadFile(checksDoc)
		if err != nil {
			t.Fatal(err)
		}
		if shared, err := os.ReadFile(sharedChecksDoc); err == nil {
			if a, b := parseChecksDoc(t, data), parseChecksDoc(t, shared); !reflect.DeepEqual(a, b) {
				t.Errorf("the tables of %s differ from %s:\n%+v\n%+v", checksDoc, sharedChecksDoc, a, b)
			}
		}
		doc := parseChecksDoc(t, data)
		t.Logf("%s: %d check IDs, baseline names %d, restricted %d, %d mutation defaults",
			checksDoc, len(doc.ids), len(doc.baseline), len(doc.restricted), len(doc.mutation))
		if got := slices.Sorted(slices.Values(doc.ids)); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
			t.Errorf("check IDs of CHECKS.md:\n  %q\nliteral catalog of this test:\n  %q", doc.ids, ids)
		}
		nsa := profile(t, policy.NSA)
		for _, id := range doc.ids {
			if got := nsa.Checks.Action(id); got != doc.nsa[id] {
				t.Errorf("nsa: %s is %q, CHECKS.md's nsa column says %q", id, got, doc.nsa[id])
			}
		}
		for name, want := range map[string][]string{policy.Baseline: doc.baseline, policy.Restricted: doc.restricted} {
			if len(want) < 10 {
				t.Errorf("CHECKS.md: parsed only %q for profile %s; the parser is broken", want, name)
			}
			if got := enforced(profile(t, name)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("profile %s enforces\n  %q\nCHECKS.md names\n  %q", name, got, slices.Sorted(slices.Values(want)))
			}
		}
		if len(doc.mutation) < 5 {
			t.Errorf("CHECKS.md: parsed only %v from the mutation table; the parser is broken", doc.mutation)
		}
		for name, on := range doc.mutation {
			if got := nsa.Mutation.Enabled(name); got != on {
				t.Errorf("nsa: mutation default %s on=%v, CHECKS.md says %v", name, got, on)
			}
		}
		if !mapsEqual(doc.mutation, mutationDefaults) {
			t.Errorf("CHECKS.md mutation table %v differs from this test's %v", doc.mutation, mutationDefaults)
		}
	})
}

// enforced returns the IDs a snapshot enforces, sorted.
func enforced(s *policy.Snapshot) []string {
	var out []string
	for _, id := range checks.IDs() {
		if s.Checks.Action(id) == checks.Enforce {
			out = append(out, id)
		}
	}
	return out
}

// checksDocument is what TestCatalog reads from CHECKS.md.
type checksDocument struct {
	ids                  []string                 // first column of the check tables, in order
	nsa                  map[string]checks.Action // the nsa column
	baseline, restricted []string                 // the IDs the profiles table names
	mutation             map[string]bool          // the mutation table: default -> on by default
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// parseChecksDoc reads the markdown tables of CHECKS.md: the check tables (header "ID", with
// an "nsa" column), the profiles table and the mutation defaults table.
func parseChecksDoc(t *testing.T, data []byte) checksDocument {
	t.Helper()
	doc := checksDocument{nsa: map[string]checks.Action{}, mutation: map[string]bool{}}
	var header []string
	profiles := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			header = cells
			continue
		}
		if strings.HasPrefix(cells[0], "---") || strings.HasPrefix(cells[0], ":--") {
			continue
		}
		col := func(name string) string {
			if i := slices.Index(header, name); i >= 0 && i < len(cells) {
				return cells[i]
			}
			t.Fatalf("CHECKS.md: table %q has no column %q: %s", header, name, line)
			return ""
		}
		switch header[0] {
		case "ID":
			id := strings.Trim(cells[0], "`")
			if !idPattern.MatchString(id) {
				t.Fatalf("CHECKS.md: %q is not a check ID: %s", id, line)
			}
			doc.ids = append(doc.ids, id)
			action, _, _ := strings.Cut(col("nsa"), " ") // "warn (mutated)" -> warn
			doc.nsa[id] = checks.Action(action)
			if !doc.nsa[id].Valid() {
				t.Errorf("CHECKS.md: %s: nsa action %q is not an action", id, action)
			}
		case "profile":
			profiles[strings.Trim(cells[0], "`")] = col("what it is")
		case "default":
			on := col("on by default")
			doc.mutation[cells[0]] = strings.HasPrefix(on, "yes")
		}
	}
	known := func(words []string) []string {
		var out []string
		for _, w := range words {
			w = strings.Trim(strings.TrimSpace(w), "`.")
			if strings.HasSuffix(w, "*") { // host-* stands for every host- check
				for _, id := range doc.ids {
					if strings.HasPrefix(id, strings.TrimSuffix(w, "*")) {
						out = append(out, id)
					}
				}
				continue
			}
			if slices.Contains(doc.ids, w) {
				out = append(out, w)
			}
		}
		return out
	}
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	}
	// "the PSA baseline checks (host-*, privileged, ...), all enforce, ..."
	if b := profiles["baseline"]; strings.Contains(b, "(") {
		inner, _, _ := strings.Cut(b[strings.Index(b, "(")+1:], ")")
		doc.baseline = known(split(inner))
	}
	// "`baseline` plus run-as-non-root, ..., volume-types and PSA's restricted procMount rule, all enforce, ..."
	if r := profiles["restricted"]; strings.Contains(r, "`baseline` plus ") {
		_, rest, _ := strings.Cut(r, "`baseline` plus ")
		rest, _, _ = strings.Cut(rest, ", all enforce")
		doc.restricted = append(slices.Clone(doc.baseline), known(split(rest))...)
	}
	if len(doc.ids) == 0 {
		t.Fatal("CHECKS.md: no check table found")
	}
	return doc
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
