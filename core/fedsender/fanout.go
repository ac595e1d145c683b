package fedsender

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"hearth/core/event"
	"hearth/core/mxid"
	"hearth/core/room"
	"hearth/persist"
)

// Rooms is what the sender reads of the room DAG; *room.DAG implements it.
type Rooms interface {
	Event(ctx context.Context, id string) (*event.PDU, error)
	StateAfter(ctx context.Context, eventID string) (room.State, error)
	CurrentState(ctx context.Context, roomID string) (room.State, error)
	StateEvents(ctx context.Context, s room.State) (map[event.StateKey]*event.PDU, error)
	LastPos(ctx context.Context, roomID string) (uint64, error)
}

// fanoutBatch bounds the local events queued in one transaction.
const fanoutBatch = 64

// ServerOf returns the server name of a user ID ("@u:server" -> "server"),
// "" when it has none.
func ServerOf(userID string) string { return mxid.ServerOf(userID) }

// Index is room.Config.Index's part for federation: inside the transaction
// that stores a timeline event, it records a local event (sent by one of
// this server's users) for the fan-out, so that it reaches the room's other
// servers even if the server stops right after the commit. Remote events
// are left alone, and so are events of a room whose state after them (when
// a.State has it) names no other server's user at all: nobody would get
// them, and a record would cost the fan-out a walk, a load and a delete.
// Call Accepted after the commit to start the fan-out.
func (s *Sender) Index(tx persist.Tx, a room.Added) error {
	if !s.records(a) {
		return nil
	}
	return tx.Set(inKey(a.Pos), []byte(a.Event.ID()))
}

// records reports whether Index records a for the fan-out.
func (s *Sender) records(a room.Added) bool {
	if ServerOf(a.Event.Sender()) != s.cfg.ServerName {
		return false
	}
	return a.State == nil || s.namesOtherServer(a.State)
}

// namesOtherServer reports whether a room state has a membership (of any
// kind) of a user of another server. Only such a room can have servers to
// send to: joined ones, or one whose user just left or was banned.
func (s *Sender) namesOtherServer(state room.State) bool {
	for k := range state {
		if k.Type == "m.room.member" {
			if srv := ServerOf(k.StateKey); srv != "" && srv != s.cfg.ServerName {
				return true
			}
		}
	}
	return false
}

// Accepted is room.Config.OnAccepted's part for federation: it wakes the
// fan-out without waiting, so it is safe under the room's lock, for the
// events Index recorded; for others a wake would only walk an empty range.
func (s *Sender) Accepted(a room.Added) {
	if s.records(a) {
		s.nudgeFanout()
	}
}

func (s *Sender) nudgeFanout() {
	select {
	case s.fanoutWake <- struct{}{}:
	default:
	}
}

// fanout queues the recorded local events for their rooms' servers, in
// stream order, until the sender closes.
func (s *Sender) fanout() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.fanoutWake:
		}
		for {
			n, err := s.fanoutOnce(s.ctx)
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				s.log.Error("federation fan-out failed", "err", err)
				s.cfg.AfterFunc(s.cfg.MinBackoff, s.nudgeFanout)
				break
			}
			if n < fanoutBatch {
				break
			}
		}
	}
}

// positioner is the part of *room.DAG that gives the watermark of its
// stream positions.
type positioner interface {
	Position() (uint64, <-chan struct{})
}

// fanoutOnce queues up to fanoutBatch recorded events and returns how many
// it handled.
func (s *Sender) fanoutOnce(ctx context.Context) (int, error) {
	type pending struct {
		key []byte
		id  string
	}
	var todo []pending
	// Each recorded event is deleted once queued, and a log-structured store
	// (badger) keeps deleted keys as tombstones that a walk from the start
	// of the range passes one by one: under load that walk was a tenth of
	// the server's CPU. So the walk starts at s.fanoutFrom, below which
	// every recorded event has been handled. Positions commit out of order,
	// so it only moves up to the rooms' watermark, read before the walk:
	// every position up to it has committed (or failed) and so is visible.
	watermark, cursor := uint64(0), false
	if p, ok := s.cfg.Rooms.(positioner); ok {
		watermark, _ = p.Position()
		cursor = true
	}
	from := s.fanoutFrom
	err := s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		todo = todo[:0]
		it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefixIn), Start: inKey(from)})
		defer it.Close()
		for len(todo) < fanoutBatch && it.Next() {
			todo = append(todo, pending{it.Key(), string(it.Value())})
		}
		return it.Err()
	})
	if err != nil {
		return 0, err
	}
	// next is where the following walk may start: past the watermark when
	// this walk saw the whole range, else past the last event it took.
	next := from
	if cursor {
		upTo := watermark
		if len(todo) == fanoutBatch {
			upTo = min(upTo, binary.BigEndian.Uint64(todo[len(todo)-1].key[len(prefixIn):]))
		}
		next = max(from, upTo+1)
	}
	if len(todo) == 0 {
		s.fanoutFrom = next
		return 0, nil
	}
	type write struct {
		key, value []byte
	}
	var writes []write
	woken := map[string]bool{}
	for _, p := range todo {
		pdu, err := s.cfg.Rooms.Event(ctx, p.id)
		if err != nil {
			return 0, fmt.Errorf("fedsender: load event %s: %w", p.id, err)
		}
		dests, err := s.eventDestinations(ctx, pdu)
		if err != nil {
			return 0, err
		}
		value := append([]byte{kindPDU}, pdu.JSON()...)
		for _, d := range dests {
			seq, err := s.next(ctx)
			if err != nil {
				return 0, err
			}
			writes = append(writes, write{queueKey(d, seq), value})
			woken[d] = true
		}
	}
	err = s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		for _, w := range writes {
			if err := tx.Set(w.key, w.value); err != nil {
				return err
			}
		}
		for _, p := range todo {
			if err := tx.Delete(p.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fedsender: queue local events: %w", err)
	}
	s.fanoutFrom = next
	for d := range woken {
		s.wake(d)
	}
	return len(todo), nil
}

// eventDestinations returns the servers a local event goes to: those with
// members joined to the room after it, and for a kick or ban the target's
// server, which has none left.
func (s *Sender) eventDestinations(ctx context.Context, pdu *event.PDU) ([]string, error) {
	state, err := s.cfg.Rooms.StateAfter(ctx, pdu.ID())
	if err != nil {
		return nil, fmt.Errorf("fedsender: state after %s: %w", pdu.ID(), err)
	}
	servers, err := s.joinedServers(ctx, state)
	if err != nil {
		return nil, err
	}
	if k, ok := pdu.StateKey(); ok && pdu.Type() == "m.room.member" {
		if m := pdu.Membership(); m == "leave" || m == "ban" {
			if srv := ServerOf(k); srv != "" && srv != s.cfg.ServerName && !slices.Contains(servers, srv) {
				servers = append(servers, srv)
			}
		}
	}
	return servers, nil
}

// roomServers is a room's servers as of its last position.
type roomServers struct {
	pos     uint64
	servers []string
}

// maxCachedRooms bounds the rooms whose servers Destinations keeps.
const maxCachedRooms = 4096

// Destinations returns the servers with members joined to the room in its
// current state, sorted, without this server: where the room's EDUs go. It
// is cached per room until the room's timeline moves. It needs
// Config.Rooms.
func (s *Sender) Destinations(ctx context.Context, roomID string) ([]string, error) {
	if s.cfg.Rooms == nil {
		return nil, errors.New("fedsender: Destinations needs Config.Rooms")
	}
	pos, err := s.cfg.Rooms.LastPos(ctx, roomID)
	if err != nil {
		return nil, err
	}
	s.roomCacheMu.Lock()
	c, ok := s.roomCache[roomID]
	s.roomCacheMu.Unlock()
	if ok && c.pos == pos {
		return slices.Clip(c.servers), nil
	}
	state, err := s.cfg.Rooms.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	servers, err := s.joinedServers(ctx, state)
	if err != nil {
		return nil, err
	}
	s.roomCacheMu.Lock()
	if len(s.roomCache) >= maxCachedRooms {
		clear(s.roomCache)
	}
	s.roomCache[roomID] = roomServers{pos: pos, servers: servers}
	s.roomCacheMu.Unlock()
	return slices.Clip(servers), nil
}

// joinedServers returns the servers, other than this one, of the members
// joined in state, sorted.
func (s *Sender) joinedServers(ctx context.Context, state room.State) ([]string, error) {
	set := map[string]bool{}
	missing := room.State{}
	for k, id := range state {
		if k.Type != "m.room.member" {
			continue
		}
		srv := ServerOf(k.StateKey)
		if srv == "" || srv == s.cfg.ServerName || set[srv] {
			continue
		}
		joined, ok := s.members.get(id)
		if !ok {
			missing[k] = id
			continue
		}
		if joined {
			set[srv] = true
		}
	}
	if len(missing) > 0 {
		evs, err := s.cfg.Rooms.StateEvents(ctx, missing)
		if err != nil {
			return nil, fmt.Errorf("fedsender: member events: %w", err)
		}
		for k, ev := range evs {
			joined := ev.Membership() == "join"
			s.members.put(ev.ID(), joined)
			if joined {
				set[ServerOf(k.StateKey)] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for srv := range set {
		out = append(out, srv)
	}
	slices.Sort(out)
	return out, nil
}

// memberCache remembers whether member events are joins: events never
// change, so entries never go stale.
type memberCache struct {
	mu     sync.Mutex
	joined map[string]bool
}

const maxCachedMembers = 1 << 16

func newMemberCache() *memberCache { return &memberCache{joined: make(map[string]bool)} }

func (c *memberCache) get(id string) (joined, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	joined, ok = c.joined[id]
	return joined, ok
}

func (c *memberCache) put(id string, joined bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.joined) >= maxCachedMembers {
		clear(c.joined)
	}
	c.joined[id] = joined
}

var _ Rooms = (*room.DAG)(nil)
