package room

import (
	"sync"
)

// stream hands out server-wide stream positions for persisted events and
// tracks how far every position has been committed.
//
// Writers to different rooms commit concurrently, so position 11 can be
// durable before position 10. Readers (sync, pagination) must only ever see
// a prefix of the stream, or a client that syncs past 11 would never see 10.
// The watermark is the highest position p such that every position up to p
// has finished, committed or abandoned.
type stream struct {
	mu        sync.Mutex
	next      uint64          // next position to hand out
	watermark uint64          // every position <= watermark has finished
	pending   map[uint64]bool // handed out; true once finished
	changed   chan struct{}   // closed and replaced when the watermark moves
}

// newStream starts a stream whose highest persisted position is last.
func newStream(last uint64) *stream {
	return &stream{
		next:      last + 1,
		watermark: last,
		pending:   make(map[uint64]bool),
		changed:   make(chan struct{}),
	}
}

// allocate reserves the next position. The caller must call finish with it
// whether or not its write commits.
func (s *stream) allocate() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.next
	s.next++
	s.pending[p] = false
	return p
}

// finish marks p as done and advances the watermark over every finished
// position that follows it.
func (s *stream) finish(p uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[p] = true
	moved := false
	for {
		done, ok := s.pending[s.watermark+1]
		if !ok || !done {
			break
		}
		delete(s.pending, s.watermark+1)
		s.watermark++
		moved = true
	}
	if moved {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// position returns the watermark and a channel that is closed when it next
// moves, so that long-polling readers can wait without polling.
func (s *stream) position() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watermark, s.changed
}
