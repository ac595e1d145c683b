package rooms

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/core/mxid"
	"hearth/core/room"
	"hearth/core/visibility"
	"hearth/persist"
)

// Event types this package reads or writes.
const (
	typeCreate            = "m.room.create"
	typeMember            = "m.room.member"
	typePowerLevels       = "m.room.power_levels"
	typeJoinRules         = "m.room.join_rules"
	typeHistoryVisibility = "m.room.history_visibility"
	typeGuestAccess       = "m.room.guest_access"
	typeName              = "m.room.name"
	typeTopic             = "m.room.topic"
	typeAvatar            = "m.room.avatar"
	typeCanonicalAlias    = "m.room.canonical_alias"
	typeEncryption        = "m.room.encryption"
	typeServerACL         = "m.room.server_acl"
	typeTombstone         = "m.room.tombstone"
	typeRedaction         = "m.room.redaction"
	typeSpaceChild        = "m.space.child"
)

// key is shorthand for a state key.
func key(eventType, stateKey string) event.StateKey {
	return event.StateKey{Type: eventType, StateKey: stateKey}
}

// currentState returns a room's current state; an unknown room is
// room.ErrUnknownRoom.
func (h *Handlers) currentState(ctx context.Context, roomID string) (room.State, error) {
	return h.dag.CurrentState(ctx, roomID)
}

// stateEvent returns the event of state s under (eventType, stateKey), or
// nil when s has none.
func (h *Handlers) stateEvent(ctx context.Context, s room.State, eventType, stateKey string) (*event.PDU, error) {
	id, ok := s[key(eventType, stateKey)]
	if !ok {
		return nil, nil
	}
	ev, err := h.dag.Event(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("rooms: state event %s: %w", id, err)
	}
	return ev, nil
}

// stateEvents returns the events of s under the given keys, by key; keys s
// lacks are absent from the result.
func (h *Handlers) stateEvents(ctx context.Context, s room.State, keys ...event.StateKey) (map[event.StateKey]*event.PDU, error) {
	sub := make(room.State, len(keys))
	for _, k := range keys {
		if id, ok := s[k]; ok {
			sub[k] = id
		}
	}
	return h.dag.StateEvents(ctx, sub)
}

// powerLevels returns the effective power levels of state s.
func (h *Handlers) powerLevels(ctx context.Context, s room.State) (*auth.PowerLevels, error) {
	evs, err := h.stateEvents(ctx, s, key(typePowerLevels, ""), key(typeCreate, ""))
	if err != nil {
		return nil, err
	}
	pl, err := auth.ParsePowerLevels(evs[key(typePowerLevels, "")], evs[key(typeCreate, "")])
	if err != nil {
		return nil, fmt.Errorf("rooms: power levels: %w", err)
	}
	return pl, nil
}

// membershipIn returns userID's membership in state s ("" for none).
func (h *Handlers) membershipIn(ctx context.Context, s room.State, userID string) (string, error) {
	ev, err := h.stateEvent(ctx, s, typeMember, userID)
	if err != nil || ev == nil {
		return "", err
	}
	return ev.Membership(), nil
}

// contentString returns the string under name in the content of ev, "" when
// ev is nil or the value is missing or not a string.
func contentString(ev *event.PDU, name string) string {
	if ev == nil {
		return ""
	}
	var c map[string]any
	if err := json.Unmarshal(ev.Content(), &c); err != nil {
		return ""
	}
	s, _ := c[name].(string)
	return s
}

// reader says what a user may read of a room: the state they see and how
// far into the room's history their view reaches.
type reader struct {
	// member is the user's membership.
	member room.Membership
	// state is the state the user sees: the current state for members and
	// for peekers of world-readable rooms, the state after their leave for
	// users who left.
	state room.State
	// capPos, when not 0, is the stream position past which the user sees
	// nothing of the room: that of their leave.
	capPos uint64
}

// readable decides whether userID may read roomID at all: members may;
// users who left or were banned may, up to their departure, unless they
// forgot the room; others only when the room is world-readable. It returns
// 403 M_FORBIDDEN otherwise, also for rooms this server does not know.
func (h *Handlers) readable(ctx context.Context, userID, roomID string) (reader, error) {
	m, err := h.dag.MembershipOf(ctx, userID, roomID)
	if err != nil {
		return reader{}, err
	}
	switch m.Membership {
	case "join":
		s, err := h.currentState(ctx, roomID)
		if err != nil {
			return reader{}, err
		}
		return reader{member: m, state: s}, nil
	case "leave", "ban":
		forgot, err := h.Forgotten(ctx, userID, roomID)
		if err != nil {
			return reader{}, err
		}
		if forgot {
			return reader{}, notInRoom()
		}
		var s room.State
		if m.EventID != "" {
			s, err = h.dag.StateAfter(ctx, m.EventID)
		} else {
			s, err = h.dag.StateAt(ctx, roomID, m.Pos)
		}
		if err != nil {
			return reader{}, err
		}
		return reader{member: m, state: s, capPos: m.Pos}, nil
	}
	s, err := h.currentState(ctx, roomID)
	if errors.Is(err, room.ErrUnknownRoom) {
		return reader{}, notInRoom()
	}
	if err != nil {
		return reader{}, err
	}
	hv, err := h.stateEvent(ctx, s, typeHistoryVisibility, "")
	if err != nil {
		return reader{}, err
	}
	if visibility.HistoryVisibility(hv) != visibility.WorldReadable {
		return reader{}, notInRoom()
	}
	return reader{member: m, state: s}, nil
}

// requireJoined returns the current state of roomID when userID is joined
// to it, and 403 M_FORBIDDEN otherwise.
func (h *Handlers) requireJoined(ctx context.Context, userID, roomID string) (room.State, error) {
	m, err := h.dag.MembershipOf(ctx, userID, roomID)
	if err != nil {
		return nil, err
	}
	if m.Membership != "join" {
		return nil, notInRoom()
	}
	return h.currentState(ctx, roomID)
}

// forgotKey is where the forgetting of roomID by userID is recorded.
func forgotKey(userID, roomID string) []byte {
	return []byte("rooms/forgot/" + userID + "\x00" + roomID)
}

// Forgotten reports whether userID forgot roomID (POST /forget) and has
// not been in it since: sync leaves such rooms out, and the room endpoints
// treat the user as a stranger to the room.
func (h *Handlers) Forgotten(ctx context.Context, userID, roomID string) (bool, error) {
	m, err := h.dag.MembershipOf(ctx, userID, roomID)
	if err != nil {
		return false, err
	}
	var forgot bool
	err = h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get(forgotKey(userID, roomID))
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		forgot = len(raw) == 8 && binary.BigEndian.Uint64(raw) == m.Pos
		return nil
	})
	return forgot, err
}

// isLocal reports whether userID belongs to this server.
func (h *Handlers) isLocal(userID string) bool {
	return strings.HasPrefix(userID, "@") && mxid.ServerOf(userID) == h.cfg.ServerName
}
