package notifications

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"hearth/core/room"
	"hearth/persist"
)

// hit is one unread notification.
type hit struct {
	pos       uint64
	thread    string
	highlight bool
}

// readState is what walking one user's room found: how far the user has
// read and what is unread. mu guards every field but accounted, which
// belongs to the cache.
type readState struct {
	mu sync.Mutex
	// loaded is set once the walk's start is known; gen is the cache
	// generation under which markers were last read.
	loaded bool
	gen    uint64
	// walked is the position up to which every event is accounted for.
	walked uint64
	readMarks
	// unread are the notifications not read, oldest first; highlights
	// counts those that highlight.
	unread     []hit
	highlights int

	accounted int
}

// readMarks is what tells whether the user has read an event.
type readMarks struct {
	// floor is the position up to which every event counts as read:
	// where the walk started, or a stored floor.
	floor uint64
	// markers are the stored read markers by thread, "" unthreaded.
	markers map[string]uint64
	// own is the position of the user's latest event per thread, among
	// those walked.
	own map[string]uint64
}

// read reports whether the user has read an event at pos in thread.
func (st *readMarks) read(pos uint64, thread string) bool {
	return pos <= st.floor || pos <= st.markers[""] || pos <= st.markers[thread] || pos <= st.own[thread]
}

// dropRead drops the unread notifications that are now read.
func (st *readState) dropRead() {
	st.unread = slices.DeleteFunc(st.unread, func(h hit) bool { return st.read(h.pos, h.thread) })
	st.highlights = 0
	for _, h := range st.unread {
		if h.highlight {
			st.highlights++
		}
	}
}

// apply accounts for the event at pos, walked forward, that meant v,
// keeping at most maxUnread notifications.
func (st *readState) apply(pos uint64, v verdict, maxUnread int) {
	st.walked = max(st.walked, pos)
	switch {
	case v.own:
		// Sending an event reads its thread up to it, as the spec's
		// "Marking notifications as read" says.
		st.own[v.thread] = pos
		st.dropRead()
	case v.notifies() && !st.read(pos, v.thread):
		st.unread = append(st.unread, hit{pos: pos, thread: v.thread, highlight: v.highlight})
		if v.highlight {
			st.highlights++
		}
		if len(st.unread) > maxUnread {
			// Only the newest notifications count: the oldest one
			// now counts as read, and so does everything before it.
			st.floor = st.unread[0].pos
			if st.unread[0].highlight {
				st.highlights--
			}
			st.unread = st.unread[1:]
		}
	}
}

// floorWith returns the position up to which the user has read
// everything, as far as st knows, once their marker for thread is at pos.
func (st *readState) floorWith(thread string, pos uint64) uint64 {
	for _, h := range st.unread {
		if !(h.pos <= pos && (thread == "" || thread == h.thread)) {
			return h.pos - 1
		}
	}
	return st.walked
}

// Counts returns the user's unread notifications and highlights in a room,
// for the unread_notifications of /sync: notifications the user has not
// read past with a receipt or an event of their own. It evaluates the
// events up to the room's position at the call, so an event and its count
// appear in the same /sync response; it only evaluates the events that
// arrived since the user's previous call, when that is still cached.
func (s *Service) Counts(ctx context.Context, userID, roomID string) (notifications, highlights int, err error) {
	err = s.withReadState(ctx, userID, roomID, func(st *readState) {
		notifications, highlights = len(st.unread), st.highlights
	})
	if err != nil {
		return 0, 0, fmt.Errorf("notifications: counts of %s in %s: %w", userID, roomID, err)
	}
	return notifications, highlights, nil
}

// withReadState calls fn with the user's read state in the room, with its
// lock held, once it has read the current markers and walked up to the
// room's latest event.
func (s *Service) withReadState(ctx context.Context, userID, roomID string, fn func(*readState)) error {
	key := userRoom{userID, roomID}
	st := s.unread.get(key)
	st.mu.Lock()
	defer st.mu.Unlock()
	if gen := s.unread.generation(key); !st.loaded || st.gen != gen {
		if err := s.loadMarkers(ctx, userID, roomID, st); err != nil {
			return err
		}
		st.gen = gen
	}
	last, err := s.cfg.Rooms.LastPos(ctx, roomID)
	if err != nil {
		return err
	}
	if last > st.walked {
		err := s.walk(ctx, userID, roomID, st)
		s.unread.resize(key, st, len(st.unread))
		if err != nil {
			return err
		}
	}
	fn(st)
	return nil
}

// loadMarkers reads the user's markers and floor in the room into st.
// The first time, it also places the walk's start: at the floor, the
// unthreaded marker, or the user's latest membership event, whichever is
// latest. That event is their own: it reads the main timeline before it,
// and the user was not joined before they joined.
func (s *Service) loadMarkers(ctx context.Context, userID, roomID string, st *readState) error {
	var floor uint64
	err := s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		var err error
		if st.markers, err = readMarkers(tx, userID, roomID); err != nil {
			return err
		}
		floor, err = getUint64(tx, floorKey(userID, roomID))
		return err
	})
	if err != nil {
		return err
	}
	st.floor = max(st.floor, floor)
	if st.loaded {
		st.dropRead()
		return nil
	}
	m, err := s.cfg.Rooms.MembershipOf(ctx, userID, roomID)
	if err != nil {
		return err
	}
	if m.Pos > 0 {
		st.floor = max(st.floor, m.Pos-1)
	}
	st.floor = max(st.floor, st.markers[""])
	st.walked, st.own, st.loaded = st.floor, make(map[string]uint64), true
	return nil
}

// Walk page sizes: a walk usually meets a few new events; a long one
// reads larger pages.
const (
	firstPage = 64
	maxPage   = 1024
)

// walk evaluates the room's events after st.walked for the user, oldest
// first, at most Config.MaxWalk of them: when more arrived, it forgets
// what it knew and starts MaxWalk events before the end.
func (s *Service) walk(ctx context.Context, userID, roomID string, st *readState) error {
	// The newest events first, down to the walked position, so that a
	// long gap costs MaxWalk events and no more.
	var evs []room.TimelineEvent
	var from uint64
	page := firstPage
	for len(evs) <= s.cfg.MaxWalk {
		limit := min(page, s.cfg.MaxWalk+1-len(evs))
		got, err := s.cfg.Rooms.Timeline(ctx, roomID, from, st.walked+1, true, limit)
		if err != nil {
			return err
		}
		evs = append(evs, got...)
		if len(got) < limit || len(evs) > s.cfg.MaxWalk {
			break
		}
		from = got[len(got)-1].Pos
		page = min(page*4, maxPage)
	}
	if len(evs) > s.cfg.MaxWalk {
		evs = evs[:s.cfg.MaxWalk]
		oldest := evs[len(evs)-1].Pos
		st.walked, st.floor = oldest-1, oldest-1
		st.own, st.unread, st.highlights = make(map[string]uint64), st.unread[:0], 0
	}
	for i := len(evs) - 1; i >= 0; i-- {
		te := evs[i]
		v, err := s.evaluate(ctx, userID, te.Event)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.cfg.Logf("notifications: skipping an event for %s: %v", userID, err)
		}
		st.apply(te.Pos, v, s.cfg.MaxWalk)
	}
	return nil
}

// MarkRead records that the user has read the room up to the event at
// stream position pos: thread is "" for an unthreaded receipt, which
// covers every thread, MainThread or a thread root's event ID for a
// threaded one. Notifications up to and including the event stop counting
// as unread. A marker behind the current one changes nothing, so m.read and
// m.read.private may both call it: the one further ahead wins. The receipts
// code calls it before storing an m.read or m.read.private receipt.
//
// When the user's read state in the room is cached, MarkRead also stores
// the floor below which everything is then read, so that a walk with
// nothing cached starts there rather than at an old unthreaded marker.
func (s *Service) MarkRead(ctx context.Context, userID, roomID, thread string, pos uint64) error {
	key := userRoom{userID, roomID}
	var floor uint64
	if st := s.unread.peek(key); st != nil {
		st.mu.Lock()
		if st.loaded {
			floor = st.floorWith(thread, pos)
		}
		st.mu.Unlock()
	}
	var moved bool
	err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		moved = false
		old, err := getUint64(tx, readKey(userID, roomID, thread))
		if err != nil || pos <= old {
			return err
		}
		moved = true
		if err := tx.Set(readKey(userID, roomID, thread), binary.BigEndian.AppendUint64(nil, pos)); err != nil {
			return err
		}
		unthreaded := pos
		if thread != "" {
			if unthreaded, err = getUint64(tx, readKey(userID, roomID, "")); err != nil {
				return err
			}
		} else if err := dropMarkersUpTo(tx, userID, roomID, pos); err != nil {
			// Thread markers it passes no longer mean anything.
			return err
		}
		stored, err := getUint64(tx, floorKey(userID, roomID))
		if err != nil || floor <= stored || floor <= unthreaded {
			return err
		}
		return tx.Set(floorKey(userID, roomID), binary.BigEndian.AppendUint64(nil, floor))
	})
	if moved {
		s.unread.bump(key)
	}
	if err != nil {
		return fmt.Errorf("notifications: mark read: %w", err)
	}
	return nil
}

// readMarkers reads the user's read markers in a room, by thread.
func readMarkers(tx persist.Tx, userID, roomID string) (map[string]uint64, error) {
	markers := make(map[string]uint64)
	prefix := readPrefix(userID, roomID)
	it := tx.Iterate(persist.IterOptions{Prefix: prefix})
	defer it.Close()
	for it.Next() {
		p, err := uint64Value(it.Value())
		if err != nil {
			return nil, err
		}
		markers[string(it.Key()[len(prefix):])] = p
	}
	return markers, it.Err()
}

// dropMarkersUpTo deletes the user's thread markers in a room at or
// before pos.
func dropMarkersUpTo(tx persist.Tx, userID, roomID string, pos uint64) error {
	markers, err := readMarkers(tx, userID, roomID)
	if err != nil {
		return err
	}
	for t, p := range markers {
		if t != "" && p <= pos {
			if err := tx.Delete(readKey(userID, roomID, t)); err != nil {
				return err
			}
		}
	}
	return nil
}

// getUint64 reads a value of one big-endian number, 0 when absent.
func getUint64(tx persist.Tx, key []byte) (uint64, error) {
	raw, err := tx.Get(key)
	if errors.Is(err, persist.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return uint64Value(raw)
}
