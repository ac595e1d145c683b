// Package fedsender sends this server's events and EDUs to other servers:
// one durable queue per destination, drained by at most one transaction in
// flight at a time (at most 50 PDUs and 100 EDUs each), with exponential
// backoff after failures, capped, and an immediate retry when the
// destination is seen again (PeerSeen).
//
// Local room events enter through Index (inside the transaction that
// stores the event, so none is lost) and Accepted (a wake-up); a fan-out
// goroutine then queues each for the servers in the room. SendPDU and
// SendEDU queue directly. EDUs are kept in memory, except to-device
// messages, device list updates and signing key updates, which are queued
// durably. Nothing leaves a queue before the destination answered 200.
//
// The package never reads a clock or starts a timer of its own: Now and
// AfterFunc come from the embedder.
package fedsender

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/persist"
)

// Transaction limits of the federation API.
const (
	MaxPDUs = 50
	MaxEDUs = 100
)

// Defaults of Config.
const (
	DefaultMinBackoff = 5 * time.Second
	DefaultMaxBackoff = time.Hour
	// DefaultMaxMemoryEDUs bounds the EDUs kept in memory per
	// destination; the oldest are dropped beyond it (typing and presence
	// lose nothing that matters by then).
	DefaultMaxMemoryEDUs = 1000
)

// counterBlock is how many sequence numbers one durable reservation covers.
const counterBlock = 1024

// Client sends a transaction; *fedclient.Client implements it.
type Client interface {
	SendTransaction(ctx context.Context, destination, txnID string, pdus, edus []json.RawMessage) (map[string]fedclient.PDUResult, error)
}

// Config is what a Sender needs.
type Config struct {
	// ServerName is this server's name: never a destination.
	ServerName string
	// Store holds the queues under "fedsender/".
	Store persist.Store
	// Client sends transactions.
	Client Client
	// Rooms, when set, lets the Sender fan local room events out to the
	// servers in their rooms (Index, Accepted) and answer Destinations;
	// *room.DAG implements it.
	Rooms Rooms
	// Now returns the current time.
	Now func() time.Time
	// AfterFunc runs f after d (time.AfterFunc natively); it schedules
	// retries.
	AfterFunc func(d time.Duration, f func())
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
	// MinBackoff is the wait after a destination's first failure,
	// doubled after each further failure up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxMemoryEDUs bounds the in-memory EDUs per destination.
	MaxMemoryEDUs int
}

// Sender is the federation sender. It is safe for concurrent use.
type Sender struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	counterMu         sync.Mutex
	counter, reserved uint64
	fanoutWake        chan struct{}
	fanoutFrom        uint64 // the fan-out goroutine's cursor: see fanoutOnce
	members           *memberCache
	mu                sync.Mutex
	closed            bool
	dests             map[string]*destination
	roomCacheMu       sync.Mutex
	roomCache         map[string]roomServers
}

// destination is one destination's in-memory state; Sender.mu guards it.
type destination struct {
	name string
	// running is true while a goroutine drains the queue; pending is set
	// by every wake-up, so the drainer looks again before it stops.
	running, pending bool
	backoff          time.Duration
	retryAt          time.Time
	gen              uint64 // invalidates retry timers
	edus             []json.RawMessage
	// dropped counts EDUs dropped from the front of edus when full, so
	// that a drainer removes only what it sent.
	dropped uint64
}

// New opens the queues in cfg.Store and resumes every non-empty one, and
// the fan-out of local events not yet queued.
func New(ctx context.Context, cfg Config) (*Sender, error) {
	if cfg.ServerName == "" || cfg.Store == nil || cfg.Client == nil || cfg.Now == nil || cfg.AfterFunc == nil {
		return nil, errors.New("fedsender: Config needs ServerName, Store, Client, Now and AfterFunc")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.MaxMemoryEDUs <= 0 {
		cfg.MaxMemoryEDUs = DefaultMaxMemoryEDUs
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Sender{
		cfg:        cfg,
		log:        log,
		dests:      make(map[string]*destination),
		fanoutWake: make(chan struct{}, 1),
		members:    newMemberCache(),
		roomCache:  make(map[string]roomServers),
	}
	var queued []string
	err := cfg.Store.View(ctx, func(tx persist.Tx) error {
		var err error
		if s.counter, err = persist.GetUint64(tx, []byte(keyCounter)); err != nil {
			return err
		}
		s.reserved = s.counter
		queued, err = queuedDestinations(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fedsender: open: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, d := range queued {
		s.wake(d)
	}
	if cfg.Rooms != nil {
		s.wg.Add(1)
		go s.fanout()
		s.nudgeFanout()
	}
	return s, nil
}

// queuedDestinations lists the destinations with a non-empty queue,
// reading one key per destination.
func queuedDestinations(tx persist.Tx) ([]string, error) {
	var out []string
	start := []byte(prefixQueue)
	for {
		it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefixQueue), Start: start, KeysOnly: true})
		found := it.Next()
		var key []byte
		if found {
			key = it.Key()
		}
		err := it.Err()
		it.Close()
		if err != nil {
			return nil, err
		}
		if !found {
			return out, nil
		}
		d, err := destOf(key)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
		start = persist.PrefixEnd(queuePrefix(d))
	}
}

// Close stops the sender and waits for its goroutines. Queued entries
// stay in the store for the next New.
func (s *Sender) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// next returns a fresh sequence number (queue entries, transaction IDs),
// never handed out before, even across restarts.
func (s *Sender) next(ctx context.Context) (uint64, error) {
	s.counterMu.Lock()
	defer s.counterMu.Unlock()
	if s.counter >= s.reserved {
		limit := s.reserved + counterBlock
		err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
			return tx.Set([]byte(keyCounter), binary.BigEndian.AppendUint64(nil, limit))
		})
		if err != nil {
			return 0, fmt.Errorf("fedsender: reserve sequence numbers: %w", err)
		}
		s.reserved = limit
	}
	s.counter++
	return s.counter, nil
}

// durableEDU reports whether an EDU type must survive a restart.
func durableEDU(typ string) bool {
	switch typ {
	case "m.direct_to_device", "m.device_list_update", "m.signing_key_update":
		return true
	}
	return false
}

// filterDests drops this server and duplicates.
func (s *Sender) filterDests(destinations []string) []string {
	out := make([]string, 0, len(destinations))
	seen := make(map[string]bool, len(destinations))
	for _, d := range destinations {
		if d == "" || d == s.cfg.ServerName || seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// enqueue stores raw under each destination's queue in one transaction
// and wakes the destinations.
func (s *Sender) enqueue(ctx context.Context, kind byte, raw []byte, destinations []string) error {
	if len(destinations) == 0 {
		return nil
	}
	value := append([]byte{kind}, raw...)
	keys := make([][]byte, len(destinations))
	for i, d := range destinations {
		seq, err := s.next(ctx)
		if err != nil {
			return err
		}
		keys[i] = queueKey(d, seq)
	}
	err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		for _, k := range keys {
			if err := tx.Set(k, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fedsender: enqueue: %w", err)
	}
	for _, d := range destinations {
		s.wake(d)
	}
	return nil
}

// SendPDU queues pdu durably for destinations (this server is skipped)
// and returns once it is stored.
func (s *Sender) SendPDU(ctx context.Context, pdu *event.PDU, destinations []string) error {
	return s.enqueue(ctx, kindPDU, pdu.JSON(), s.filterDests(destinations))
}

// SendEDU queues an EDU ({"edu_type", "content"}) for destinations. To-device
// messages, device list updates and signing key updates are stored durably
// before it returns; other EDUs are kept in memory.
func (s *Sender) SendEDU(ctx context.Context, edu json.RawMessage, destinations []string) error {
	var head struct {
		Type string `json:"edu_type"`
	}
	if err := json.Unmarshal(edu, &head); err != nil || head.Type == "" {
		return fmt.Errorf("fedsender: EDU without edu_type")
	}
	dests := s.filterDests(destinations)
	if durableEDU(head.Type) {
		return s.enqueue(ctx, kindEDU, edu, dests)
	}
	raw := append(json.RawMessage(nil), edu...)
	s.mu.Lock()
	for _, name := range dests {
		d := s.dest(name)
		if len(d.edus) >= s.cfg.MaxMemoryEDUs {
			d.edus = d.edus[1:]
			d.dropped++
		}
		d.edus = append(d.edus, raw)
	}
	s.mu.Unlock()
	for _, d := range dests {
		s.wake(d)
	}
	return nil
}

// PeerSeen tells the sender that server just reached us, so it is up: its
// backoff is reset and its queue retried now. It is cheap, for every
// authenticated federation request.
func (s *Sender) PeerSeen(server string) {
	s.mu.Lock()
	d := s.dests[server]
	if d == nil || d.backoff == 0 && d.retryAt.IsZero() {
		s.mu.Unlock()
		return
	}
	d.backoff, d.retryAt = 0, time.Time{}
	d.gen++
	s.mu.Unlock()
	s.wake(server)
}

// Backoff returns the destination's current backoff and when it is next
// retried (zero when it is not backing off), for status pages and tests.
func (s *Sender) Backoff(server string) (time.Duration, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dests[server]; d != nil {
		return d.backoff, d.retryAt
	}
	return 0, time.Time{}
}

// dest returns the destination's state, creating it; the caller holds mu.
func (s *Sender) dest(name string) *destination {
	d := s.dests[name]
	if d == nil {
		d = &destination{name: name}
		s.dests[name] = d
	}
	return d
}

// txnID returns a transaction ID never used before.
func (s *Sender) txnID(ctx context.Context) (string, error) {
	n, err := s.next(ctx)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(n, 10), nil
}
