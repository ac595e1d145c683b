// Package room keeps the rooms' event graphs: it builds and signs local
// events, accepts remote ones after the spec's checks on receipt, and
// answers what the state of a room was at any event.
//
// Every room's writes are serialised by a per-room lock, and every accepted
// event is durable when the call that accepted it returns. The data lives
// in a persist.Store under the key layout documented in keys.go.
package room

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"hearth/core/event"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/core/streampos"
	"hearth/persist"
)

// Config is what a DAG needs from its surroundings. Clock and randomness
// are handed in so that the package stays deterministic under test and
// runs unchanged in a browser.
type Config struct {
	// ServerName is this server's name; local events are signed for it.
	ServerName string
	// Key signs local events.
	Key signing.Key
	// Store holds the rooms.
	Store persist.Store
	// Now returns the current time.
	Now func() time.Time
	// Rand supplies randomness for room IDs and old-style event IDs.
	Rand io.Reader
	// Keys looks up other servers' signing keys to verify remote events.
	Keys event.KeyLookup
	// OnAccepted, when set, is called after each event that becomes part
	// of a room's timeline is durable, in the room's order: it is called
	// with the room's write lock held, so it must be quick and must not
	// add events to the same room. Sync uses it to wake waiting clients
	// and federation to queue the event for other servers.
	OnAccepted func(Added)
	// Index, when set, runs inside the transaction that stores each
	// timeline event, so that indexes kept by other packages (relations,
	// threads) are written atomically with the event and cost no commit
	// of their own. It must only write keys of its own prefix; an error
	// aborts the event.
	Index func(tx persist.Tx, a Added) error
	// Countersign, when set, sees each local event Send built and
	// authorised, with the room's state before it, before the event is
	// stored, and returns the event to store: the same one, or the same
	// event (same ID) with more signatures, such as an invite signed by the
	// invitee's server, which federation asks for first. It runs with the
	// room's writes held, so anything slow in it delays the room; an error
	// fails that send and stores nothing for it.
	Countersign func(ctx context.Context, pdu *event.PDU, before State) (*event.PDU, error)
}

// Added describes an event that was just added to a room's timeline.
type Added struct {
	Event *event.PDU
	// Pos is the event's stream position.
	Pos uint64
	// State is the room's state after the event, when the writer knows
	// it (Config.Index and Config.OnAccepted get it for every event
	// written with its state before it); nil when it is not at hand.
	State State
}

// DAG is the set of rooms this server takes part in.
type DAG struct {
	cfg    Config
	stream *streampos.Stream
	// streamTop is the last room/streamtop known to be stored.
	streamTop atomic.Uint64
	groups    *groups
	events    *pduCache

	mu    sync.Mutex
	rooms map[string]*roomEntry
}

// roomEntry is the in-memory side of one room.
//
// write serialises the room's writers (a batch of local sends, a remote
// event, an import) for the whole of a write, its commit included. mu
// guards only the published metadata and the queue of local sends, and is
// held briefly, so readers never wait for a commit.
type roomEntry struct {
	write sync.Mutex

	mu      sync.Mutex
	meta    *roomMeta // nil until loaded; replaced, never changed, by writers
	queue   []*pendingSend
	sending bool // a goroutine is writing the queue
	tail    tail // the newest timeline entries (tail.go)
	// stored is the LastPos of the newest metadata stored: later local
	// sends may leave theirs unstored (see metaEvery).
	stored uint64
}

// metaEvery bounds how far a room's stored metadata may fall behind: a
// commit whose changes to it are all advances (roomMeta.advance) leaves it
// unstored unless its LastPos is this many stream positions past the
// stored one. Start-up then reads at most this many positions of the
// room's timeline to work it out again. Every commit that stores it saves
// a key write per message; a busy room stores it every few hundred
// messages.
const metaEvery = 256

func (e *roomEntry) storedPos() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stored
}

func (e *roomEntry) setStoredPos(pos uint64) {
	e.mu.Lock()
	e.stored = pos
	e.mu.Unlock()
}

// roomMeta is a room's stored summary. A new field needs a place in
// roomMeta.equal (TestRoomMetaEqualCoversEveryField checks) and, if a send
// changes it, in roomMeta.advance.
type roomMeta struct {
	Version     string   `json:"v"`
	CreateID    string   `json:"c"`
	Extremities []string `json:"fx"`
	Group       uint64   `json:"g"` // current state
	Depth       int64    `json:"d"` // greatest depth of an accepted event
	LastPos     uint64   `json:"p"` // stream position of the latest timeline event
}

// Errors callers act on.
var (
	// ErrUnknownRoom means the server has no such room.
	ErrUnknownRoom = errors.New("room: unknown room")
	// ErrUnknownEvent means the server has no such event.
	ErrUnknownEvent = errors.New("room: unknown event")
	// ErrNotAllowed wraps auth failures of local events: nothing was
	// stored.
	ErrNotAllowed = errors.New("room: event not allowed")
)

// MissingEventsError reports events that must be fetched before an event
// can be accepted: its prev events (fetch with get_missing_events or
// state_ids) or its auth events (fetch with event_auth).
type MissingEventsError struct {
	Prev []string
	Auth []string
}

func (e *MissingEventsError) Error() string {
	return fmt.Sprintf("room: missing %d prev and %d auth events", len(e.Prev), len(e.Auth))
}

// New opens the DAG over cfg.Store, reading where the stream and the state
// groups left off.
func New(ctx context.Context, cfg Config) (*DAG, error) {
	if cfg.Store == nil || cfg.Now == nil || cfg.Rand == nil || cfg.ServerName == "" {
		return nil, errors.New("room: Config needs Store, Now, Rand and ServerName")
	}
	var lastPos, top, lastGroup uint64
	err := cfg.Store.View(ctx, func(tx persist.Tx) error {
		var err error
		if lastPos, err = lastUint64(tx, prefixStream); err != nil {
			return err
		}
		if top, err = persist.GetUint64(tx, streamTopKey); err != nil {
			return err
		}
		lastGroup, err = lastUint64(tx, prefixGroup)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("room: open: %w", err)
	}
	d := &DAG{
		cfg:    cfg,
		stream: streampos.New(max(lastPos, top)),
		groups: newGroups(lastGroup),
		events: newPDUCache(4096),
		rooms:  make(map[string]*roomEntry),
	}
	d.streamTop.Store(top)
	return d, nil
}

// streamBlock is how far room/streamtop is raised at a time: a restart
// skips at most this many stream positions, and the key is written once
// per this many events rather than once per event.
const streamBlock = 4096

// raiseStreamTop makes sure, inside tx, that the stored room/streamtop is
// above pos, raising it by a block when it is not. It returns the stored
// value, which the caller records in d.streamTop once tx is durable, or 0
// if it wrote nothing.
func (d *DAG) raiseStreamTop(tx persist.Tx, pos uint64) (uint64, error) {
	if pos < d.streamTop.Load() {
		return 0, nil
	}
	top, err := persist.GetUint64(tx, streamTopKey)
	if err != nil {
		return 0, err
	}
	if pos < top { // raised by a transaction since
		return top, nil
	}
	top = pos + streamBlock
	if err := tx.Set(streamTopKey, binary.BigEndian.AppendUint64(nil, top)); err != nil {
		return 0, fmt.Errorf("room: store stream top: %w", err)
	}
	return top, nil
}

// noteStreamTop records a stored room/streamtop.
func (d *DAG) noteStreamTop(top uint64) {
	for {
		cur := d.streamTop.Load()
		if top <= cur || d.streamTop.CompareAndSwap(cur, top) {
			return
		}
	}
}

// lastUint64 returns the big-endian number that ends the last key under
// prefix, or 0 when there is none.
func lastUint64(tx persist.Tx, prefix string) (uint64, error) {
	it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefix), Reverse: true, KeysOnly: true})
	defer it.Close()
	if it.Next() {
		if k := it.Key(); len(k) >= len(prefix)+8 {
			return binary.BigEndian.Uint64(k[len(prefix) : len(prefix)+8]), nil
		}
		return 0, fmt.Errorf("%w: key %q too short", errCorrupt, it.Key())
	}
	return 0, it.Err()
}

func (d *DAG) entry(roomID string) *roomEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.rooms[roomID]
	if !ok {
		e = &roomEntry{}
		d.rooms[roomID] = e
	}
	return e
}

// meta returns the room's published metadata, reading it from the store
// the first time. The result must not be modified.
func (d *DAG) meta(ctx context.Context, roomID string, e *roomEntry) (*roomMeta, error) {
	e.mu.Lock()
	m := e.meta
	e.mu.Unlock()
	if m != nil {
		return m, nil
	}
	var stored, current roomMeta
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get(metaKey(roomID))
		if errors.Is(err, persist.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrUnknownRoom, roomID)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &stored); err != nil {
			return fmt.Errorf("room: metadata of %s: %w", roomID, err)
		}
		current, err = d.advanceMeta(tx, roomID, stored)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta == nil {
		e.meta, e.stored = &current, stored.LastPos
		if !e.tail.known {
			// The snapshot holds no timeline entry above LastPos.
			e.tail.start(current.LastPos)
		}
	}
	return e.meta, nil
}

// advanceMeta returns the room's metadata: m, stored, advanced by the
// timeline events after it whose records say they advance it (local sends
// whose commits left the metadata unstored).
func (d *DAG) advanceMeta(tx persist.Tx, roomID string, m roomMeta) (roomMeta, error) {
	it := tx.Iterate(persist.IterOptions{Prefix: timelinePrefix(roomID), Start: timelineKey(roomID, m.LastPos+1)})
	defer it.Close()
	for it.Next() {
		key := it.Key()
		pos := binary.BigEndian.Uint64(key[len(key)-8:])
		ce, err := d.load(tx, string(it.Value()))
		if err != nil {
			return roomMeta{}, fmt.Errorf("room: metadata of %s after %d: %w", roomID, m.LastPos, err)
		}
		if ce.rec.advances && ce.rec.pos == pos {
			m = m.advance(ce.pdu, pos, ce.rec.group)
		}
	}
	if err := it.Err(); err != nil {
		return roomMeta{}, fmt.Errorf("room: metadata of %s: %w", roomID, err)
	}
	return m, nil
}

// publish makes m the room's metadata.
func (e *roomEntry) publish(m *roomMeta) {
	e.mu.Lock()
	e.meta = m
	e.mu.Unlock()
}

// Position returns the stream position up to which every event is
// durable and visible, and a channel closed when it next moves. Long-polling
// sync waits on the channel.
func (d *DAG) Position() (uint64, <-chan struct{}) { return d.stream.Position() }

// Version returns the room version of a room.
func (d *DAG) Version(ctx context.Context, roomID string) (*roomversion.Version, error) {
	m, err := d.meta(ctx, roomID, d.entry(roomID))
	if err != nil {
		return nil, err
	}
	return lookupVersion(m.Version)
}

func lookupVersion(id string) (*roomversion.Version, error) {
	v, ok := roomversion.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("room: unsupported room version %q", id)
	}
	return v, nil
}

// Extremities returns the room's forward extremities.
func (d *DAG) Extremities(ctx context.Context, roomID string) ([]string, error) {
	m, err := d.meta(ctx, roomID, d.entry(roomID))
	if err != nil {
		return nil, err
	}
	return append([]string(nil), m.Extremities...), nil
}
