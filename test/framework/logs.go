package framework

import (
	"bytes"
	"strings"
	"sync"
)

// LogBuffer collects a server's log output for assertions; safe for concurrent use, and a
// zapcore.WriteSyncer.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Sync implements zapcore.WriteSyncer.
func (b *LogBuffer) Sync() error { return nil }

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// LinesWithPrefix returns the lines of text that start with prefix, e.g. the bulwark_policy
// series of a metrics scrape or the error lines of a log, for a failure message.
func LinesWithPrefix(text, prefix string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
