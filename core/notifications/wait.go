package notifications

import "context"

// waitFor waits until done, which runs with s.qmu held, reports true. It
// waits at most Config.MaxWait, and not at all without Config.AfterFunc or
// when an earlier wait ran out and the worker has written nothing since: a
// stalled worker then costs the next readers nothing. It reports whether
// done held; it fails only when ctx ends.
func (s *Service) waitFor(ctx context.Context, done func() bool) (bool, error) {
	s.qmu.Lock()
	ok := done()
	skip := s.cfg.AfterFunc == nil || s.stalled == s.batches+1
	s.qmu.Unlock()
	if ok || skip {
		return ok, nil
	}
	expired := make(chan struct{})
	s.cfg.AfterFunc(s.cfg.MaxWait, func() { close(expired) })
	for {
		s.qmu.Lock()
		ok, progress := done(), s.progress
		s.qmu.Unlock()
		if ok {
			return true, nil
		}
		select {
		case <-progress:
		case <-expired:
			s.qmu.Lock()
			ok = done()
			if !ok {
				s.stalled = s.batches + 1
			}
			s.qmu.Unlock()
			return ok, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case <-s.done:
			return false, nil
		}
	}
}

// waitRoom waits, bounded as waitFor does, until the room's events observed
// before the call are written. When they are not, it remembers userID as
// answered stale counts, to be woken once the room moves.
func (s *Service) waitRoom(ctx context.Context, userID, roomID string) error {
	s.qmu.Lock()
	rp := s.pending[roomID]
	var target uint64
	if rp != nil {
		target = rp.observed
	}
	s.qmu.Unlock()
	if rp == nil {
		return nil
	}
	ok, err := s.waitFor(ctx, func() bool { return rp.written >= target })
	if err != nil || ok {
		return err
	}
	s.qmu.Lock()
	if rp.written < target {
		if rp.stale == nil {
			rp.stale = make(map[string]struct{})
		}
		rp.stale[userID] = struct{}{}
	}
	s.qmu.Unlock()
	return nil
}

// waitAll waits, bounded as waitFor does, until every event observed
// before the call is written.
func (s *Service) waitAll(ctx context.Context) error {
	s.qmu.Lock()
	target := s.queued
	s.qmu.Unlock()
	_, err := s.waitFor(ctx, func() bool { return s.finished >= target })
	return err
}
