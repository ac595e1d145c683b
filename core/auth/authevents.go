package auth

import (
	"encoding/json"
	"fmt"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// NeededKeys returns the state an event's auth_events must be chosen from
// (server-server API, "Auth events selection"): the create event (before
// room version 12), the power levels, the sender's membership, and for
// membership events the target's membership, the join rules (join, invite
// and knock), the m.room.third_party_invite the invite's signed token names,
// and the membership of join_authorised_via_users_server (room versions
// with restricted joins). An m.room.create event needs none. stateKey is
// nil for a message event. The keys come in that order without duplicates;
// the error is for a membership event whose content cannot be read.
func NeededKeys(v *roomversion.Version, eventType, sender string, stateKey *string, content json.RawMessage) ([]event.StateKey, error) {
	if eventType == typeCreate {
		return nil, nil
	}
	keys := make([]event.StateKey, 0, 6)
	add := func(k event.StateKey) {
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	if !v.RoomIDFromCreateEvent {
		add(createKey)
	}
	add(powerLevelsKey)
	add(memberKey(sender))
	if eventType != typeMember {
		return keys, nil
	}
	if stateKey == nil {
		return nil, fmt.Errorf("auth: m.room.member event without a state_key")
	}
	var c struct {
		Membership       string          `json:"membership"`
		AuthorisedVia    json.RawMessage `json:"join_authorised_via_users_server"`
		ThirdPartyInvite json.RawMessage `json:"third_party_invite"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, fmt.Errorf("auth: m.room.member content: %w", err)
	}
	add(memberKey(*stateKey))
	switch c.Membership {
	case membershipJoin, membershipInvite, membershipKnock:
		add(joinRulesKey)
	}
	if c.Membership == membershipInvite && len(c.ThirdPartyInvite) > 0 {
		var tpi struct {
			Signed struct {
				Token *string `json:"token"`
			} `json:"signed"`
		}
		if json.Unmarshal(c.ThirdPartyInvite, &tpi) == nil && tpi.Signed.Token != nil {
			add(event.StateKey{Type: typeThirdPartyInvite, StateKey: *tpi.Signed.Token})
		}
	}
	if c.Membership == membershipJoin && v.RestrictedJoins && len(c.AuthorisedVia) > 0 {
		var via string
		if json.Unmarshal(c.AuthorisedVia, &via) == nil && via != "" {
			add(memberKey(via))
		}
	}
	return keys, nil
}

// CheckAuthEvents authorises ev against its auth events (rule 2 before room
// version 12, rule 3 in it, then the rest through Check). authEvents must be
// the events ev's auth_events lists, each exactly once; in room version 12
// the caller must also pass the room's create event, which auth_events must
// not list. Entries must be state events of this room whose (type,
// state_key) the auth events selection allows, with no pair twice. The
// caller checks separately that none of them was rejected.
func CheckAuthEvents(ev *event.PDU, authEvents []*event.PDU) error {
	if ev.Type() == typeCreate {
		return Check(ev, MapState{})
	}
	v := ev.Version()
	sk, isState := ev.StateKey()
	var stateKey *string
	if isState {
		stateKey = &sk
	}
	needed, err := NeededKeys(v, ev.Type(), ev.Sender(), stateKey, ev.Content())
	if err != nil {
		return deny("auth events", "%v", err)
	}
	listed := make(map[string]bool, len(ev.AuthEvents()))
	for _, id := range ev.AuthEvents() {
		if listed[id] {
			return deny("auth events", "%s is listed twice", id)
		}
		listed[id] = true
	}
	state := make(MapState, len(authEvents))
	supplied := make(map[string]bool, len(authEvents))
	for _, ae := range authEvents {
		if ae == nil {
			return deny("auth events", "nil auth event")
		}
		if v.RoomIDFromCreateEvent && ae.IsCreate() {
			if listed[ae.ID()] {
				return deny("auth events", "lists the m.room.create event %s", ae.ID())
			}
			if state[createKey] != nil {
				return deny("auth events", "two m.room.create events")
			}
			state[createKey] = ae
			continue
		}
		if !listed[ae.ID()] {
			return deny("auth events", "%s is not in the event's auth_events", ae.ID())
		}
		if supplied[ae.ID()] {
			return deny("auth events", "%s supplied twice", ae.ID())
		}
		supplied[ae.ID()] = true
		if !ae.IsState() {
			return deny("auth events", "%s is not a state event", ae.ID())
		}
		k := ae.StateTuple()
		if state[k] != nil {
			return deny("auth events", "duplicate entries for %s", k)
		}
		if !containsKey(needed, k) {
			return deny("auth events", "%s is not selectable for this event", k)
		}
		if ae.RoomID() != ev.RoomID() {
			return deny("auth events", "%s is in room %s, not %s", ae.ID(), ae.RoomID(), ev.RoomID())
		}
		state[k] = ae
	}
	for id := range listed {
		if !supplied[id] {
			return deny("auth events", "auth event %s not supplied", id)
		}
	}
	return Check(ev, state)
}

// containsKey reports whether keys holds k.
func containsKey(keys []event.StateKey, k event.StateKey) bool {
	for _, have := range keys {
		if have == k {
			return true
		}
	}
	return false
}
