package fedsender

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"hearth/core/fedclient"
	"hearth/persist"
	"hearth/transport"
)

// wake makes sure the destination's queue is being drained, unless it is
// backing off (its retry timer wakes it then).
func (s *Sender) wake(name string) {
	s.mu.Lock()
	d := s.dest(name)
	d.pending = true
	if d.running || s.closed || !d.retryAt.IsZero() && s.cfg.Now().Before(d.retryAt) {
		s.mu.Unlock()
		return
	}
	d.running = true
	s.wg.Add(1)
	s.mu.Unlock()
	go s.drain(d)
}

// batch is one transaction's content.
type batch struct {
	keys       [][]byte // durable entries to delete after success
	pdus, edus []json.RawMessage
	memEDUs    int // EDUs taken from the front of destination.edus
}

// drain sends the destination's queue, one transaction at a time, until it
// is empty or a send fails.
func (s *Sender) drain(d *destination) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		d.pending = false
		mem := append([]json.RawMessage(nil), d.edus[:min(len(d.edus), MaxEDUs)]...)
		dropped := d.dropped
		s.mu.Unlock()

		b, err := s.readBatch(s.ctx, d.name)
		if err == nil {
			n := min(len(mem), MaxEDUs-len(b.edus))
			b.edus = append(b.edus, mem[:n]...)
			b.memEDUs = n
		}
		if err == nil && len(b.pdus) == 0 && len(b.edus) == 0 {
			s.mu.Lock()
			if d.pending && !s.closed {
				s.mu.Unlock()
				continue
			}
			d.running = false
			s.mu.Unlock()
			return
		}
		if err == nil {
			err = s.send(d.name, b)
		}
		if s.ctx.Err() != nil {
			s.mu.Lock()
			d.running = false
			s.mu.Unlock()
			return
		}
		if err != nil {
			s.log.Warn("federation transaction failed", "destination", d.name, "err", err)
			s.fail(d, err)
			return
		}
		s.mu.Lock()
		sent := b.memEDUs - int(min(d.dropped-dropped, uint64(b.memEDUs)))
		d.edus = d.edus[sent:]
		if len(d.edus) == 0 {
			d.edus = nil
		}
		d.backoff, d.retryAt = 0, time.Time{}
		s.mu.Unlock()
	}
}

// readBatch reads the oldest durable entries of the destination's queue
// that fit one transaction, in order.
func (s *Sender) readBatch(ctx context.Context, dest string) (batch, error) {
	var b batch
	err := s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		b = batch{}
		it := tx.Iterate(persist.IterOptions{Prefix: queuePrefix(dest)})
		defer it.Close()
		for it.Next() {
			v := it.Value()
			if len(v) < 2 {
				// Unreadable: drop it with the batch rather than
				// block the queue for ever.
				b.keys = append(b.keys, it.Key())
				continue
			}
			raw := json.RawMessage(v[1:])
			switch v[0] {
			case kindPDU:
				if len(b.pdus) == MaxPDUs {
					return nil
				}
				b.pdus = append(b.pdus, raw)
			default:
				if len(b.edus) == MaxEDUs {
					return nil
				}
				b.edus = append(b.edus, raw)
			}
			b.keys = append(b.keys, it.Key())
		}
		return it.Err()
	})
	return b, err
}

// send sends one transaction and, after a 200, deletes its durable entries.
func (s *Sender) send(dest string, b batch) error {
	if len(b.pdus) > 0 || len(b.edus) > 0 {
		id, err := s.txnID(s.ctx)
		if err != nil {
			return err
		}
		results, err := s.cfg.Client.SendTransaction(s.ctx, dest, id, b.pdus, b.edus)
		if err != nil {
			return err
		}
		for eventID, r := range results {
			if r.Error != "" {
				s.log.Info("destination refused an event", "destination", dest, "event", eventID, "err", r.Error)
			}
		}
	}
	if len(b.keys) == 0 {
		return nil
	}
	return s.cfg.Store.Update(s.ctx, func(tx persist.Tx) error {
		for _, k := range b.keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// fail backs the destination off: the wait doubles from MinBackoff up to
// MaxBackoff, or is what a 429 asked for when longer, and a timer retries.
func (s *Sender) fail(d *destination, err error) {
	s.mu.Lock()
	switch {
	case d.backoff == 0:
		d.backoff = s.cfg.MinBackoff
	default:
		d.backoff = min(2*d.backoff, s.cfg.MaxBackoff)
	}
	wait := d.backoff
	var fe *fedclient.Error
	if errors.As(err, &fe) && fe.RetryAfterMS > 0 {
		wait = min(max(wait, time.Duration(fe.RetryAfterMS)*time.Millisecond), s.cfg.MaxBackoff)
	}
	if errors.Is(err, transport.ErrUnreachable) {
		s.log.Debug("destination unreachable", "destination", d.name, "retry_in", wait)
	}
	d.retryAt = s.cfg.Now().Add(wait)
	d.gen++
	gen := d.gen
	d.running = false
	s.mu.Unlock()
	s.cfg.AfterFunc(wait, func() { s.retry(d.name, gen) })
}

// retry ends a backoff, unless PeerSeen or another failure replaced it.
func (s *Sender) retry(name string, gen uint64) {
	s.mu.Lock()
	d := s.dests[name]
	if d == nil || d.gen != gen || s.closed {
		s.mu.Unlock()
		return
	}
	d.retryAt = time.Time{}
	s.mu.Unlock()
	s.wake(name)
}
