package notifications

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/core/room"
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
	// TS is the event's origin_server_ts, in Unix milliseconds: no time
	// of notification is stored, since notifications are evaluated when
	// asked for.
	TS int64
	// Read reports whether the user has read past the event.
	Read bool
	// Pos is the event's stream position.
	Pos uint64
}

// List returns up to limit of the user's notifications, newest first,
// from events at positions below from (0 for the newest), only highlights
// when onlyHighlight is set; a limit below 1 means 1. It walks the timelines of the user's rooms
// backwards, evaluating each event for the user, and stops after
// Config.MaxListScan events: next is the from of the following page, 0
// when no older notifications remain. A page may then be short, or even
// empty, with a next position.
func (s *Service) List(ctx context.Context, userID string, from uint64, limit int, onlyHighlight bool) (out []Notification, next uint64, err error) {
	out, next, err = s.list(ctx, userID, from, max(limit, 1), onlyHighlight)
	if err != nil {
		return nil, 0, fmt.Errorf("notifications: list for %s: %w", userID, err)
	}
	return out, next, nil
}

func (s *Service) list(ctx context.Context, userID string, from uint64, limit int, onlyHighlight bool) ([]Notification, uint64, error) {
	memberships, err := s.cfg.Rooms.Rooms(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	// One cursor per room, ordered by the position its next event has
	// at most; a room's events are read only once the merge reaches it.
	var cs cursors
	for roomID, m := range memberships {
		top, err := s.cfg.Rooms.LastPos(ctx, roomID)
		if err != nil {
			return nil, 0, err
		}
		if from > 0 {
			top = min(top, from-1)
		}
		if m.Membership != "join" && m.Membership != "invite" && m.Pos > 0 {
			// Nothing after leaving notifies.
			top = min(top, m.Pos)
		}
		if top > 0 {
			cs = append(cs, &cursor{roomID: roomID, head: top, below: top + 1})
		}
	}
	heap.Init(&cs)
	var out []Notification
	marks := make(map[string]readMarks)
	scanned := 0
	for cs.Len() > 0 {
		c := cs[0]
		if len(c.buf) == 0 {
			page := min(max(limit, 16), 256)
			evs, err := s.cfg.Rooms.Timeline(ctx, c.roomID, c.below, 0, true, page)
			if err != nil {
				return nil, 0, err
			}
			if len(evs) == 0 {
				heap.Pop(&cs)
				continue
			}
			c.buf, c.head = evs, evs[0].Pos
			heap.Fix(&cs, 0)
			continue
		}
		if scanned == s.cfg.MaxListScan || len(out) > limit {
			break
		}
		te := c.buf[0]
		c.buf, c.below = c.buf[1:], te.Pos
		if len(c.buf) > 0 {
			c.head = c.buf[0].Pos
		} else {
			c.head = te.Pos - 1
		}
		if c.head == 0 {
			heap.Pop(&cs)
		} else {
			heap.Fix(&cs, 0)
		}
		scanned++
		v, err := s.evaluate(ctx, userID, te.Event)
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			s.cfg.Logf("notifications: skipping an event for %s: %v", userID, err)
			continue
		}
		if !v.notifies() || onlyHighlight && !v.highlight {
			continue
		}
		m, ok := marks[c.roomID]
		if !ok {
			err := s.withReadState(ctx, userID, c.roomID, func(st *readState) {
				m = readMarks{floor: st.floor, markers: maps.Clone(st.markers), own: maps.Clone(st.own)}
			})
			if err != nil {
				return nil, 0, err
			}
			marks[c.roomID] = m
		}
		actions, err := json.Marshal(v.actions)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Notification{RoomID: c.roomID, Event: te.Event, Actions: actions,
			TS: te.Event.OriginServerTS(), Read: m.read(te.Pos, v.thread), Pos: te.Pos})
	}
	var next uint64
	switch {
	case len(out) > limit:
		// One more was found: the next page starts below the last
		// returned.
		out = out[:limit]
		next = out[limit-1].Pos
	case cs.Len() > 0:
		// The scan stopped early: every event at or above the lowest
		// position scanned was looked at.
		next = cs.lowestScanned()
	}
	for i := range out {
		if err := s.redaction(ctx, &out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, next, nil
}

// cursor is the walk backwards through one room's timeline.
type cursor struct {
	roomID string
	// head bounds the position of the room's next event: exact once buf
	// holds it.
	head uint64
	// below is the position the walk continues below; buf holds the
	// events read but not yet taken, newest first.
	below uint64
	buf   []room.TimelineEvent
}

// cursors is a max-heap of cursors by head.
type cursors []*cursor

func (cs cursors) Len() int           { return len(cs) }
func (cs cursors) Less(i, j int) bool { return cs[i].head > cs[j].head }
func (cs cursors) Swap(i, j int)      { cs[i], cs[j] = cs[j], cs[i] }
func (cs *cursors) Push(x any)        { *cs = append(*cs, x.(*cursor)) }
func (cs *cursors) Pop() any {
	old := *cs
	c := old[len(old)-1]
	*cs = old[:len(old)-1]
	return c
}

// lowestScanned returns the position below which no room was scanned: one
// more than the highest position any room has left.
func (cs cursors) lowestScanned() uint64 {
	return cs[0].head + 1
}

// redaction sets n.RedactedBy when a redaction applies to n's event.
func (s *Service) redaction(ctx context.Context, n *Notification) error {
	info, err := s.cfg.Rooms.Info(ctx, n.Event.ID())
	if err != nil || info.RedactedBy == "" {
		return err
	}
	n.RedactedBy, err = s.applyingRedaction(ctx, info.Event, info.RedactedBy)
	return err
}

// applyingRedaction returns the redaction redactionID if it applies to ev:
// sent by ev's sender, or by a user whose power level reaches the room's
// redact level.
func (s *Service) applyingRedaction(ctx context.Context, ev *event.PDU, redactionID string) (*event.PDU, error) {
	info, err := s.cfg.Rooms.Info(ctx, redactionID)
	if errors.Is(err, room.ErrUnknownEvent) {
		return nil, nil
	}
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
