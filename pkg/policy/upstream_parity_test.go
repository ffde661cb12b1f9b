package policy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	psaModule  = "k8s.io/pod-security-admission"
	psaVersion = "v0.37.1"
	// psaFixtureVersion is the directory of the upstream fixtures that test the latest
	// version of every check in psaVersion.
	psaFixtureVersion = "v1.37"
)

// minUpstreamFixtures is how many fixtures each upstream directory of psaVersion holds, so
// that a wrong path or an empty glob cannot pass.
var minUpstreamFixtures = map[string]int{
	"baseline/pass":   15,
	"baseline/fail":   34,
	"restricted/pass": 23,
	"restricted/fail": 76,
}

// psaModuleDir finds the module directory of k8s.io/pod-security-admission@v0.37.1.
func psaModuleDir(t *testing.T) string {
	t.Helper()
	var tried []string
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", psaModule).Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		if strings.HasSuffix(dir, "@"+psaVersion) {
			return dir
		}
		tried = append(tried, "go list -m: "+dir+" (not "+psaVersion+")")
	} else {
		tried = append(tried, "go list -m: "+errString(err))
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			tried = append(tried, "go env GOMODCACHE: "+errString(err))
		}
		cache = strings.TrimSpace(string(out))
	}
	if cache != "" {
		dir := filepath.Join(cache, psaModule+"@"+psaVersion)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir
		}
		tried = append(tried, dir+": not found")
	}
	t.Fatalf("cannot find the module directory of %s@%s (run `go mod download %s`); tried:\n  %s",
		psaModule, psaVersion, psaModule, strings.Join(tried, "\n  "))
	return ""
}

func errString(err error) string {
	if err == nil {
		return "empty output"
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return err.Error() + ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return err.Error()
}

// TestProfileParityUpstreamFixtures runs the Pod Security Admission module's own fixtures
// (test/testdata/<level>/v1.37/{pass,fail}) through the baseline and restricted profiles and
// through PSA at level:latest. Both must give the verdict the directory names, and so agree.
func TestProfileParityUpstreamFixtures(t *testing.T) {
	root := filepath.Join(psaModuleDir(t), "test", "testdata")
	total := 0
	for _, l := range levels {
		for _, verdict := range []string{"pass", "fail"} {
			key := l.profile + "/" + verdict
			t.Run(key, func(t *testing.T) {
				dir := filepath.Join(root, string(l.psa), psaFixtureVersion, verdict)
				files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if len(files) < minUpstreamFixtures[key] {
					t.Fatalf("%s holds %d fixtures, want at least %d", dir, len(files), minUpstreamFixtures[key])
				}
				wantAllowed := verdict == "pass"
				disagreements, defaulted := 0, 0
				for _, file := range files {
					data, err := os.ReadFile(file)
					if err != nil {
						t.Fatal(err)
					}
					name := filepath.Base(file)
					js, err := yaml.YAMLToJSON(data)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					var core corev1.Pod
					if err := json.Unmarshal(js, &core); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if core.Kind != "Pod" || core.APIVersion != "v1" {
						t.Fatalf("%s: %s %s, want v1 Pod", name, core.APIVersion, core.Kind)
					}
					if defaultVolumes(&core.Spec) {
						defaulted++
						if js, err = json.Marshal(&core); err != nil {
							t.Fatal(err)
						}
					}
					ours, _ := decodeObject(t, name, js)
					v := compareLevel(t, l.profile, l.psa, ours, &core)
					if v.psa.Allowed != wantAllowed {
						t.Errorf("%s: PSA %s:latest allowed=%v, the fixture directory says %s\n%s", name, l.psa, v.psa.Allowed, verdict, v.describe())
					}
					if v.oursDenied == wantAllowed {
						t.Errorf("%s: profile %s denied=%v, the fixture directory says %s\n%s%s", name, l.profile, v.oursDenied, verdict, v.describe(), data)
					}
					if !v.agree() {
						disagreements++
					}
				}
				t.Logf("%s: %d fixtures compared (%d with a source-less volume defaulted to emptyDir), %d disagreements",
					dir, len(files), defaulted, disagreements)
				total += len(files)
			})
		}
	}
	t.Logf("%d upstream fixtures compared", total)
}

// defaultVolumes does what the apiserver's defaulting (SetDefaults_Volume) does before any
// admission plugin or webhook sees a pod: a volume without a source becomes an emptyDir. The
// upstream fixtures rely on it (restrictedvolumes0.yaml in restricted/pass has such a volume,
// "implicit empty dir", and is created through an apiserver), while neither PSA's checks
// nor Bulwark's can tell what a source-less volume will be. It reports whether it changed spec.
func defaultVolumes(spec *corev1.PodSpec) bool {
	changed := false
	for i := range spec.Volumes {
		if reflect.ValueOf(spec.Volumes[i].VolumeSource).IsZero() {
			spec.Volumes[i].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
			changed = true
		}
	}
	return changed
}
