package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
)

// pages is what audit.Run reports for a small cluster: no CronJob, two Deployments in one
// page, 1500 Pods in three pages of 500 (the apiserver estimating what remains).
var pages = []audit.Progress{
	{Kind: "CronJob", Done: 0, Total: 0},
	{Kind: "Deployment", Done: 2, Total: 2},
	{Kind: "Pod", Done: 500, Total: 1500},
	{Kind: "Pod", Done: 1000, Total: 1500},
	{Kind: "Pod", Done: 1500, Total: 1500},
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		p    audit.Progress
		want string
	}{
		{audit.Progress{Kind: "Pod", Done: 1500, Total: 3000}, "Pods  1500/3000 [============>           ] 50%"},
		{audit.Progress{Kind: "Pod", Done: 0, Total: 3000}, "Pods  0/3000 [>                       ] 0%"},
		{audit.Progress{Kind: "ReplicaSet", Done: 3000, Total: 3000}, "ReplicaSets  3000/3000 [========================] 100%"},
		// Nothing to read, or no estimate from the apiserver: the bar is full.
		{audit.Progress{Kind: "CronJob"}, "CronJobs  0/0 [========================] 100%"},
		{audit.Progress{Kind: "Job", Done: 500}, "Jobs  500/500 [========================] 100%"},
		{audit.Progress{Kind: "Pod", Done: 1, Total: 3}, "Pods  1/3 [========>               ] 33%"},
	} {
		if got := progressLine(tc.p); got != tc.want {
			t.Errorf("progressLine(%+v) =\n%q, want\n%q", tc.p, got, tc.want)
		}
	}
}

// TestProgressTerminal: on a terminal, one line redrawn per page, blanked where a shorter line
// replaces a longer one, and cleared at the end so that nothing of it is left before the report.
func TestProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, true)
	for i, pg := range pages {
		p.update(pg)
		if i == 1 {
			p.warn("bulwark scan: warning: something")
		}
	}
	p.finish()
	cron := "CronJobs  0/0 [========================] 100%"
	dep := "Deployments  2/2 [========================] 100%"
	pod1 := "Pods  500/1500 [========>               ] 33%"
	pod2 := "Pods  1000/1500 [================>       ] 66%"
	pod3 := "Pods  1500/1500 [========================] 100%"
	want := "\r" + cron +
		"\r" + dep + // longer than the CronJob line: nothing to blank
		"\r" + strings.Repeat(" ", len(dep)) + "\r" + "bulwark scan: warning: something\n" + "\r" + dep +
		"\r" + pod1 + strings.Repeat(" ", len(dep)-len(pod1)) +
		"\r" + pod2 +
		"\r" + pod3 +
		"\r" + strings.Repeat(" ", len(pod3)) + "\r"
	if got := b.String(); got != want {
		t.Errorf("terminal output\n%q, want\n%q", got, want)
	}
	if strings.Contains(b.String(), "read ") {
		t.Error("plain lines on a terminal")
	}
}

// TestProgressPlain: elsewhere, one line per kind once it is read, and nothing of a kind whose
// reading failed.
func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false)
	for i, pg := range pages {
		p.update(pg)
		if i == 2 {
			p.warn("bulwark scan: warning: something")
		}
	}
	p.finish()
	want := "read 0 CronJobs\nread 2 Deployments\nbulwark scan: warning: something\nread 1500 Pods\n"
	if got := b.String(); got != want {
		t.Errorf("plain output\n%q, want\n%q", got, want)
	}

	b.Reset()
	p = newProgress(&b, false)
	p.update(audit.Progress{Kind: "CronJob", Done: 1, Total: 1})
	p.update(audit.Progress{Kind: "Deployment", Done: 500, Total: 900})
	p.abort()
	if got, want := b.String(), "read 1 CronJob\n"; got != want {
		t.Errorf("after a failure\n%q, want\n%q", got, want)
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}
