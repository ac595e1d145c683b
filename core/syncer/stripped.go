package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/core/event"
	"hearth/core/room"
)

// strippedTypes are the state events an invited or knocking user is shown
// (spec "Stripped state"), besides the inviter's membership.
var strippedTypes = []string{
	"m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar",
	"m.room.canonical_alias", "m.room.encryption", "m.room.topic",
}

// strippedEvent is the wire form of a stripped state event.
type strippedEvent struct {
	Content  json.RawMessage `json:"content"`
	Sender   string          `json:"sender"`
	StateKey string          `json:"state_key"`
	Type     string          `json:"type"`
}

// strippedRoom adds a room the user is invited to or knocked on: the
// room's stripped state, then the user's own membership event in full.
func (r *run) strippedRoom(ctx context.Context, roomID string, m room.Membership) error {
	dag := r.s.cfg.DAG
	if m.EventID == "" {
		return nil
	}
	own, err := dag.Event(ctx, m.EventID)
	if err != nil {
		return fmt.Errorf("syncer: membership event %s: %w", m.EventID, err)
	}
	if r.ignored[own.Sender()] {
		return nil
	}
	var events []json.RawMessage
	st, err := dag.CurrentState(ctx, roomID)
	switch {
	case errors.Is(err, room.ErrUnknownRoom):
		// A room on another server: what its server sent with the event.
		events = unsignedStrippedState(own)
	case err != nil:
		return fmt.Errorf("syncer: state of %s: %w", roomID, err)
	default:
		sel := room.State{}
		for _, t := range strippedTypes {
			if id, ok := st[event.StateKey{Type: t}]; ok {
				sel[event.StateKey{Type: t}] = id
			}
		}
		if sender := own.Sender(); sender != r.req.UserID {
			if id, ok := st[memberKey(sender)]; ok {
				sel[memberKey(sender)] = id
			}
		}
		evs, err := dag.StateEvents(ctx, sel)
		if err != nil {
			return fmt.Errorf("syncer: stripped state of %s: %w", roomID, err)
		}
		keys := append(append([]string{}, strippedTypes...), "m.room.member")
		for _, t := range keys {
			for k, ev := range evs {
				if k.Type != t {
					continue
				}
				raw, err := strip(ev)
				if err != nil {
					return err
				}
				events = append(events, raw)
			}
		}
	}
	full, err := r.format(ctx, own, nil)
	if err != nil {
		return err
	}
	events = append(events, full)
	if m.Membership == "knock" {
		r.resp.Rooms.Knock[roomID] = &KnockedRoom{KnockState: EventBatch{Events: events}}
	} else {
		r.resp.Rooms.Invite[roomID] = &InvitedRoom{InviteState: EventBatch{Events: events}}
	}
	return nil
}

// strip returns the stripped form of a state event.
func strip(ev *event.PDU) (json.RawMessage, error) {
	k, _ := ev.StateKey()
	raw, err := json.Marshal(strippedEvent{Content: ev.Content(), Sender: ev.Sender(), StateKey: k, Type: ev.Type()})
	if err != nil {
		return nil, fmt.Errorf("syncer: strip %s: %w", ev.ID(), err)
	}
	return raw, nil
}

// unsignedStrippedState returns the stripped state another server sent
// with an invite or knock, in unsigned.invite_room_state or
// unsigned.knock_room_state.
func unsignedStrippedState(ev *event.PDU) []json.RawMessage {
	u := ev.Unsigned()
	if len(u) == 0 {
		return nil
	}
	var un struct {
		Invite []json.RawMessage `json:"invite_room_state"`
		Knock  []json.RawMessage `json:"knock_room_state"`
	}
	if json.Unmarshal(u, &un) != nil {
		// Another server's malformed hint: show the invite alone.
		return nil
	}
	return append(un.Invite, un.Knock...)
}
