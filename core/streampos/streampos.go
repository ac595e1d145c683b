// Package streampos hands out the positions of a stream of writes (room
// events, account data, to-device messages, ...) and tracks how far the
// stream is complete.
//
// Writers commit concurrently, so position 11 can be durable before
// position 10. Readers such as sync must only ever see a prefix of a
// stream, or a client that syncs past 11 would never see 10. The watermark
// is the highest position p such that every position up to p has finished,
// committed or abandoned; readers read up to the watermark.
package streampos

import (
	"sync"
)

// Stream is one stream's positions. It is safe for concurrent use.
type Stream struct {
	mu        sync.Mutex
	next      uint64          // next position to hand out
	watermark uint64          // every position <= watermark has finished
	pending   map[uint64]bool // handed out; true once finished
	changed   chan struct{}   // closed and replaced when the watermark moves
}

// New starts a stream whose highest persisted position is last.
func New(last uint64) *Stream {
	return &Stream{
		next:      last + 1,
		watermark: last,
		pending:   make(map[uint64]bool),
		changed:   make(chan struct{}),
	}
}

// Allocate reserves the next position. The caller must call Finish with it
// whether or not its write commits.
func (s *Stream) Allocate() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.next
	s.next++
	s.pending[p] = false
	return p
}

// Finish marks p as done and advances the watermark over every finished
// position that follows it.
func (s *Stream) Finish(p uint64) {
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

// Position returns the watermark and a channel that is closed when it next
// moves, so that long-polling readers can wait without polling.
func (s *Stream) Position() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watermark, s.changed
}
