// Package notifications decides which room events notify which local users
// and keeps what follows from that: each user's unread notification and
// highlight counts per room (the unread_notifications of /sync), the list
// behind GET /notifications, the user's push rules (stored as the
// m.push_rules account data, so that they sync to every client), and the
// user's pushers.
//
// The room DAG reports every event added to a timeline to Observe, with
// the room's write lock held; Observe only queues the event, and one
// background goroutine evaluates each queued event against the push rules
// of every local member of its room (core/pushrules). Readers of the
// counts (Counts, List) first wait for the queue to drain, so that the
// count for an event appears in the same /sync response as the event
// itself, as the spec requires.
//
// Counts reset as the user reads: MarkRead, which the receipts code calls
// for m.read and m.read.private receipts, marks the notifications up to an
// event read, and an event the user sends marks its thread read up to it.
// Delivery to push gateways is not done here.
package notifications

import (
	"context"
	"errors"
	"sync"
	"time"

	"hearth/core/accountdata"
	"hearth/core/event"
	"hearth/core/room"
	"hearth/persist"
)

// Rooms is what the package reads of the room DAG; *room.DAG implements
// it.
type Rooms interface {
	StateAfter(ctx context.Context, eventID string) (room.State, error)
	StateEvents(ctx context.Context, s room.State) (map[event.StateKey]*event.PDU, error)
	Info(ctx context.Context, eventID string) (room.EventInfo, error)
}

// Config is what a Service needs from its surroundings.
type Config struct {
	// ServerName is this server's name: users whose IDs end in it are
	// local and have push rules here.
	ServerName string
	// Store holds the data under the "notifications/" prefix.
	Store persist.Store
	// Rooms is the room DAG.
	Rooms Rooms
	// AccountData stores each user's push rules as m.push_rules.
	AccountData *accountdata.Store
	// Now returns the current time, for the ts of stored notifications.
	Now func() time.Time
	// Logf, when set, reports failures of the background evaluation,
	// which has no caller to return them to.
	Logf func(format string, args ...any)
	// MaxStored bounds the notifications kept per user for GET
	// /notifications; older ones are dropped. 0 means 1000.
	MaxStored int
}

// Service evaluates push rules and keeps notification state. It is safe for
// concurrent use.
type Service struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// The queue of observed events, in the order Observe saw them.
	qmu      sync.Mutex
	queue    []room.Added
	queued   uint64        // events ever queued
	finished uint64        // events ever processed
	progress chan struct{} // closed and replaced when finished moves
	wakeup   chan struct{} // buffered(1): the worker has work

	// Owned by the worker goroutine.
	members *memberCache

	rules *rulesCache
}

// New returns a Service over cfg and starts its background worker; Close
// stops it.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Rooms == nil || cfg.AccountData == nil || cfg.Now == nil || cfg.ServerName == "" {
		return nil, errors.New("notifications: Config needs ServerName, Store, Rooms, AccountData and Now")
	}
	if cfg.MaxStored <= 0 {
		cfg.MaxStored = 1000
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg:      cfg,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		progress: make(chan struct{}),
		wakeup:   make(chan struct{}, 1),
		members:  newMemberCache(cfg.ServerName),
		rules:    newRulesCache(),
	}
	go s.run()
	return s, nil
}

// Close stops the background worker, abandoning events still queued, and
// waits for it to exit.
func (s *Service) Close() {
	s.cancel()
	<-s.done
}

// Observe queues an event just added to a room's timeline at stream
// position pos for evaluation. It never blocks, so the room DAG may call it
// from its OnAccepted hook with the room's lock held; ctx is not used
// beyond the call.
func (s *Service) Observe(_ context.Context, ev *event.PDU, pos uint64) {
	s.qmu.Lock()
	s.queue = append(s.queue, room.Added{Event: ev, Pos: pos})
	s.queued++
	s.qmu.Unlock()
	select {
	case s.wakeup <- struct{}{}:
	default:
	}
}

// Flush waits until every event observed before the call has been
// evaluated, or ctx is done.
func (s *Service) Flush(ctx context.Context) error {
	s.qmu.Lock()
	target := s.queued
	s.qmu.Unlock()
	for {
		s.qmu.Lock()
		finished, progress := s.finished, s.progress
		s.qmu.Unlock()
		if finished >= target {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errors.New("notifications: closed")
		}
	}
}

// run is the worker: it evaluates queued events one at a time, in order.
func (s *Service) run() {
	defer close(s.done)
	for {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		s.qmu.Unlock()
		for _, a := range batch {
			if err := s.process(s.ctx, a); err != nil {
				if s.ctx.Err() != nil {
					return
				}
				s.cfg.Logf("notifications: event %s: %v", a.Event.ID(), err)
			}
			s.qmu.Lock()
			s.finished++
			close(s.progress)
			s.progress = make(chan struct{})
			s.qmu.Unlock()
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-s.wakeup:
		case <-s.ctx.Done():
			return
		}
	}
}
