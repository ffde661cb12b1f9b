package policy_test

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

const (
	checkFixtureRoot = "../../test/testdata/checks"
	// checksDoc is the check catalog users read; the registry is held to it.
	checksDoc = "../../docs/checks.md"
	// policyDoc documents the policy format, check parameters included.
	policyDoc = "../../docs/policy.md"
)

// TestCatalog ties the checks' declarations, the fixtures, the profiles, the mutation
// defaults and docs/checks.md together.
func TestCatalog(t *testing.T) {
	data, err := os.ReadFile(checksDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := parseChecksDoc(t, data)
	t.Logf("%s: %d check IDs, baseline names %d, restricted %d, %d mutation defaults",
		checksDoc, len(doc.ids), len(doc.baseline), len(doc.restricted), len(doc.mutation))
	nsa, baseline, restricted := profile(t, policy.NSA), profile(t, policy.Baseline), profile(t, policy.Restricted)

	t.Run("registry", func(t *testing.T) {
		if got, want := checks.IDs(), slices.Sorted(slices.Values(doc.ids)); !slices.Equal(got, want) {
			t.Errorf("registered checks\n  %q\n%s lists\n  %q", got, checksDoc, want)
		}
		if len(doc.ids) < 20 {
			t.Errorf("%s: parsed only %d check IDs; the parser is broken", checksDoc, len(doc.ids))
		}
	})

	t.Run("categories", func(t *testing.T) {
		for _, c := range checks.All() {
			if h := doc.section[c.ID]; !strings.HasPrefix(h, string(c.Category)) {
				t.Errorf("%s: category %q, but %s lists it under %q", c.ID, c.Category, checksDoc, h)
			}
		}
	})

	t.Run("fixtures", func(t *testing.T) {
		for _, id := range checks.IDs() {
			for _, kind := range []string{"pass", "fail"} {
				pattern := filepath.Join(checkFixtureRoot, id, kind, "*.yaml")
				files, err := filepath.Glob(pattern)
				if err != nil {
					t.Fatalf("%s: %v", pattern, err)
				}
				if len(files) == 0 {
					t.Errorf("no fixture in %s", pattern)
				}
			}
		}
	})

	t.Run("profiles", func(t *testing.T) {
		for _, c := range checks.All() {
			if got, want := nsa.Checks.Action(c.ID), doc.nsa[c.ID]; got != want {
				t.Errorf("nsa: %s is %q, the nsa column of %s says %q", c.ID, got, checksDoc, want)
			}
			for _, p := range []struct {
				name     string
				snap     *policy.Snapshot
				declared checks.Action
				doc      []string
			}{
				{policy.Baseline, baseline, c.Profiles.Baseline, doc.baseline},
				{policy.Restricted, restricted, c.Profiles.Restricted, doc.restricted},
				{policy.NSA, nsa, c.Profiles.NSA, nil},
			} {
				want := p.declared
				if want == "" {
					want = checks.Off
				}
				if got := p.snap.Checks.Action(c.ID); got != want {
					t.Errorf("%s: %s is %q, the check declares %q", p.name, c.ID, got, want)
				}
				if p.doc != nil && slices.Contains(p.doc, c.ID) != (want == checks.Enforce) {
					t.Errorf("%s: %s is %q; the profiles table of %s names it: %v", p.name, c.ID, want, checksDoc, slices.Contains(p.doc, c.ID))
				}
			}
			if c.Profiles.Baseline != "" && c.Profiles.Restricted.Rank() < c.Profiles.Baseline.Rank() {
				t.Errorf("%s: restricted (%q) is weaker than baseline (%q)", c.ID, c.Profiles.Restricted, c.Profiles.Baseline)
			}
		}
		if len(doc.baseline) < 10 || len(doc.restricted) <= len(doc.baseline) {
			t.Errorf("%s: parsed baseline %q, restricted %q from the profiles table; the parser is broken", checksDoc, doc.baseline, doc.restricted)
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
		if p, _ := policy.FromProfile(""); p == nil || p.Profile != policy.NSA {
			t.Errorf("the default profile is not nsa: %+v", p)
		}
	})

	t.Run("mutation", func(t *testing.T) {
		if nsa.Mutation == nil {
			t.Fatal("nsa: mutation is off")
		}
		if len(doc.mutation) < 5 {
			t.Errorf("%s: parsed only %v from the mutation table; the parser is broken", checksDoc, doc.mutation)
		}
		if got, want := slices.Sorted(slices.Values(mutate.Names())), slices.Sorted(maps.Keys(doc.mutation)); !slices.Equal(got, want) {
			t.Errorf("mutate.Names() = %q, %s lists %q", got, checksDoc, want)
		}
		for name, on := range doc.mutation {
			if got := nsa.Mutation.Enabled(name); got != on {
				t.Errorf("nsa: mutation default %s on=%v, %s says %v", name, got, checksDoc, on)
			}
		}
		for _, c := range checks.All() {
			if c.Mutation != "" && !slices.Contains(mutate.Names(), c.Mutation) {
				t.Errorf("%s: declares the mutation default %q, which pkg/mutate does not have (%q)", c.ID, c.Mutation, mutate.Names())
			}
			if doc.mutated[c.ID] && (c.Mutation == "" || !nsa.Mutation.Enabled(c.Mutation)) {
				t.Errorf("%s: %s says nsa mutates it, but the check declares the default %q, on=%v", c.ID, checksDoc, c.Mutation, nsa.Mutation.Enabled(c.Mutation))
			}
		}
	})

	t.Run("parameters", func(t *testing.T) {
		policyText, err := os.ReadFile(policyDoc)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range checks.All() {
			for _, p := range c.Params {
				n++
				if owner, _ := checks.ParamOwner(p.Name); owner != c.ID {
					t.Errorf("%s: parameter %s is owned by %q", c.ID, p.Name, owner)
				}
				if !bytes.Contains(policyText, []byte(p.Name)) {
					t.Errorf("%s: parameter %s is not documented in %s", c.ID, p.Name, policyDoc)
				}
				// A value set in a document reaches the check's parameters, and Effective
				// writes it back under the check.
				text := "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nchecks:\n  " + c.ID + ":\n    " + p.Name + ": [example.test]\n"
				snap, err := policy.Parse([]byte(text), "parameter")
				if err != nil {
					t.Errorf("%s.%s: %v", c.ID, p.Name, err)
					continue
				}
				params := snap.Checks.Params()
				if got := *p.Values(&params); !slices.Contains(got, "example.test") {
					t.Errorf("%s.%s: the document's value is not in the parameters: %q", c.ID, p.Name, got)
				}
				if got := snap.Effective().Checks[c.ID].Params[p.Name]; !slices.Contains(got, "example.test") {
					t.Errorf("%s.%s: Effective lost the value: %q", c.ID, p.Name, got)
				}
			}
		}
		if n == 0 {
			t.Error("no check declares a parameter")
		}
	})
}

// checksDocument is what TestCatalog reads from docs/checks.md.
type checksDocument struct {
	ids                  []string                 // first column of the check tables, in order
	nsa                  map[string]checks.Action // the nsa column
	baseline, restricted []string                 // the IDs the profiles table names
	mutation             map[string]bool          // the mutation table: default -> on by default
	mutated              map[string]bool          // checks whose nsa column says "(mutated)"
	section              map[string]string        // the heading of the section that lists a check
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// anchoredID is a check table's ID cell: the check's anchor, then its ID.
var anchoredID = regexp.MustCompile(`^<a id="([^"]*)"></a>(.*)$`)

// parseChecksDoc reads the markdown tables of docs/checks.md: the check tables (header "ID", with
// an "nsa" column), the profiles table and the mutation defaults table.
func parseChecksDoc(t *testing.T, data []byte) checksDocument {
	t.Helper()
	doc := checksDocument{nsa: map[string]checks.Action{}, mutation: map[string]bool{}, mutated: map[string]bool{}, section: map[string]string{}}
	var header []string
	section := ""
	profiles := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = h
		}
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
			t.Fatalf("docs/checks.md: table %q has no column %q: %s", header, name, line)
			return ""
		}
		switch header[0] {
		case "ID":
			// "<a id="host-network"></a>host-network": the anchor SARIF rules link to.
			m := anchoredID.FindStringSubmatch(cells[0])
			if m == nil || m[1] != m[2] {
				t.Fatalf("docs/checks.md: the ID cell %q is not <a id=\"ID\"></a>ID: %s", cells[0], line)
			}
			id := m[2]
			if !idPattern.MatchString(id) {
				t.Fatalf("docs/checks.md: %q is not a check ID: %s", id, line)
			}
			doc.ids = append(doc.ids, id)
			doc.section[id] = section
			action, note, _ := strings.Cut(col("nsa"), " ") // "warn (mutated)" -> warn
			doc.nsa[id] = checks.Action(action)
			doc.mutated[id] = note == "(mutated)"
			if !doc.nsa[id].Valid() {
				t.Errorf("docs/checks.md: %s: nsa action %q is not an action", id, action)
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
		t.Fatal("docs/checks.md: no check table found")
	}
	return doc
}
