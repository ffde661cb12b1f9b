package kustomize

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// helmTemplate renders charts/bulwark as release "bulwark" in namespace "bulwark-system" with
// the real helm; it skips the test when the chart or helm is not there.
func helmTemplate(t *testing.T, set ...string) []byte {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repoRoot, "charts/bulwark/Chart.yaml")); err != nil {
		t.Skip("no chart in charts/bulwark")
	}
	helm := filepath.Join(assets, "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Skipf("helm not found in %s: run hack/tools.sh helm", assets)
	}
	args := []string{"template", fullname, "charts/bulwark", "--namespace", namespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	cmd.Dir = repoRoot
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out.Bytes()
}

// TestSameInstallAsChart: config/default renders the objects `helm template` renders with the
// chart's defaults, and config/certmanager those with certManager.enabled=true, field for
// field. Only the labels differ: the chart's carry helm.sh/chart, the version and managed-by
// Helm; every other label of ours has the chart's value. The Namespace is ours alone (helm
// install --create-namespace makes it).
func TestSameInstallAsChart(t *testing.T) {
	for _, tc := range []struct {
		dir string
		set []string
	}{
		{"default", nil},
		{"certmanager", []string{"certManager.enabled=true"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			chart := parse(t, helmTemplate(t, tc.set...))
			ours := parse(t, render(t, tc.dir))
			var withoutNS objects
			for _, o := range ours {
				if o.GetKind() != "Namespace" {
					withoutNS = append(withoutNS, o)
				}
			}
			if got, want := withoutNS.ids(), chart.ids(); !slices.Equal(got, want) {
				t.Errorf("config/%s renders (besides the Namespace)\n  %s\nthe chart\n  %s", tc.dir, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			for _, c := range chart {
				mine := withoutNS.byID(id(c))
				if mine == nil {
					continue // reported above
				}
				ml, cl := mine.GetLabels(), c.GetLabels()
				for k, v := range ml {
					if k != "app.kubernetes.io/managed-by" && cl[k] != v {
						t.Errorf("%s: label %s=%q, the chart's is %q", id(c), k, v, cl[k])
					}
				}
				a, b := mine.DeepCopy(), c.DeepCopy()
				a.SetLabels(nil)
				b.SetLabels(nil)
				if d := diff("", a.Object, b.Object); len(d) > 0 {
					t.Errorf("%s differs from the chart's (left: config/%s, right: chart):\n  %s", id(c), tc.dir, strings.Join(d, "\n  "))
				}
			}
		})
	}
}
