package notifications

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"hearth/persist"
)

// readState is one (user, room)'s unread state within one transaction:
// read from the store at most once, changed in memory in event order, and
// written back once by txState.flush.
type readState struct {
	user, room string
	// markers are the read markers loaded so far: a few at most, the
	// unthreaded one and those of the threads seen.
	markers []readMarker
	// moved is set when this transaction moved a marker; minOld bounds
	// the positions of the stored entries the moves read from below.
	moved  bool
	minOld uint64
	// n and h are the unread counts once countsLoaded; countsChanged
	// when they need writing.
	countsLoaded, countsChanged bool
	n, h                        int64
	// added are the entries this transaction adds that are still unread.
	added []unreadEntry
}

// readMarker is one read marker of a readState.
type readMarker struct {
	thread    string
	pos, orig uint64 // now, and as stored before the transaction
	moved     bool   // by this transaction
}

func (st *readState) find(thread string) *readMarker {
	for i := range st.markers {
		if st.markers[i].thread == thread {
			return &st.markers[i]
		}
	}
	return nil
}

// isRead reports whether an entry unread before the transaction is read
// by the markers it moved: markers it did not move cannot read it.
func (st *readState) isRead(e unreadEntry) bool {
	for _, m := range st.markers {
		if m.moved && e.pos <= m.pos && (m.thread == "" || m.thread == e.thread) {
			return true
		}
	}
	return false
}

// txState is the unread state a transaction changes, by (user, room).
// The evaluator applies a whole batch of events to one, and MarkRead a
// single receipt, so that the logic exists once.
type txState struct {
	tx    persist.Tx
	rooms map[userRoom]*readState
	order []*readState // in the order first touched, so writes are deterministic
}

type userRoom struct{ user, room string }

func newTxState(tx persist.Tx) *txState {
	return &txState{tx: tx, rooms: make(map[userRoom]*readState)}
}

func (t *txState) state(userID, roomID string) *readState {
	k := userRoom{userID, roomID}
	st := t.rooms[k]
	if st == nil {
		st = &readState{user: userID, room: roomID}
		t.rooms[k] = st
		t.order = append(t.order, st)
	}
	return st
}

// marker returns the user's read marker for a thread, loading it once.
func (t *txState) marker(st *readState, thread string) (uint64, error) {
	if m := st.find(thread); m != nil {
		return m.pos, nil
	}
	raw, err := getOptional(t.tx, readKey(st.user, st.room, thread))
	if err != nil {
		return 0, err
	}
	p, err := uint64Value(raw)
	if err != nil {
		return 0, err
	}
	st.markers = append(st.markers, readMarker{thread: thread, pos: p, orig: p})
	return p, nil
}

// addCounts adds to the user's counts in the room, loading them once.
func (t *txState) addCounts(st *readState, dn, dh int64) error {
	if !st.countsLoaded {
		n, h, err := counts(t.tx, st.user, st.room)
		if err != nil {
			return err
		}
		st.n, st.h, st.countsLoaded = n, h, true
	}
	st.n, st.h = max(st.n+dn, 0), max(st.h+dh, 0)
	st.countsChanged = true
	return nil
}

func highlights(e unreadEntry) int64 {
	if e.highlight {
		return 1
	}
	return 0
}

// notify records a notification for the user at pos in the room's
// thread, as unread unless the user has read past it.
func (t *txState) notify(userID, roomID, thread string, pos uint64, highlight bool) error {
	st := t.state(userID, roomID)
	read, err := t.marker(st, "")
	if err != nil {
		return err
	}
	if thread != "" {
		p, err := t.marker(st, thread)
		if err != nil {
			return err
		}
		read = max(read, p)
	}
	if pos <= read {
		return nil
	}
	e := unreadEntry{pos: pos, thread: thread, highlight: highlight}
	st.added = append(st.added, e)
	return t.addCounts(st, 1, highlights(e))
}

// markRead moves the user's read marker for a thread ("" for an
// unthreaded receipt, which covers every thread) to pos, if that is
// further. The entries it reads are dropped at once from those added in
// this transaction, and by flush from the stored ones.
func (t *txState) markRead(userID, roomID, thread string, pos uint64) error {
	st := t.state(userID, roomID)
	old, err := t.marker(st, thread)
	if err != nil {
		return err
	}
	if pos <= old {
		return nil
	}
	// The stored entries this move reads lie above the thread's marker
	// and the unthreaded one as they were before the transaction.
	if _, err := t.marker(st, ""); err != nil {
		return err
	}
	floor := max(st.find("").orig, st.find(thread).orig)
	if !st.moved {
		st.moved, st.minOld = true, floor
	}
	st.minOld = min(st.minOld, floor)
	m := st.find(thread)
	m.pos, m.moved = pos, true
	var dn, dh int64
	st.added = slices.DeleteFunc(st.added, func(e unreadEntry) bool {
		if (thread == "" || e.thread == thread) && e.pos <= pos {
			dn, dh = dn-1, dh-highlights(e)
			return true
		}
		return false
	})
	if dn == 0 {
		return nil
	}
	return t.addCounts(st, dn, dh)
}

// flush writes every changed (user, room): the entries the moved markers
// read dropped from the stored chunks, the moved markers, one chunk of the
// entries added and still unread, and the counts.
func (t *txState) flush() error {
	for _, st := range t.order {
		if st.moved {
			if err := t.dropRead(st); err != nil {
				return err
			}
			for _, m := range st.markers {
				if !m.moved {
					continue
				}
				if err := t.tx.Set(readKey(st.user, st.room, m.thread), binary.BigEndian.AppendUint64(nil, m.pos)); err != nil {
					return err
				}
			}
		}
		if len(st.added) > 0 {
			sortUnread(st.added)
			key := unreadKey(st.user, st.room, st.added[len(st.added)-1].pos)
			if err := t.tx.Set(key, encodeUnreadChunk(st.added)); err != nil {
				return err
			}
		}
		if st.countsChanged {
			if err := putCounts(t.tx, st.user, st.room, st.n, st.h); err != nil {
				return err
			}
		}
	}
	return nil
}

// chunkRewrite is a change to one stored unread chunk: deleted, or
// rewritten under a key of its new largest position.
type chunkRewrite struct {
	old, new []byte
	keep     []unreadEntry
}

// dropRead drops the stored entries that the markers moved in this
// transaction read, and takes them off the counts. Every entry they read
// lies above minOld (entries up to a marker were dropped when it passed
// them, and none is stored behind one), so does every key of a chunk
// holding one, being the chunk's largest position:
// the walk starts there, and never passes the deletion markers that a
// log-structured store (badger) keeps for the chunks dropped before until
// it compacts.
func (t *txState) dropRead(st *readState) error {
	it := t.tx.Iterate(persist.IterOptions{Prefix: unreadPrefix(st.user, st.room),
		Start: unreadKey(st.user, st.room, st.minOld+1)})
	defer it.Close()
	var changes []chunkRewrite
	var dn, dh int64
	for it.Next() {
		entries, err := decodeUnreadChunk(it.Value())
		if err != nil {
			return fmt.Errorf("unread chunk %q: %w", it.Key(), err)
		}
		stored := len(entries)
		keep := slices.DeleteFunc(entries, func(e unreadEntry) bool {
			if st.isRead(e) {
				dn, dh = dn-1, dh-highlights(e)
				return true
			}
			return false
		})
		if len(keep) == stored {
			continue
		}
		c := chunkRewrite{old: it.Key(), keep: keep}
		if len(keep) > 0 {
			_, hi := posRange(keep, func(e unreadEntry) uint64 { return e.pos })
			c.new = unreadKey(st.user, st.room, hi)
		}
		changes = append(changes, c)
	}
	if err := it.Err(); err != nil {
		return err
	}
	it.Close()
	for _, c := range changes {
		if c.new == nil || !bytes.Equal(c.new, c.old) {
			if err := t.tx.Delete(c.old); err != nil {
				return err
			}
		}
		if c.new != nil {
			if err := t.tx.Set(c.new, encodeUnreadChunk(c.keep)); err != nil {
				return err
			}
		}
	}
	if dn == 0 {
		return nil
	}
	return t.addCounts(st, dn, dh)
}

// counts reads the user's unread counts in a room.
func counts(tx persist.Tx, userID, roomID string) (n, h int64, err error) {
	raw, err := getOptional(tx, countKey(userID, roomID))
	switch {
	case err != nil:
		return 0, 0, err
	case raw == nil:
		return 0, 0, nil
	case len(raw) != 16:
		return 0, 0, fmt.Errorf("%w: counts %x", errCorrupt, raw)
	}
	return int64(binary.BigEndian.Uint64(raw)), int64(binary.BigEndian.Uint64(raw[8:])), nil
}

// putCounts stores the user's counts in a room, deleting the record when
// both are zero.
func putCounts(tx persist.Tx, userID, roomID string, n, h int64) error {
	if n == 0 && h == 0 {
		return tx.Delete(countKey(userID, roomID))
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(n))
	return tx.Set(countKey(userID, roomID), binary.BigEndian.AppendUint64(v, uint64(h)))
}

// MarkRead records that the user has read the room up to the event at
// stream position pos: thread is "" for an unthreaded receipt, which
// covers every thread, MainThread or a thread root's event ID for a
// threaded one. Notifications up to and including the event stop counting
// as unread. A marker behind the current one changes nothing, so m.read and
// m.read.private may both call it: the one further ahead wins. The receipts
// code calls it before storing an m.read or m.read.private receipt.
func (s *Service) MarkRead(ctx context.Context, userID, roomID, thread string, pos uint64) error {
	err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		t := newTxState(tx)
		if err := t.markRead(userID, roomID, thread, pos); err != nil {
			return err
		}
		return t.flush()
	})
	if err != nil {
		return fmt.Errorf("notifications: mark read: %w", err)
	}
	return nil
}

// Counts returns the user's unread notifications and highlights in a room,
// for the unread_notifications of /sync: notifications the user has not
// read past with a receipt or an event of their own. It first waits, at
// most Config.MaxWait, for the room's events already observed to be
// evaluated, so that an event and its count normally appear in the same
// /sync response; it never waits for other rooms. When the wait runs out
// it answers with the counts as they are, and Config.Wake names the user
// once the room's evaluation moves.
func (s *Service) Counts(ctx context.Context, userID, roomID string) (notifications, highlights int, err error) {
	if err := s.waitRoom(ctx, userID, roomID); err != nil {
		return 0, 0, err
	}
	var n, h int64
	err = s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		n, h, err = counts(tx, userID, roomID)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("notifications: counts: %w", err)
	}
	return int(n), int(h), nil
}
