package policy

import "sync/atomic"

// Source hands out the policy in force. Current never blocks and never returns nil.
type Source interface {
	Current() *Snapshot
}

// Holder is a Source whose snapshot can be swapped atomically while requests read it.
type Holder struct {
	p atomic.Pointer[Snapshot]
}

// NewHolder returns a Holder serving s.
func NewHolder(s *Snapshot) *Holder {
	h := &Holder{}
	h.p.Store(s)
	return h
}

// Current returns the snapshot in force.
func (h *Holder) Current() *Snapshot { return h.p.Load() }

// Store puts s in force for every request that starts after it returns.
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }
