// Package layers holds the rule of what each of Bulwark's packages may import, so that the
// engine (podspec, checks, mutate, policy) keeps serving the webhook, the CLI and the audit
// alike: it never learns about admission requests, HTTP or a cluster client.
package layers

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/bulwark-k8s/bulwark/"

// allowed lists, for every package of the module but the commands, the packages of the module
// it may import. docs/development.md draws the same picture.
var allowed = map[string][]string{
	"pkg/podspec":           nil,
	"pkg/rbacspec":          {"pkg/podspec"},
	"pkg/metrics":           nil,
	"internal/eventnote":    nil,
	"internal/textlines":    nil,
	"internal/yamljson":     nil,
	"pkg/certs":             nil,
	"internal/registrytest": nil,
	"internal/patchtest":    nil,
	"pkg/images":            {"pkg/mutate", "pkg/podspec"},
	"pkg/checks":            {"pkg/podspec", "pkg/rbacspec"},
	"pkg/mutate":            {"pkg/podspec"},
	"pkg/policy":            {"pkg/checks", "pkg/mutate", "pkg/podspec", "pkg/rbacspec", "internal/yamljson"},
	"pkg/scan":              {"pkg/checks", "pkg/podspec", "pkg/policy", "pkg/rbacspec", "internal/yamljson"},
	"pkg/admission":         {"pkg/checks", "pkg/images", "pkg/metrics", "pkg/mutate", "pkg/podspec", "pkg/policy", "pkg/rbacspec"},
	"pkg/guardrails":        {"pkg/checks", "pkg/metrics", "pkg/policy", "internal/eventnote"},
	"pkg/audit":             {"pkg/checks", "pkg/guardrails", "pkg/metrics", "pkg/mutate", "pkg/podspec", "pkg/policy", "pkg/rbacspec", "internal/eventnote"},
	"pkg/server":            {"pkg/admission", "pkg/audit", "pkg/certs", "pkg/guardrails", "pkg/images", "pkg/metrics", "pkg/podspec", "pkg/policy", "pkg/rbacspec", "internal/eventnote"},
}

// engine are the packages that the webhook, the CLI and the audit share; forbidden are the
// import path prefixes they must not use.
var (
	engine    = []string{"pkg/podspec", "pkg/rbacspec", "pkg/checks", "pkg/mutate", "pkg/policy", "pkg/scan"}
	forbidden = []string{"net/http", "k8s.io/api/admission/", "k8s.io/client-go/", "sigs.k8s.io/controller-runtime"}
)

// TestImports fails when a package imports a package of the module it may not, or an engine
// package imports admission, HTTP or client code; a new package must be given its place here.
func TestImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, top := range []string{"pkg", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			imports, err := importsOf(path)
			if err != nil {
				return err
			}
			if imports == nil {
				return nil // no Go files
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			seen[rel] = true
			may, known := allowed[rel]
			if !known {
				t.Errorf("%s: a package with no place in the import rules of this test", rel)
				return nil
			}
			for _, imp := range imports {
				if own, ok := strings.CutPrefix(imp, module); ok && !slices.Contains(may, own) {
					t.Errorf("%s imports %s; it may import only %q", rel, own, may)
				}
				if slices.Contains(engine, rel) {
					for _, f := range forbidden {
						if imp == f || strings.HasPrefix(imp, f) {
							t.Errorf("%s (engine) imports %s", rel, imp)
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for pkg := range allowed {
		if !seen[pkg] {
			t.Errorf("%s: in the import rules, but no such package", pkg)
		}
	}
}

// importsOf returns the imports of the non-test Go files in dir, each once; nil when it has
// no Go files.
func importsOf(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = []string{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
