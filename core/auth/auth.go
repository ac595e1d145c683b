// Package auth implements the Matrix event authorisation rules of room
// versions 1 to 12 (the "Authorisation rules" section of each room version
// page), the auth events selection of the server-server API, and the power
// level arithmetic the rules and the client API share.
//
// Check decides whether an event is allowed against a room state: the state
// named by its auth events, the state before it, or the room's current state,
// as the caller's check requires. It does not verify signatures or hashes,
// fetch anything, or apply m.room.server_acl; those belong to the checks
// made on receipt of a PDU.
//
// Where the rule text leaves a case open, the package reads it so:
//
//   - A room without m.room.join_rules has the join rule "invite", as
//     deployed servers assume; a join rule that is not a string allows no
//     joins.
//   - Only the literal false in the create event's m.federate stops
//     federation.
//   - The "previous m.room.power_levels event" is the room's, with state key
//     "". Power levels in the state that cannot be parsed for their room
//     version make Check reject every event but m.room.create (and
//     m.room.aliases in room versions 1 to 5); room versions 1 to 9
//     still accept a room's first power levels when only keys other than
//     users are malformed, as their rules say.
//   - join_authorised_via_users_server must come with a signature from the
//     authorising user's server; its validity is for the signature checks.
//
// Parsed power levels, create content and memberships are memoised per
// *event.PDU, which is immutable, for as long as the PDU is reachable; all
// functions are safe for concurrent use.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hearth/core/event"
	"hearth/core/mxid"
	"hearth/core/roomversion"
)

// Event types and memberships the rules name.
const (
	typeCreate           = "m.room.create"
	typeMember           = "m.room.member"
	typeJoinRules        = "m.room.join_rules"
	typePowerLevels      = "m.room.power_levels"
	typeThirdPartyInvite = "m.room.third_party_invite"
	typeAliases          = "m.room.aliases"
	typeRedaction        = "m.room.redaction"

	membershipJoin   = "join"
	membershipInvite = "invite"
	membershipLeave  = "leave"
	membershipBan    = "ban"
	membershipKnock  = "knock"
)

// ErrNotAllowed is wrapped by every error Check returns for an event the
// rules reject.
var ErrNotAllowed = errors.New("auth: event not allowed")

// State is the room state an event is checked against.
type State interface {
	// Get returns the state event for k, or nil when the state has none.
	Get(k event.StateKey) *event.PDU
}

// MapState is a State held in a map.
type MapState map[event.StateKey]*event.PDU

// Get returns the event stored under k, or nil.
func (m MapState) Get(k event.StateKey) *event.PDU { return m[k] }

// deny returns an error wrapping ErrNotAllowed that names the rule that
// rejected the event.
func deny(rule, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrNotAllowed, rule, fmt.Sprintf(format, args...))
}

// createKey is the state key of the room's create event.
var createKey = event.StateKey{Type: typeCreate}

// powerLevelsKey is the state key of the room's power levels.
var powerLevelsKey = event.StateKey{Type: typePowerLevels}

// joinRulesKey is the state key of the room's join rules.
var joinRulesKey = event.StateKey{Type: typeJoinRules}

// memberKey is the state key of userID's membership.
func memberKey(userID string) event.StateKey {
	return event.StateKey{Type: typeMember, StateKey: userID}
}

// Check applies the authorisation rules of ev's room version to ev against
// state. It returns nil if the rules allow the event, and otherwise an error
// wrapping ErrNotAllowed whose text names the rule that rejected it.
//
// The state must hold the room's m.room.create event, also in room version
// 12 where auth_events does not list it. Check does not verify the
// signature that a join_authorised_via_users_server key requires, only that
// the event carries one from that server; signature verification belongs to
// the checks on receipt of a PDU.
func Check(ev *event.PDU, state State) error {
	v := ev.Version()
	if v == nil {
		return deny("room version", "event has no room version")
	}
	if ev.Type() == typeCreate {
		return checkCreate(ev)
	}
	create := state.Get(createKey)
	if err := checkRoom(ev, create); err != nil {
		return err
	}
	if err := checkFederate(ev, create); err != nil {
		return err
	}
	if v.SpecialCaseAliases && ev.Type() == typeAliases {
		sk, ok := ev.StateKey()
		if !ok {
			return deny("m.room.aliases", "no state_key")
		}
		if sk != mxid.ServerOf(ev.Sender()) {
			return deny("m.room.aliases", "state_key %q is not the sender's domain %q", sk, mxid.ServerOf(ev.Sender()))
		}
		return nil
	}
	pl, err := ParsePowerLevels(state.Get(powerLevelsKey), create)
	if err != nil {
		return deny("m.room.power_levels", "room power levels unusable: %v", err)
	}
	if ev.Type() == typeMember {
		return checkMember(ev, state, create, pl)
	}
	sender := ev.Sender()
	if m := membershipIn(state, sender); m != membershipJoin {
		return deny("sender membership", "sender %s is not joined (membership %q)", sender, m)
	}
	senderLevel := pl.UserLevel(sender)
	if ev.Type() == typeThirdPartyInvite {
		if senderLevel >= pl.Invite() {
			return nil
		}
		return deny("m.room.third_party_invite", "sender level %d below invite level %d", senderLevel, pl.Invite())
	}
	if need := pl.EventLevel(ev.Type(), ev.IsState()); need > senderLevel {
		return deny("required power level", "%s needs level %d, sender has %d", ev.Type(), need, senderLevel)
	}
	if sk, ok := ev.StateKey(); ok && strings.HasPrefix(sk, "@") && sk != sender {
		return deny("user state_key", "state_key %q is another user's", sk)
	}
	if ev.Type() == typePowerLevels {
		return checkPowerLevels(ev, state, create, pl, senderLevel)
	}
	if ev.Type() == typeRedaction && v.AuthorizeRedactions {
		if senderLevel >= pl.Redact() {
			return nil
		}
		if target := ev.Redacts(); target != "" && mxid.ServerOf(target) == mxid.ServerOf(ev.ID()) {
			return nil
		}
		return deny("m.room.redaction", "sender level %d below redact level %d and %q is from another domain", senderLevel, pl.Redact(), ev.Redacts())
	}
	return nil
}

// checkRoom applies the rules that tie an event to its room's create
// event: the create event must be in the state (rule 2.4 before room
// version 12), it must be the event the room ID names (rule 2 of room
// version 12), and it must belong to the same room.
func checkRoom(ev, create *event.PDU) error {
	if create == nil || !create.IsCreate() {
		return deny("auth events", "no m.room.create event in the state")
	}
	if ev.Version().RoomIDFromCreateEvent {
		id := create.ID()
		if !strings.HasPrefix(ev.RoomID(), "!") || len(id) < 2 || ev.RoomID()[1:] != id[1:] {
			return deny("room id", "room %s is not named by create event %s", ev.RoomID(), id)
		}
	}
	if create.RoomID() != ev.RoomID() {
		return deny("auth events", "create event %s is in room %s, not %s", create.ID(), create.RoomID(), ev.RoomID())
	}
	return nil
}

// checkFederate rejects an event from another server than the creator's
// when the create event sets m.federate to false.
func checkFederate(ev, create *event.PDU) error {
	if !createInfoOf(create).noFederate {
		return nil
	}
	if mxid.ServerOf(ev.Sender()) != mxid.ServerOf(create.Sender()) {
		return deny("m.federate", "room does not federate and %s is not on %s", ev.Sender(), mxid.ServerOf(create.Sender()))
	}
	return nil
}

// checkCreate applies rule 1, for m.room.create events.
func checkCreate(ev *event.PDU) error {
	v := ev.Version()
	if len(ev.PrevEvents()) > 0 {
		return deny("m.room.create", "has prev_events")
	}
	if v.RoomIDFromCreateEvent {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(ev.JSON(), &top); err != nil {
			return deny("m.room.create", "event is not a JSON object")
		}
		if _, ok := top["room_id"]; ok {
			return deny("m.room.create", "has a room_id")
		}
	} else if mxid.ServerOf(ev.RoomID()) != mxid.ServerOf(ev.Sender()) {
		return deny("m.room.create", "room %s is not on the sender's server %s", ev.RoomID(), mxid.ServerOf(ev.Sender()))
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(ev.Content(), &c); err != nil || c == nil {
		return deny("m.room.create", "content is not an object")
	}
	if raw, ok := c["room_version"]; ok {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return deny("m.room.create", "room_version is not a string")
		}
		if _, known := roomversion.Lookup(id); !known {
			return deny("m.room.create", "room_version %q is not recognised", id)
		}
	}
	if !v.CreatorIsSender {
		if _, ok := c["creator"]; !ok {
			return deny("m.room.create", "content has no creator")
		}
	}
	if raw, ok := c["additional_creators"]; ok && v.PrivilegedCreators {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil || list == nil {
			return deny("m.room.create", "additional_creators is not an array")
		}
		for _, item := range list {
			var u string
			if json.Unmarshal(item, &u) != nil || !ValidUserID(u) {
				return deny("m.room.create", "additional_creators entry %s is not a valid user ID", item)
			}
		}
	}
	return nil
}

// Membership returns content.membership of a member event, or "" when the
// event has none or it is not a string.
func Membership(ev *event.PDU) string {
	if ev == nil {
		return ""
	}
	return membershipCache.get(ev, parseMembership)
}

// membershipCache holds the membership of member events.
var membershipCache pduCache[string]

// parseMembership reads content.membership.
func parseMembership(ev *event.PDU) string {
	var c struct {
		Membership json.RawMessage `json:"membership"`
	}
	if json.Unmarshal(ev.Content(), &c) != nil {
		return ""
	}
	var m string
	if json.Unmarshal(c.Membership, &m) != nil {
		return ""
	}
	return m
}

// membershipIn returns userID's membership in state, "" when it has none.
func membershipIn(state State, userID string) string {
	return Membership(state.Get(memberKey(userID)))
}

// joinRule returns the room's join rule. A room without m.room.join_rules
// is treated as "invite": the spec leaves the case open, and servers agree
// on this reading, which state resolution needs them to. A join rule that
// is not a string is "", which no rule accepts.
func joinRule(state State) string {
	jr := state.Get(joinRulesKey)
	if jr == nil {
		return membershipInvite
	}
	var c struct {
		JoinRule json.RawMessage `json:"join_rule"`
	}
	if json.Unmarshal(jr.Content(), &c) != nil {
		return ""
	}
	var r string
	if json.Unmarshal(c.JoinRule, &r) != nil {
		return ""
	}
	return r
}
