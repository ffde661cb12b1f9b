package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
)

// progressBarWidth is the number of cells of the bar between its brackets.
const progressBarWidth = 24

// progress tells on stderr how far a cluster scan is, kind by kind. On a terminal it draws one
// line, redrawn after every page and cleared before the report:
//
//	Pods  1500/3000 [===========>            ] 50%
//
// Elsewhere (a pipe, a CI log) it prints one line per kind once the kind is read:
//
//	read 3000 Pods
//
// It never writes to stdout, where the report goes.
type progress struct {
	w   io.Writer
	tty bool
	// kind is the kind being read and done the objects of it read so far; line is what is
	// drawn on the terminal ("" when nothing is).
	kind string
	done int
	line string
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

// isTerminal reports whether w is a terminal that can redraw a line: a character device, and
// not one whose $TERM says it cannot move the cursor.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// update records a page read (audit.Options.Progress).
func (p *progress) update(pr audit.Progress) {
	if pr.Kind != p.kind {
		p.kindDone()
	}
	p.kind, p.done = pr.Kind, pr.Done
	if p.tty {
		p.draw(progressLine(pr))
	}
}

// finish is called once every kind is read: the last kind is done, and the terminal line is
// cleared for the report.
func (p *progress) finish() {
	p.kindDone()
	p.clear()
}

// abort is called when the scan fails: the terminal line is cleared for the error, and the
// kind that was being read is not reported as read.
func (p *progress) abort() {
	p.kind = ""
	p.clear()
}

// warn prints a message on a line of its own, above the progress line, which is redrawn.
func (p *progress) warn(msg string) {
	line := p.line
	p.clear()
	fmt.Fprintln(p.w, msg)
	if line != "" {
		p.draw(line)
	}
}

// kindDone prints the plain line of the kind read so far, if any.
func (p *progress) kindDone() {
	if p.kind != "" && !p.tty {
		fmt.Fprintf(p.w, "read %s\n", kindCount(p.done, p.kind))
	}
	p.kind, p.done = "", 0
}

func (p *progress) draw(line string) {
	// Spaces blank what is left of a longer line drawn before.
	pad := strings.Repeat(" ", max(len(p.line)-len(line), 0))
	fmt.Fprint(p.w, "\r"+line+pad)
	p.line = line
}

func (p *progress) clear() {
	if p.line != "" {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", len(p.line))+"\r")
		p.line = ""
	}
}

// progressLine renders one kind's progress: `Pods  1500/3000 [=====>    ] 50%`. Total is an
// estimate the apiserver gives; when it gives none, or there is nothing to read, the bar is full.
func progressLine(pr audit.Progress) string {
	total := max(pr.Total, pr.Done)
	filled, percent := progressBarWidth, 100
	if total > 0 {
		filled, percent = pr.Done*progressBarWidth/total, pr.Done*100/total
	}
	bar := strings.Repeat("=", filled)
	if filled < progressBarWidth {
		bar += ">" + strings.Repeat(" ", progressBarWidth-filled-1)
	}
	return fmt.Sprintf("%s  %d/%d [%s] %d%%", pluralKind(pr.Kind), pr.Done, total, bar, percent)
}

// kindCount is "1 Pod" or "3000 Pods".
func kindCount(n int, kind string) string {
	if n == 1 {
		return "1 " + kind
	}
	return fmt.Sprintf("%d %s", n, pluralKind(kind))
}

// pluralKind is the plural of one of the kinds an audit reads, as its resource spells it
// ("CronJobs").
func pluralKind(kind string) string {
	for _, k := range audit.Kinds() {
		if k.Kind == kind {
			return k.Plural()
		}
	}
	return kind + "s" // Namespaces
}
