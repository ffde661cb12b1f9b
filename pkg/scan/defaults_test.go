package scan

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/pod-security-admission/api"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// restrictedVolumes is a pod that passes the restricted profile, with a volume that names no
// source, as Pod Security admission's own pass fixture restrictedvolumes0 has one: the
// apiserver makes it an emptyDir before any admission webhook sees the pod.
const restrictedVolumes = `apiVersion: v1
kind: Pod
metadata:
  name: volumes
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: registry.example.com/app:1
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
  volumes:
  - name: scratch
  - name: cache
    emptyDir: {}
  - name: token
    projected: {sources: []}
`

func TestEvaluateDefaultsVolumeSource(t *testing.T) {
	snap, err := policy.FromProfile(policy.Restricted)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, manifest, wantDecision string
	}{
		{"no source: an emptyDir", restrictedVolumes, DecisionOK},
		{"hostPath still denied", strings.Replace(restrictedVolumes, "  - name: scratch\n", "  - name: scratch\n    hostPath: {path: /etc}\n", 1), DecisionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Read([]string{"-"}, strings.NewReader(tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			results, err := EvaluatePolicy(docs, snap, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := results[0].Decision(); got != tc.wantDecision {
				t.Errorf("decision %s, want %s: %+v", got, tc.wantDecision, results[0].Violations)
			}
		})
	}
}

// TestUpstreamFixtures reads Pod Security admission's own fixtures for its latest version
// (in the module cache) as manifests: each pass fixture must be admitted and each fail
// fixture denied under the profile of the same name, as bulwark scan reads a manifest.
func TestUpstreamFixtures(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/pod-security-admission").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("k8s.io/pod-security-admission not found in the module cache: %v", err)
	}
	// The newest version directory that has fixtures: v1.0 ... v1.37, compared as versions.
	latest, newest := "", api.MajorMinorVersion(0, 0)
	versions, _ := filepath.Glob(filepath.Join(dir, "test", "testdata", policy.Restricted, "v*"))
	for _, v := range versions {
		parsed, err := api.ParseVersion(filepath.Base(v))
		if err == nil && newest.Older(parsed) {
			latest, newest = filepath.Base(v), parsed
		}
	}
	if latest == "" {
		t.Skipf("no fixtures in %s", dir)
	}
	for _, level := range []string{policy.Baseline, policy.Restricted} {
		snap, err := policy.FromProfile(level)
		if err != nil {
			t.Fatal(err)
		}
		for _, verdict := range []string{"pass", "fail"} {
			root := filepath.Join(dir, "test", "testdata", level, latest, verdict)
			docs, err := Read([]string{root}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) < 10 {
				t.Fatalf("%s: only %d fixtures", root, len(docs))
			}
			results, err := EvaluatePolicy(docs, snap, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if denied := r.Decision() == DecisionDenied; denied != (verdict == "fail") {
					t.Errorf("%s under %s: %s, want %s: %+v", r.Doc.Source, level, r.Decision(), verdict, r.Violations)
				}
			}
		}
	}
}
