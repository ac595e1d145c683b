// Package notifications decides which room events notify which local users
// and keeps what follows from that: each user's unread notification and
// highlight counts per room (the unread_notifications of /sync), the list
// behind GET /notifications, the user's push rules (stored as the
// m.push_rules account data, so that they sync to every client), and the
// user's pushers.
//
// The room DAG reports every event added to a timeline to Observe, with
// the room's write lock held; Observe only queues the event, and one
// background goroutine takes everything queued at once, evaluates each
// event against the push rules of every local member of its room
// (core/pushrules) and writes the whole batch's results in one
// transaction. Counts waits, for a bounded time (Config.MaxWait), only
// until the events of its own room observed before the call are
// evaluated, so that the count for an event normally appears in the same
// /sync response as the event itself, as the spec requires, while a
// backlog elsewhere never holds a /sync up for long. When the wait runs
// out, Counts answers with the counts as they are and the user is woken
// once the room's evaluation catches up.
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
	// Wake, when set, is called with users whose counts Counts (or List)
	// answered before their room's events were evaluated, once those
	// events are, so that their long-polling /sync looks again.
	Wake func(users ...string)
	// AfterFunc runs f after d (time.AfterFunc natively). It bounds how
	// long Counts and List wait for the evaluation of events already
	// observed; without it they never wait.
	AfterFunc func(d time.Duration, f func())
	// MaxWait is that bound; 0 means DefaultMaxWait.
	MaxWait time.Duration
}

// DefaultMaxWait is how long Counts waits, at most, for its room's events
// to be evaluated when Config.MaxWait is 0.
const DefaultMaxWait = 50 * time.Millisecond

// Batch limits: the worker writes at most maxBatchEvents events, or the
// events holding at most about maxBatchHits notifications, per
// transaction, so that a transaction stays well below what a backend
// commits atomically.
const (
	maxBatchEvents = 1024
	maxBatchHits   = 4096
)

// Service evaluates push rules and keeps notification state. It is safe for
// concurrent use.
type Service struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// The queue of observed events, in the order Observe saw them, and
	// the progress of their evaluation.
	qmu      sync.Mutex
	queue    []queued
	queued   uint64                   // events ever queued
	finished uint64                   // events ever evaluated and written
	batches  uint64                   // batches ever written
	stalled  uint64                   // batches+1 when a wait last ran out; 0 if none did
	pending  map[string]*roomProgress // rooms with events not yet written
	progress chan struct{}            // closed and replaced when finished moves
	wakeup   chan struct{}            // buffered(1): the worker has work

	// Owned by the worker goroutine.
	members *memberCache
	lists   *listCache

	rules *rulesCache
}

// queued is one observed event and its room's progress.
type queued struct {
	room.Added
	rp *roomProgress
}

// roomProgress counts one room's events observed and written. A room is
// in Service.pending only while written < observed; waiters keep the
// pointer, so a room that catches up and falls behind again gets a fresh
// one without confusing them.
type roomProgress struct {
	observed, written uint64
	// stale are the users who were answered counts while the room was
	// behind: they are woken when it next moves.
	stale map[string]struct{}
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
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
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
		pending:  make(map[string]*roomProgress),
		progress: make(chan struct{}),
		wakeup:   make(chan struct{}, 1),
		members:  newMemberCache(cfg.ServerName),
		lists:    newListCache(),
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
	rp := s.pending[ev.RoomID()]
	if rp == nil {
		rp = &roomProgress{}
		s.pending[ev.RoomID()] = rp
	}
	rp.observed++
	s.queue = append(s.queue, queued{Added: room.Added{Event: ev, Pos: pos}, rp: rp})
	s.queued++
	s.qmu.Unlock()
	select {
	case s.wakeup <- struct{}{}:
	default:
	}
}

// Flush waits until every event observed before the call has been
// evaluated and written, or ctx is done. Tests use it; readers use the
// bounded waits of Counts and List.
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

// run is the worker: it takes everything queued, evaluates it in order and
// writes it in batches.
func (s *Service) run() {
	defer close(s.done)
	for {
		s.qmu.Lock()
		all := s.queue
		s.queue = nil
		s.qmu.Unlock()
		for len(all) > 0 {
			n, err := s.processBatch(s.ctx, all)
			if s.ctx.Err() != nil {
				return
			}
			if err != nil {
				s.cfg.Logf("notifications: %v", err)
			}
			s.written(all[:n])
			all = all[n:]
		}
		select {
		case <-s.wakeup:
			continue
		case <-s.ctx.Done():
			return
		}
	}
}

// written records that evaluated events are written: it moves their rooms'
// progress, wakes the users answered stale counts in those rooms and
// releases the waiters.
func (s *Service) written(batch []queued) {
	var wake []string
	s.qmu.Lock()
	for _, q := range batch {
		rp := q.rp
		rp.written++
		for u := range rp.stale {
			wake = append(wake, u)
		}
		rp.stale = nil
		if rp.written >= rp.observed && s.pending[q.Event.RoomID()] == rp {
			delete(s.pending, q.Event.RoomID())
		}
	}
	s.qmu.Unlock()
	if len(wake) > 0 && s.cfg.Wake != nil {
		s.cfg.Wake(wake...)
	}
	// Flush returns only after the wake-ups.
	s.qmu.Lock()
	s.finished += uint64(len(batch))
	s.batches++
	close(s.progress)
	s.progress = make(chan struct{})
	s.qmu.Unlock()
}
