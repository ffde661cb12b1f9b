package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const auditPolicy = `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: %s
spec:
  validationFailureAction: Audit
  validationFailureActionOverrides:
    - action: Audit
      namespaces: [bench]
  rules:
    - name: one
      validate:
        failureAction: Audit
        pattern: {spec: {}}
    - name: two
      validate:
        pattern: {spec: {}}
`

func TestKyvernoPublished(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a", "a.yaml"), fmt.Sprintf(auditPolicy, "a"))
	write(t, filepath.Join(dir, "a", "artifacthub-pkg.yml"), "name: a\nversion: 1.0.0\n")
	write(t, filepath.Join(dir, "b", "b.yaml"), fmt.Sprintf(auditPolicy, "b"))

	all, err := kyvernoPublished(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(all); got != "a, b" {
		t.Errorf("without kustomization.yaml: got %q, want every ClusterPolicy, a, b", got)
	}
	write(t, filepath.Join(dir, "kustomization.yaml"), "resources:\n  - b/b.yaml\n")
	listed, err := kyvernoPublished(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(listed); got != "b" {
		t.Fatalf("with kustomization.yaml: got %q, want its resources, b", got)
	}
	p := listed[0]
	if v, _, _ := unstructured.NestedString(p.Object, "spec", "validationFailureAction"); v != "Enforce" {
		t.Errorf("validationFailureAction %q, want Enforce", v)
	}
	overrides, _, _ := unstructured.NestedSlice(p.Object, "spec", "validationFailureActionOverrides")
	if a := overrides[0].(map[string]any)["action"]; a != "Enforce" {
		t.Errorf("override action %v, want Enforce", a)
	}
	rules, _, _ := unstructured.NestedSlice(p.Object, "spec", "rules")
	if a := rules[0].(map[string]any)["validate"].(map[string]any)["failureAction"]; a != "Enforce" {
		t.Errorf("rule failureAction %v, want Enforce", a)
	}
	if _, ok := rules[1].(map[string]any)["validate"].(map[string]any)["failureAction"]; ok {
		t.Errorf("a rule without failureAction got one")
	}
	if _, ok := rules[1].(map[string]any)["validate"].(map[string]any)["pattern"]; !ok {
		t.Errorf("the rule's pattern is gone")
	}
}

// TestGatekeeperPublished runs on stand-in templates: one per directory, of the kind of the
// harness's constraint in the same position.
func TestGatekeeperPublished(t *testing.T) {
	constraints, err := decodeManifest(gatekeeperLibraryConstraints)
	if err != nil {
		t.Fatal(err)
	}
	if len(constraints) != len(gatekeeperLibraryTemplates) {
		t.Fatalf("%d constraints for %d templates", len(constraints), len(gatekeeperLibraryTemplates))
	}
	dir := t.TempDir()
	template := func(name, kind, bundle string) {
		write(t, filepath.Join(dir, name, "template.yaml"), fmt.Sprintf(`apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: %s
  annotations:
    metadata.gatekeeper.sh/bundle: %q
spec:
  crd:
    spec:
      names:
        kind: %s
`, strings.ToLower(kind), bundle, kind))
	}
	for i, name := range gatekeeperLibraryTemplates {
		template(name, constraints[i].GetKind(), "pod-security-baseline, pod-security-restricted")
	}
	objs, err := gatekeeperPublished(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2*len(gatekeeperLibraryTemplates) {
		t.Errorf("%d objects, want a template and a constraint per check", len(objs))
	}
	template(gatekeeperLibraryTemplates[0], constraints[0].GetKind(), "pod-security-restricted")
	if _, err := gatekeeperPublished(dir); err == nil || !strings.Contains(err.Error(), "bundle") {
		t.Errorf("a template outside the baseline bundle: got %v, want an error", err)
	}
}
