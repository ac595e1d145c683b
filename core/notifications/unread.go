package notifications

import (
	"context"
	"encoding/binary"
	"fmt"

	"hearth/persist"
)

// encodeUnread is the value of an unread entry: a highlight flag and the
// event's thread.
func encodeUnread(thread string, highlight bool) []byte {
	b := []byte{0}
	if highlight {
		b[0] = 1
	}
	return append(b, thread...)
}

func decodeUnread(raw []byte) (thread string, highlight bool, err error) {
	if len(raw) < 1 {
		return "", false, fmt.Errorf("%w: empty unread entry", errCorrupt)
	}
	return string(raw[1:]), raw[0] == 1, nil
}

// readUpTo returns the position up to which the user has read the thread:
// the further of their unthreaded and threaded markers.
func readUpTo(tx persist.Tx, userID, roomID, thread string) (uint64, error) {
	var most uint64
	for _, t := range []string{"", thread} {
		raw, err := getOptional(tx, readKey(userID, roomID, t))
		if err != nil {
			return 0, err
		}
		p, err := uint64Value(raw)
		if err != nil {
			return 0, err
		}
		most = max(most, p)
	}
	return most, nil
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

// addCounts adds dn notifications and dh highlights to the user's counts
// in a room, deleting the record when both reach zero.
func addCounts(tx persist.Tx, userID, roomID string, dn, dh int64) error {
	n, h, err := counts(tx, userID, roomID)
	if err != nil {
		return err
	}
	n, h = max(n+dn, 0), max(h+dh, 0)
	if n == 0 && h == 0 {
		return tx.Delete(countKey(userID, roomID))
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(n))
	return tx.Set(countKey(userID, roomID), binary.BigEndian.AppendUint64(v, uint64(h)))
}

// markRead moves the user's read marker for a thread ("" for an
// unthreaded receipt, which covers every thread) to pos, if that is
// further, and drops the unread entries it covers.
func markRead(tx persist.Tx, userID, roomID, thread string, pos uint64) error {
	key := readKey(userID, roomID, thread)
	raw, err := getOptional(tx, key)
	if err != nil {
		return err
	}
	old, err := uint64Value(raw)
	if err != nil {
		return err
	}
	if pos <= old {
		return nil
	}
	if err := tx.Set(key, binary.BigEndian.AppendUint64(nil, pos)); err != nil {
		return err
	}
	// Entries up to the old marker are gone already: markRead dropped them
	// when the marker passed them and record never adds one behind it. So
	// the walk starts after it; from the prefix's start it would pass every
	// entry deleted before, which a log-structured store (badger) keeps as
	// tombstones until compaction: that walk was the evaluator's largest cost.
	it := tx.Iterate(persist.IterOptions{Prefix: unreadPrefix(userID, roomID),
		Start: unreadKey(userID, roomID, old+1), End: unreadKey(userID, roomID, pos+1)})
	defer it.Close()
	var dn, dh int64
	for it.Next() {
		t, hl, err := decodeUnread(it.Value())
		if err != nil {
			return err
		}
		if thread != "" && t != thread {
			continue
		}
		if err := tx.Delete(it.Key()); err != nil {
			return err
		}
		dn--
		if hl {
			dh--
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if dn == 0 {
		return nil
	}
	return addCounts(tx, userID, roomID, dn, dh)
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
		return markRead(tx, userID, roomID, thread, pos)
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
