package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	type found struct {
		n      storedNotification
		pos    uint64
		unread bool
	}
	var page []found
	err = s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		opts := persist.IterOptions{Prefix: listPrefix(userID), Reverse: true}
		if from > 0 {
			opts.End = listKey(userID, from)
		}
		it := tx.Iterate(opts)
		defer it.Close()
		for it.Next() {
			var n storedNotification
			if err := json.Unmarshal(it.Value(), &n); err != nil {
				return fmt.Errorf("%w: notification: %v", errCorrupt, err)
			}
			if onlyHighlight && !n.Highlight {
				continue
			}
			if len(page) == limit {
				more = true
				return nil
			}
			pos, err := posSuffix(it.Key())
			if err != nil {
				return err
			}
			u, err := getOptional(tx, unreadKey(userID, n.RoomID, pos))
			if err != nil {
				return err
			}
			page = append(page, found{n: n, pos: pos, unread: u != nil})
		}
		return it.Err()
	})
	if err != nil {
		return nil, false, fmt.Errorf("notifications: list: %w", err)
	}
	for _, f := range page {
		info, err := s.cfg.Rooms.Info(ctx, f.n.EventID)
		if errors.Is(err, room.ErrUnknownEvent) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("notifications: list: %w", err)
		}
		n := Notification{RoomID: f.n.RoomID, Event: info.Event, Actions: f.n.Actions, TS: f.n.TS, Read: !f.unread, Pos: f.pos}
		if info.RedactedBy != "" {
			if n.RedactedBy, err = s.applyingRedaction(ctx, info.Event, info.RedactedBy); err != nil {
				return nil, false, fmt.Errorf("notifications: list: %w", err)
			}
		}
		out = append(out, n)
	}
	return out, more, nil
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
