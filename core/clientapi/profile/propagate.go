package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"hearth/core/room"
)

// propagate sends a new m.room.member join event, with field set to value
// (removed when value is ""), into every room the local user userID is
// joined to, keeping the rest of each room's member content. A room where
// this fails is logged and skipped: the profile itself is already stored.
func (h *Handlers) propagate(ctx context.Context, userID, field, value string) {
	memberships, err := h.cfg.DAG.Rooms(ctx, userID)
	if err != nil {
		h.log.Error("listing rooms to update a profile change in", "user", userID, "err", err)
		return
	}
	ids := make([]string, 0, len(memberships))
	for id, m := range memberships {
		if m.Membership == "join" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, roomID := range ids {
		if err := h.updateMember(ctx, roomID, userID, field, value); err != nil {
			h.log.Error("updating a member event after a profile change", "user", userID, "room", roomID, "err", err)
		}
	}
}

// updateMember sends the user's member event with the changed field into
// one room, unless the room's event already says the same.
func (h *Handlers) updateMember(ctx context.Context, roomID, userID, field, value string) error {
	state, err := h.cfg.DAG.CurrentState(ctx, roomID)
	if err != nil {
		return fmt.Errorf("reading the room's state: %w", err)
	}
	key := room.StateKeyOf("m.room.member", userID)
	id, ok := state[key]
	if !ok {
		return fmt.Errorf("the user has no member event")
	}
	evs, err := h.cfg.DAG.StateEvents(ctx, room.State{key: id})
	if err != nil {
		return fmt.Errorf("reading the member event: %w", err)
	}
	ev := evs[key]
	if ev == nil || ev.Membership() != "join" {
		return nil // left since Rooms was read
	}
	content := map[string]json.RawMessage{}
	if err := json.Unmarshal(ev.Content(), &content); err != nil {
		return fmt.Errorf("decoding the member event: %w", err)
	}
	var current string
	if raw, ok := content[field]; ok && json.Unmarshal(raw, &current) == nil && current == value {
		return nil
	}
	if value == "" {
		delete(content, field)
	} else {
		raw, err := json.Marshal(value)
		if err != nil {
			return err
		}
		content[field] = raw
	}
	// The user is already joined: the restricted-join authorisation of
	// their original join does not apply to this event (and a remote
	// authorising server's signature would be missing).
	delete(content, "join_authorised_via_users_server")
	content["membership"] = json.RawMessage(`"join"`)
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	sk := userID
	if _, err := h.cfg.DAG.Send(ctx, roomID, room.Proto{Sender: userID, Type: "m.room.member", StateKey: &sk, Content: raw}); err != nil {
		return fmt.Errorf("sending the member event: %w", err)
	}
	return nil
}
