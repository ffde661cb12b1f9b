package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The published policies are read from a checkout the user points at (--kyverno-policies,
// --gatekeeper-library); this repository holds no copy of them.

//go:embed gatekeeper-library-constraints.yaml
var gatekeeperLibraryConstraints []byte

// gatekeeperLibraryTemplates are the directories, under gatekeeper-library's
// library/pod-security-policy, of the templates in its pod-security-baseline bundle: the
// checks of the baseline level. The library's other templates (allow-privilege-escalation,
// users, volumes, read-only-root-filesystem, fsgroup, flexvolume-drivers) are restricted or
// beyond the standards, and seccomp is the annotation-era form of seccompv2.
var gatekeeperLibraryTemplates = []string{
	"host-process", "host-namespaces", "host-network-ports", "privileged-containers",
	"capabilities", "host-filesystem", "apparmor", "selinux", "proc-mount", "seccompv2",
	"forbidden-sysctls", "host-probes-lifecycle",
}

// kyvernoPublishedGaps are the harness's violations that kyverno/policies' baseline set does
// not deny, whatever its failure action: the pre-check records them instead of failing.
var kyvernoPublishedGaps = map[string]string{
	"apparmor-unconfined": "restrict-apparmor-profiles reads only the container.apparmor.security.beta.kubernetes.io/* annotations, not securityContext.appArmorProfile",
}

// kyvernoPublishedExtra are the gaps' checks in the form the published policies read: the
// AppArmor violation as an annotation, which restrict-apparmor-profiles must deny.
var kyvernoPublishedExtra = []violation{
	{"apparmor-unconfined-annotation", func(p *corev1.Pod) {
		p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/web": "unconfined"}
	}},
}

// decodeManifest returns the non-empty documents of a YAML or JSON manifest.
func decodeManifest(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs, nil
}

// kyvernoPublished reads the ClusterPolicies of a kyverno/policies directory, such as
// pod-security/baseline: the files its kustomization.yaml lists when it has one (there it
// picks disallow-host-ports over its alternative, disallow-host-ports-range), else every YAML
// file under it. The harness changes only the failure action: every validation is set to
// Enforce (the published policies default to Audit, which admits and reports), so that the
// violations are denied.
func kyvernoPublished(dir string) ([]*unstructured.Unstructured, error) {
	files, err := manifestFiles(dir)
	if err != nil {
		return nil, err
	}
	var policies []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := decodeManifest(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, u := range objs {
			if u.GetKind() != "ClusterPolicy" {
				continue
			}
			if err := enforce(u); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			policies = append(policies, u)
		}
	}
	if len(policies) == 0 {
		return nil, fmt.Errorf("--kyverno-policies %s: no ClusterPolicy found", dir)
	}
	return policies, nil
}

// manifestFiles lists the YAML files of dir: those its kustomization.yaml names as resources
// (a directory resource in turn by its own kustomization.yaml or its YAML files), or else
// every .yaml and .yml file under dir.
func manifestFiles(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		var files []string
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				files = append(files, path)
			}
			return nil
		})
		sort.Strings(files)
		return files, err
	}
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "kustomization.yaml"), err)
	}
	var files []string
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, path)
			continue
		}
		sub, err := manifestFiles(path)
		if err != nil {
			return nil, err
		}
		files = append(files, sub...)
	}
	return files, nil
}

// enforce sets every failure action of a ClusterPolicy to Enforce: the policy's
// validationFailureAction (deprecated in Kyverno 1.13, still honoured; set even when absent,
// since absent means Audit) and its overrides, and each rule's validate.failureAction and
// failureActionOverrides where the rule has them.
func enforce(u *unstructured.Unstructured) error {
	if err := unstructured.SetNestedField(u.Object, "Enforce", "spec", "validationFailureAction"); err != nil {
		return err
	}
	if err := enforceOverrides(u.Object, "spec", "validationFailureActionOverrides"); err != nil {
		return err
	}
	rules, _, err := unstructured.NestedSlice(u.Object, "spec", "rules")
	if err != nil {
		return err
	}
	for i, r := range rules {
		rule, ok := r.(map[string]any)
		if !ok {
			continue
		}
		validate, ok := rule["validate"].(map[string]any)
		if !ok {
			continue
		}
		if _, ok := validate["failureAction"]; ok {
			validate["failureAction"] = "Enforce"
		}
		if err := enforceOverrides(validate, "failureActionOverrides"); err != nil {
			return err
		}
		rules[i] = rule
	}
	return unstructured.SetNestedSlice(u.Object, rules, "spec", "rules")
}

func enforceOverrides(obj map[string]any, fields ...string) error {
	overrides, found, err := unstructured.NestedSlice(obj, fields...)
	if err != nil || !found {
		return err
	}
	for _, o := range overrides {
		if m, ok := o.(map[string]any); ok {
			m["action"] = "Enforce"
		}
	}
	return unstructured.SetNestedSlice(obj, overrides, fields...)
}

// gatekeeperPublished reads the baseline bundle's ConstraintTemplates from gatekeeper-library's
// library/pod-security-policy directory, as published, and returns them followed by this
// harness's Constraints for them (gatekeeper-library-constraints.yaml).
func gatekeeperPublished(dir string) ([]*unstructured.Unstructured, error) {
	var templates []*unstructured.Unstructured
	kinds := map[string]string{} // constraint kind -> template directory
	for _, name := range gatekeeperLibraryTemplates {
		path := filepath.Join(dir, name, "template.yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--gatekeeper-library: %w", err)
		}
		objs, err := decodeManifest(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(objs) != 1 || objs[0].GetKind() != "ConstraintTemplate" {
			return nil, fmt.Errorf("%s: want one ConstraintTemplate", path)
		}
		t := objs[0]
		if bundle := t.GetAnnotations()["metadata.gatekeeper.sh/bundle"]; !strings.Contains(bundle, "pod-security-baseline") {
			return nil, fmt.Errorf("%s: not in the pod-security-baseline bundle (bundle %q)", path, bundle)
		}
		kind, _, _ := unstructured.NestedString(t.Object, "spec", "crd", "spec", "names", "kind")
		if kind == "" {
			return nil, fmt.Errorf("%s: no constraint kind", path)
		}
		kinds[kind] = name
		templates = append(templates, t)
	}
	constraints, err := decodeManifest(gatekeeperLibraryConstraints)
	if err != nil {
		return nil, err
	}
	for _, c := range constraints {
		if _, ok := kinds[c.GetKind()]; !ok {
			return nil, fmt.Errorf("gatekeeper-library-constraints.yaml: no template for %s", c.GetKind())
		}
		delete(kinds, c.GetKind())
	}
	for kind, name := range kinds {
		return nil, fmt.Errorf("gatekeeper-library-constraints.yaml: no constraint for %s (%s)", kind, name)
	}
	return append(templates, constraints...), nil
}

// names lists the objects' names, for the results: the ClusterPolicies, or the
// ConstraintTemplates followed by a word on the harness's Constraints.
func names(objs []*unstructured.Unstructured) string {
	var s []string
	constraints := false
	for _, u := range objs {
		if strings.HasPrefix(u.GetAPIVersion(), "constraints.gatekeeper.sh/") {
			constraints = true
			continue
		}
		s = append(s, u.GetName())
	}
	if constraints {
		s = append(s, "with gatekeeper-library-constraints.yaml")
	}
	return strings.Join(s, ", ")
}
