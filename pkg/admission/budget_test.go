package admission

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
)

// The apiserver's limits on the warnings of one response (k8s.io/apiserver
// pkg/endpoints/filters/warning.go): 4096 in all, each item cut at 256 once over it. It also
// drops any warning that is not valid UTF-8 or holds a control character
// (k8s.io/apimachinery/pkg/util/net.NewWarningHeader).
const (
	apiserverWarningTotal = 4096
	apiserverWarningItem  = 256
)

// assertWarningBudget checks warnings against the apiserver's limits and returns how many
// were left out according to the trailer.
func assertWarningBudget(t *testing.T, warnings []string) int {
	t.Helper()
	total := 0
	for _, w := range warnings {
		total += len(w)
		if len(w) > apiserverWarningItem {
			t.Errorf("warning of %d bytes, over %d: %q", len(w), apiserverWarningItem, w)
		}
		if !utf8.ValidString(w) {
			t.Errorf("warning is not valid UTF-8, the apiserver drops it: %q", w)
		}
		for _, r := range w {
			if unicode.IsControl(r) {
				t.Errorf("warning holds control character %U, the apiserver drops it: %q", r, w)
				break
			}
		}
	}
	if total >= apiserverWarningTotal {
		t.Errorf("warnings total %d bytes, at or over the apiserver's %d", total, apiserverWarningTotal)
	}
	_, dropped := splitTrailer(t, warnings)
	return dropped
}

// TestWarningBudget: a pod with many containers violating many warn checks.
func TestWarningBudget(t *testing.T) {
	var containers []string
	for i := 0; i < 20; i++ {
		// No tag (image-tag), no securityContext, no resources: eight warn checks each.
		containers = append(containers, fmt.Sprintf(`{"name":"worker-%02d","image":"registry.example.com/team-a/batch/worker-with-a-long-name"}`, i))
	}
	spec := `{"volumes":[{"name":"nfs","nfs":{"server":"nfs.example.com","path":"/x"}}],"containers":[` + strings.Join(containers, ",") + `]}`
	h := newHarness(t, profile(t, "nsa"))
	resp := h.v.Handle(context.Background(), request(admissionv1.Create, kCronJob, "nightly", kCronJob.object("nightly", spec), ""))
	if !resp.Allowed {
		t.Fatalf("denied: %s", resp.Result.Message)
	}
	dropped := assertWarningBudget(t, resp.Warnings)
	if dropped == 0 {
		t.Fatalf("no trailer in %d warnings; want some left out", len(resp.Warnings))
	}
	if last := resp.Warnings[len(resp.Warnings)-1]; last != fmt.Sprintf("bulwark: %d more warnings not shown; run `bulwark scan` on the manifest to see them all", dropped) {
		t.Errorf("trailer %q", last)
	}
	var warned float64
	for k, v := range h.counters("bulwark_check_violations_total") {
		if strings.Contains(k, "action=warn,") {
			warned += v
		}
	}
	// 20 containers x 7 container checks + run-as-non-root + seccomp-required + volume-types.
	if warned < 143 {
		t.Errorf("%v warn violations counted, want at least 143", warned)
	}
	if shown := len(resp.Warnings) - 1; float64(shown+dropped) != warned {
		t.Errorf("%d shown + %d not shown != %v warn violations", shown, dropped, warned)
	}
	for _, w := range resp.Warnings[:len(resp.Warnings)-1] {
		if !strings.HasPrefix(w, "[") || !strings.Contains(w, "spec.jobTemplate.spec.template.spec.") {
			t.Errorf("warning %q is not a violation of the CronJob's pod spec", w)
		}
		if len(w) == apiserverWarningItem && !strings.HasSuffix(w, "...") {
			t.Errorf("cut warning without an ellipsis: %q", w)
		}
	}
}

// TestWarningsWithLongNames: a violation too long for one warning is shown as
// "[check] field: fix", which keeps what to do and where; multi-byte names never make a
// warning invalid UTF-8 or longer than the apiserver keeps.
func TestWarningsWithLongNames(t *testing.T) {
	name := strings.Repeat("é", 60) + strings.Repeat("😀", 20)
	h := newHarness(t, profile(t, "nsa"))
	spec := fmt.Sprintf(`{"containers":[{"name":%q,"image":"nginx"}]}`, name)
	resp := h.v.Handle(context.Background(), request(admissionv1.Create, kPod, "x", kPod.object("x", spec), ""))
	if len(resp.Warnings) < 5 {
		t.Fatalf("got %d warnings, want one per warn check", len(resp.Warnings))
	}
	assertWarningBudget(t, resp.Warnings)
	short := 0
	for _, w := range resp.Warnings {
		if !utf8.ValidString(w) {
			t.Errorf("invalid UTF-8: %q", w)
		}
		if strings.Contains(w, name) {
			continue // the whole violation fits
		}
		short++
		if strings.Contains(w, ". Fix: ") || strings.HasSuffix(w, "...") || !regexp.MustCompile(`^\[[a-z-]+\] spec\.[^ ]+: .+$`).MatchString(w) {
			t.Errorf("long violation not shown as [check] field: fix: %q", w)
		}
	}
	if short == 0 {
		t.Errorf("every warning holds the 140-character name: the test does not reach the limit")
	}
}

// TestWarningBudgetUnit drives the budget directly at the boundaries.
func TestWarningBudgetUnit(t *testing.T) {
	t.Run("multi-byte at the cut", func(t *testing.T) {
		for pad := 250; pad <= 256; pad++ {
			for _, r := range []string{"é", "€", "😀"} {
				var w warningBudget
				s := strings.Repeat("a", pad) + strings.Repeat(r, 10)
				w.add(s)
				got := w.list()
				if len(got) != 1 {
					t.Fatalf("pad %d %s: %d warnings", pad, r, len(got))
				}
				if !utf8.ValidString(got[0]) || len(got[0]) > maxWarning || !strings.HasSuffix(got[0], "...") {
					t.Errorf("pad %d %s: cut to %d bytes %q, want valid UTF-8 of at most %d ending in ...", pad, r, len(got[0]), got[0], maxWarning)
				}
				if !strings.HasPrefix(s, strings.TrimSuffix(got[0], "...")) {
					t.Errorf("pad %d %s: cut warning is not a prefix of the original", pad, r)
				}
				if len(got[0]) < maxWarning-6 {
					t.Errorf("pad %d %s: cut to %d bytes, more than needed", pad, r, len(got[0]))
				}
			}
		}
	})
	t.Run("exactly the limit is kept whole", func(t *testing.T) {
		var w warningBudget
		s := strings.Repeat("é", maxWarning/2)
		w.add(s)
		if got := w.list(); len(got) != 1 || got[0] != s {
			t.Errorf("a warning of exactly %d bytes was changed: %q", maxWarning, got)
		}
	})
	t.Run("total", func(t *testing.T) {
		var w warningBudget
		for i := 0; i < 100; i++ {
			w.add(strings.Repeat("x", 100))
		}
		got := w.list()
		// maxWarningTotal (2700) / 100 = 27 kept, 73 counted.
		if len(got) != 28 {
			t.Fatalf("got %d warnings, want 27 and a trailer", len(got))
		}
		if want := "bulwark: 73 more warnings not shown; run `bulwark scan` on the manifest to see them all"; got[27] != want {
			t.Errorf("trailer %q, want %q", got[27], want)
		}
		assertWarningBudget(t, got)
	})
	t.Run("none", func(t *testing.T) {
		var w warningBudget
		if got := w.list(); got != nil {
			t.Errorf("empty budget lists %q", got)
		}
	})
}

// TestWarningSharesFit: both webhooks' warnings reach the client through one response of the
// apiserver, which cuts every warning to 256 characters once they pass 4096 in all.
func TestWarningSharesFit(t *testing.T) {
	var v, m warningBudget
	m.limit = maxMutationWarnings
	for i := 0; i < 200; i++ {
		v.add(strings.Repeat("v", 90+i%150))
		m.add(strings.Repeat("m", 90+i%150))
	}
	total := 0
	for _, w := range append(v.list(), m.list()...) {
		total += utf8.RuneCountInString(w)
	}
	if total > 4096 {
		t.Errorf("validating and mutating warnings add up to %d characters, over the apiserver's 4096", total)
	}
}
