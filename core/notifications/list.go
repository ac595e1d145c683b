package notifications

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/core/room"
	"hearth/persist"
)

// Notification is one entry of GET /notifications.
type Notification struct {
	RoomID string
	// Event is the event that notified; RedactedBy, when set, is a
	// redaction that applies to it, so it must be shown redacted.
	Event      *event.PDU
	RedactedBy *event.PDU
	// Actions are the actions of the push rule that matched, as JSON.
	Actions json.RawMessage
	// TS is when the notification was made, in Unix milliseconds.
	TS int64
	// Read reports whether the user has read past the event.
	Read bool
	// Pos is the event's stream position: the next page starts below it.
	Pos uint64
}

// List returns up to limit of the user's notifications, newest first,
// older than position from (0 for the newest), only highlights when
// onlyHighlight is set. more reports whether older ones remain; the next
// page starts at the Pos of the last one returned. Like Counts, it first
// waits, at most Config.MaxWait, for the events already observed to be
// evaluated.
func (s *Service) List(ctx context.Context, userID string, from uint64, limit int, onlyHighlight bool) (out []Notification, more bool, err error) {
	if err := s.waitAll(ctx); err != nil {
		return nil, false, err
	}
	var page []listEntry
	var read []bool
	err = s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		if page, more, err = listPage(tx, userID, from, limit, onlyHighlight); err != nil {
			return err
		}
		read, err = readFlags(tx, userID, page)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("notifications: list: %w", err)
	}
	for i, l := range page {
		info, err := s.cfg.Rooms.Info(ctx, l.eventID)
		if errors.Is(err, room.ErrUnknownEvent) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("notifications: list: %w", err)
		}
		n := Notification{RoomID: l.roomID, Event: info.Event, Actions: json.RawMessage(l.actions), TS: l.ts, Read: read[i], Pos: l.pos}
		if info.RedactedBy != "" {
			if n.RedactedBy, err = s.applyingRedaction(ctx, info.Event, info.RedactedBy); err != nil {
				return nil, false, fmt.Errorf("notifications: list: %w", err)
			}
		}
		out = append(out, n)
	}
	return out, more, nil
}

// listPage reads up to limit of the user's list entries below from (any,
// when from is 0), newest first, and whether more remain. The chunks are
// ordered by their smallest position, and positions, committed out of
// order across rooms, make them overlap: it reads them newest first until
// it holds limit+1 entries and no chunk further on can hold one newer than
// the oldest of those. Every chunk further on starts at or before the next
// one, so it ends at most the list's span after that.
func listPage(tx persist.Tx, userID string, from uint64, limit int, onlyHighlight bool) (page []listEntry, more bool, err error) {
	st, err := readListState(tx, userID)
	if err != nil {
		return nil, false, err
	}
	opts := persist.IterOptions{Prefix: listPrefix(userID), Reverse: true}
	if from > 0 {
		// Chunks that start at from or later hold nothing below it.
		opts.End = binary.BigEndian.AppendUint64(listPrefix(userID), from)
	}
	limit = max(limit, 0)
	newestFirst := func(a, b listEntry) int { return cmp.Compare(b.pos, a.pos) }
	it := tx.Iterate(opts)
	defer it.Close()
	for it.Next() {
		lo, _, err := listKeyRange(it.Key())
		if err != nil {
			return nil, false, err
		}
		if len(page) > limit {
			slices.SortFunc(page, newestFirst)
			page = page[:limit+1]
			if lo+st.span < page[limit].pos {
				break
			}
		}
		entries, err := decodeListChunk(it.Value())
		if err != nil {
			return nil, false, fmt.Errorf("list chunk %q: %w", it.Key(), err)
		}
		for _, l := range entries {
			if (from == 0 || l.pos < from) && (!onlyHighlight || l.highlight) {
				page = append(page, l)
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, false, err
	}
	slices.SortFunc(page, newestFirst)
	if len(page) > limit {
		page, more = page[:limit], true
	}
	return page, more, nil
}

// readFlags reports, for each entry, whether the user has read past it:
// whether its position is at most the further of their unthreaded
// marker and their marker for its thread.
func readFlags(tx persist.Tx, userID string, page []listEntry) ([]bool, error) {
	t := newTxState(tx)
	read := make([]bool, len(page))
	for i, l := range page {
		st := t.state(userID, l.roomID)
		upTo, err := t.marker(st, "")
		if err != nil {
			return nil, err
		}
		p, err := t.marker(st, l.thread)
		if err != nil {
			return nil, err
		}
		read[i] = l.pos <= max(upTo, p)
	}
	return read, nil
}

// applyingRedaction returns the redaction redactionID if it applies to ev:
// sent by ev's sender, or by a user whose power level reaches the room's
// redact level.
func (s *Service) applyingRedaction(ctx context.Context, ev *event.PDU, redactionID string) (*event.PDU, error) {
	info, err := s.cfg.Rooms.Info(ctx, redactionID)
	if err != nil || !info.InTimeline {
		return nil, err
	}
	r := info.Event
	if r.Sender() == ev.Sender() {
		return r, nil
	}
	state, err := s.cfg.Rooms.StateAfter(ctx, r.ID())
	if err != nil {
		return nil, err
	}
	keys := room.State{}
	for _, t := range []string{"m.room.create", "m.room.power_levels"} {
		if id, ok := state[room.StateKeyOf(t, "")]; ok {
			keys[room.StateKeyOf(t, "")] = id
		}
	}
	evs, err := s.cfg.Rooms.StateEvents(ctx, keys)
	if err != nil {
		return nil, err
	}
	pl, err := auth.ParsePowerLevels(evs[room.StateKeyOf("m.room.power_levels", "")], evs[room.StateKeyOf("m.room.create", "")])
	if err != nil {
		return nil, nil
	}
	if pl.UserLevel(r.Sender()) >= pl.Redact() {
		return r, nil
	}
	return nil, nil
}
