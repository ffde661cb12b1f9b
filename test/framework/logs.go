package framework

import (
	"bytes"
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
