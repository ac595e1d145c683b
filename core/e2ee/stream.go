package e2ee

import (
	"slices"
	"sync"

	"hearth/core/streampos"
)

// stream is a stream of positions whose wake-ups wait for its watermark.
// Sync reads a stream only up to the watermark, so a write at position 6
// that finishes while 5 is still in flight must not wake anyone yet: the
// woken sync would find nothing and wait again. Its users are woken by
// whichever Finish moves the watermark past 6.
type stream struct {
	*streampos.Stream
	wake func(users ...string)

	mu      sync.Mutex
	pending []pendingWake
}

// pendingWake is a durable write whose users are not woken yet.
type pendingWake struct {
	pos   uint64
	users []string
}

func newStream(last uint64, wake func(users ...string)) *stream {
	return &stream{Stream: streampos.New(last), wake: wake}
}

// finish marks pos done, its write committed or abandoned, and wakes users
// once the watermark covers pos, together with the users of earlier writes
// that were waiting for it.
func (s *stream) finish(pos uint64, users []string) {
	s.Finish(pos)
	s.mu.Lock()
	if len(users) > 0 {
		s.pending = append(s.pending, pendingWake{pos, users})
	}
	watermark, _ := s.Position()
	var ready []string
	keep := s.pending[:0]
	for _, p := range s.pending {
		if p.pos <= watermark {
			ready = append(ready, p.users...)
		} else {
			keep = append(keep, p)
		}
	}
	clear(s.pending[len(keep):])
	s.pending = keep
	s.mu.Unlock()
	if len(ready) > 0 && s.wake != nil {
		slices.Sort(ready)
		s.wake(slices.Compact(ready)...)
	}
}
