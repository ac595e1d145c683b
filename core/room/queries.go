package room

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/core/event"
	"hearth/persist"
)

// Membership is where one of this server's users stands in a room.
type Membership struct {
	RoomID string `json:"r"`
	// Membership is join, invite, knock, leave or ban.
	Membership string `json:"m"`
	// EventID is the m.room.member event that set it ("" if the
	// membership left the room's state).
	EventID string `json:"e"`
	// Pos is the stream position at which it changed (0 when it changed
	// without a timeline event, as for a room imported from elsewhere).
	Pos uint64 `json:"p"`
}

// StateKeyOf is shorthand for an event.StateKey.
func StateKeyOf(eventType, stateKey string) event.StateKey {
	return event.StateKey{Type: eventType, StateKey: stateKey}
}

// Rooms returns every room in which the local user userID has or had a
// membership, keyed by room ID.
func (d *DAG) Rooms(ctx context.Context, userID string) (map[string]Membership, error) {
	out := make(map[string]Membership)
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: userRoomsPrefix(userID)})
		defer it.Close()
		for it.Next() {
			var m Membership
			if err := json.Unmarshal(it.Value(), &m); err != nil {
				return fmt.Errorf("%w: membership of %s: %v", errCorrupt, userID, err)
			}
			out[m.RoomID] = m
		}
		return it.Err()
	})
	return out, err
}

// MembershipOf returns the local user's membership in one room, with
// Membership "" when the user never had one.
func (d *DAG) MembershipOf(ctx context.Context, userID, roomID string) (Membership, error) {
	var m Membership
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get(userRoomKey(userID, roomID))
		if errors.Is(err, persist.ErrNotFound) {
			m = Membership{RoomID: roomID}
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &m)
	})
	return m, err
}

// MembershipChanges returns the IDs of the rooms in which the local user's
// membership changed at stream positions in (from, to], oldest first, each
// once. Sync uses it to find rooms newly joined, invited or left.
func (d *DAG) MembershipChanges(ctx context.Context, userID string, from, to uint64) ([]string, error) {
	var rooms []string
	seen := map[string]bool{}
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{
			Start: userLogKey(userID, from+1),
			End:   userLogKey(userID, to+1),
		})
		defer it.Close()
		for it.Next() {
			r := string(it.Value())
			if !seen[r] {
				seen[r] = true
				rooms = append(rooms, r)
			}
		}
		return it.Err()
	})
	return rooms, err
}

// TimelineEvent is an event in a room's timeline with its stream position.
type TimelineEvent struct {
	Event *event.PDU
	Pos   uint64
}

// Timeline returns up to limit events of a room's timeline. Going forwards
// it returns events with positions in (from, to], oldest first; backwards,
// events with positions in [to, from), newest first. A bound of 0 leaves
// that end open: backwards from 0 starts at the newest event, and to 0 runs
// to the end of the timeline in either direction. Positions are stream
// positions, comparable with Position.
//
// Calls about the room's newest events are answered from its tail in
// memory (tail.go), the others from the store.
func (d *DAG) Timeline(ctx context.Context, roomID string, from, to uint64, backwards bool, limit int) ([]TimelineEvent, error) {
	if out, ok, err := d.tailTimeline(ctx, roomID, from, to, backwards, limit); ok {
		return out, err
	}
	return d.storeTimeline(ctx, roomID, from, to, backwards, limit)
}

// storeTimeline answers a Timeline call from the store.
func (d *DAG) storeTimeline(ctx context.Context, roomID string, from, to uint64, backwards bool, limit int) ([]TimelineEvent, error) {
	opts := persist.IterOptions{Prefix: timelinePrefix(roomID), Reverse: backwards}
	if backwards {
		if to > 0 {
			opts.Start = timelineKey(roomID, to)
		}
		if from > 0 {
			opts.End = timelineKey(roomID, from)
		}
	} else {
		opts.Start = timelineKey(roomID, from+1)
		if to > 0 {
			opts.End = timelineKey(roomID, to+1)
		}
	}
	var out []TimelineEvent
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(opts)
		defer it.Close()
		prefix := len(timelinePrefix(roomID))
		for len(out) < limit && it.Next() {
			k := it.Key()
			if len(k) != prefix+8 {
				return fmt.Errorf("%w: timeline key %q", errCorrupt, k)
			}
			ce, err := d.load(tx, string(it.Value()))
			if err != nil {
				return err
			}
			out = append(out, TimelineEvent{Event: ce.pdu, Pos: binary.BigEndian.Uint64(k[prefix:])})
		}
		return it.Err()
	})
	return out, err
}

// LastPos returns the stream position of the room's latest timeline event.
func (d *DAG) LastPos(ctx context.Context, roomID string) (uint64, error) {
	m, err := d.meta(ctx, roomID, d.entry(roomID))
	if err != nil {
		return 0, err
	}
	return m.LastPos, nil
}

// StateID identifies the room's current state: it changes whenever the
// state does, and two calls that return the same ID saw the same state, so
// callers may cache what they derive from CurrentState under it. Unlike
// LastPos it stays put while only messages arrive.
func (d *DAG) StateID(ctx context.Context, roomID string) (uint64, error) {
	m, err := d.meta(ctx, roomID, d.entry(roomID))
	if err != nil {
		return 0, err
	}
	return m.Group, nil
}

// EventInfo is an event with where it stands in its room.
type EventInfo struct {
	Event *event.PDU
	// Pos is its stream position, 0 for events not in the timeline.
	Pos uint64
	// InTimeline is false for rejected, soft-failed and outlier events,
	// which clients must never see.
	InTimeline bool
	// RedactedBy is the ID of an accepted redaction naming this event,
	// if any; whether it applies is the caller's check (the spec's
	// redaction rules compare senders and power).
	RedactedBy string
}

// Info returns an event and its place in the room.
func (d *DAG) Info(ctx context.Context, id string) (EventInfo, error) {
	var info EventInfo
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		ce, err := d.load(tx, id)
		if err != nil {
			return err
		}
		info = EventInfo{Event: ce.pdu, Pos: ce.rec.pos, InTimeline: ce.rec.status == statusAccepted && ce.rec.pos != 0}
		raw, err := tx.Get(redactedKey(id))
		switch {
		case err == nil:
			info.RedactedBy = string(raw)
		case !errors.Is(err, persist.ErrNotFound):
			return err
		}
		return nil
	})
	return info, err
}

// Transaction returns the client transaction stored with the event id
// (Proto.Transaction); ok is false when the event has none, which is also
// the case for events stored before transactions were kept with them.
func (d *DAG) Transaction(ctx context.Context, id string) (t Transaction, ok bool, err error) {
	if ce, cached := d.events.get(id); cached {
		return ce.rec.txn, ce.rec.txn != (Transaction{}), nil
	}
	err = d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		ce, err := d.load(tx, id)
		if err != nil {
			return err
		}
		t, ok = ce.rec.txn, ce.rec.txn != (Transaction{})
		return nil
	})
	return t, ok, err
}

// StateEvents returns the events of a state, by key.
func (d *DAG) StateEvents(ctx context.Context, s State) (map[event.StateKey]*event.PDU, error) {
	out := make(map[event.StateKey]*event.PDU, len(s))
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		for k, id := range s {
			ce, err := d.load(tx, id)
			if err != nil {
				return err
			}
			out[k] = ce.pdu
		}
		return nil
	})
	return out, err
}

// StateAt returns the state after the event at stream position pos in the
// room: the state a client had seen when its sync token was pos. It returns
// the room's state after the latest timeline event at or before pos, or an
// empty state if there is none.
func (d *DAG) StateAt(ctx context.Context, roomID string, pos uint64) (State, error) {
	evs, err := d.Timeline(ctx, roomID, pos+1, 0, true, 1)
	if err != nil || len(evs) == 0 {
		return State{}, err
	}
	return d.StateAfter(ctx, evs[0].Event.ID())
}
