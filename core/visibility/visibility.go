// Package visibility decides which room events a user may see: the
// client-server API's "History visibility" rules, applied to the state of
// the room at each event. /messages, /context, /event, /relations and /sync
// all filter events through it, so that every endpoint agrees.
//
// The rules, for a user U and an event E, given the room's
// m.room.history_visibility and U's membership at E:
//
//  1. world_readable: allow.
//  2. U's membership was join: allow.
//  3. shared, and U joined the room at some point after E: allow.
//  4. invited, and U's membership was invite: allow.
//  5. Otherwise deny.
//
// For m.room.history_visibility events, and for U's own m.room.member
// events, U may see the event when the rules allow it with the state before
// or after it. A missing or unknown visibility reads as shared.
//
// The pure rules are Standing.Allows and CanSee; Viewer applies them to
// events of a room.DAG for one local user.
package visibility

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth/core/event"
	"hearth/core/room"
)

// The history visibility values of the spec.
const (
	WorldReadable = "world_readable"
	Shared        = "shared"
	Invited       = "invited"
	Joined        = "joined"
)

// Event types and keys the rules read.
const (
	typeHistoryVisibility = "m.room.history_visibility"
	typeMember            = "m.room.member"
)

// HistoryVisibility returns the visibility an m.room.history_visibility
// event sets: Shared when ev is nil or its value is missing or unknown.
func HistoryVisibility(ev *event.PDU) string {
	if ev == nil {
		return Shared
	}
	var c struct {
		HistoryVisibility any `json:"history_visibility"`
	}
	if json.Unmarshal(ev.Content(), &c) != nil {
		return Shared
	}
	switch s, _ := c.HistoryVisibility.(string); s {
	case WorldReadable, Shared, Invited, Joined:
		return s
	}
	return Shared
}

// Standing is how the room stood for one user at one point of its history:
// its history visibility and the user's membership ("" for none).
type Standing struct {
	Visibility string
	Membership string
}

// Allows applies rules 1 to 5 to an event at which the user stood as s.
// joinedAfter says the user joined the room at some point after the event.
// An empty or unknown Visibility reads as shared.
func (s Standing) Allows(joinedAfter bool) bool {
	vis := s.Visibility
	switch vis {
	case WorldReadable, Shared, Invited, Joined:
	default:
		vis = Shared
	}
	switch {
	case vis == WorldReadable:
		return true
	case s.Membership == "join":
		return true
	case vis == Shared && joinedAfter:
		return true
	case vis == Invited && s.Membership == "invite":
		return true
	}
	return false
}

// CanSee reports whether userID may see ev, given how the room stood for
// the user just before and just after ev (the same for events that are not
// state) and whether the user joined the room at some point after ev.
func CanSee(userID string, ev *event.PDU, before, after Standing, joinedAfter bool) bool {
	if after.Allows(joinedAfter) {
		return true
	}
	return eitherSide(userID, ev) && before.Allows(joinedAfter)
}

// eitherSide reports whether ev is one of the events the user may see when
// the state on either side of it allows: a history visibility change, or
// the user's own membership change.
func eitherSide(userID string, ev *event.PDU) bool {
	sk, ok := ev.StateKey()
	if !ok {
		return false
	}
	return (ev.Type() == typeHistoryVisibility && sk == "") || (ev.Type() == typeMember && sk == userID)
}

// maxMembershipWalk bounds how many of a user's earlier membership events
// NewViewer steps through looking for their latest join.
const maxMembershipWalk = 32

// Viewer applies the rules to the events of one room for one local user.
// Build one per request with NewViewer: it reads the user's membership
// history once, and it caches what it learns from the room state. It is not
// safe for concurrent use.
type Viewer struct {
	dag    *room.DAG
	userID string
	roomID string
	member room.Membership
	// lastJoin is the stream position of the user's latest join event in
	// the room, 0 when there is none.
	lastJoin uint64
	cache    map[[2]string]Standing
}

// NewViewer returns a Viewer of roomID for userID, who must be a user of
// this server (the DAG indexes memberships of local users only; any other
// user is treated as never having been in the room).
func NewViewer(ctx context.Context, dag *room.DAG, userID, roomID string) (*Viewer, error) {
	m, err := dag.MembershipOf(ctx, userID, roomID)
	if err != nil {
		return nil, fmt.Errorf("visibility: membership of %s in %s: %w", userID, roomID, err)
	}
	v := &Viewer{dag: dag, userID: userID, roomID: roomID, member: m, cache: make(map[[2]string]Standing)}
	if m.Membership == "join" {
		v.lastJoin = m.Pos
		return v, nil
	}
	v.lastJoin, err = v.findLastJoin(ctx, m.EventID)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// findLastJoin walks back from the membership event id through the user's
// earlier membership events to the latest join, returning its position.
// Where the room's history cannot be followed (an event whose state is not
// known, as for the first event of a room joined over federation) it stops
// and reports no join, which only ever hides events.
func (v *Viewer) findLastJoin(ctx context.Context, id string) (uint64, error) {
	key := room.StateKeyOf(typeMember, v.userID)
	for range maxMembershipWalk {
		if id == "" {
			return 0, nil
		}
		info, err := v.dag.Info(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("visibility: membership event %s: %w", id, err)
		}
		if info.Event.Membership() == "join" {
			return info.Pos, nil
		}
		before, err := v.dag.StateBefore(ctx, id)
		if err != nil {
			return 0, nil
		}
		id = before[key]
	}
	return 0, nil
}

// Membership returns the user's current membership in the room.
func (v *Viewer) Membership() room.Membership { return v.member }

// JoinedAfter reports whether the user joined the room at some point after
// the event at stream position pos: they are joined now, or their latest
// join came after it.
func (v *Viewer) JoinedAfter(pos uint64) bool {
	return v.member.Membership == "join" || v.lastJoin > pos
}

// StandingAt returns how the room stood for the user in state s.
func (v *Viewer) StandingAt(ctx context.Context, s room.State) (Standing, error) {
	hvID := s[room.StateKeyOf(typeHistoryVisibility, "")]
	memberID := s[room.StateKeyOf(typeMember, v.userID)]
	ck := [2]string{hvID, memberID}
	if st, ok := v.cache[ck]; ok {
		return st, nil
	}
	st := Standing{Visibility: Shared}
	if hvID != "" {
		ev, err := v.dag.Event(ctx, hvID)
		if err != nil {
			return Standing{}, fmt.Errorf("visibility: history visibility event: %w", err)
		}
		st.Visibility = HistoryVisibility(ev)
	}
	if memberID != "" {
		ev, err := v.dag.Event(ctx, memberID)
		if err != nil {
			return Standing{}, fmt.Errorf("visibility: membership event: %w", err)
		}
		st.Membership = ev.Membership()
	}
	v.cache[ck] = st
	return st, nil
}

// CanSee reports whether the user may see ev, the room event at stream
// position pos (0 for an event outside the timeline, which then counts as
// older than any join).
func (v *Viewer) CanSee(ctx context.Context, ev *event.PDU, pos uint64) (bool, error) {
	after, err := v.dag.StateAfter(ctx, ev.ID())
	if err != nil {
		return false, fmt.Errorf("visibility: state after %s: %w", ev.ID(), err)
	}
	sa, err := v.StandingAt(ctx, after)
	if err != nil {
		return false, err
	}
	joinedAfter := v.JoinedAfter(pos)
	if sa.Allows(joinedAfter) {
		return true, nil
	}
	if !eitherSide(v.userID, ev) {
		return false, nil
	}
	before, err := v.dag.StateBefore(ctx, ev.ID())
	if err != nil {
		// The state before an event whose prev events are not known
		// cannot be computed; the event stays hidden.
		return false, nil
	}
	sb, err := v.StandingAt(ctx, before)
	if err != nil {
		return false, err
	}
	return sb.Allows(joinedAfter), nil
}

// Filter returns the events of evs the user may see, in their order.
func (v *Viewer) Filter(ctx context.Context, evs []room.TimelineEvent) ([]room.TimelineEvent, error) {
	out := evs[:0:0]
	for _, te := range evs {
		ok, err := v.CanSee(ctx, te.Event, te.Pos)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, te)
		}
	}
	return out, nil
}

// Checker answers one-off questions, "may this user see this event?", for
// callers that do not walk a room's timeline in one go, such as /sync's
// Visibility. Each call builds a Viewer, so batch callers should use
// NewViewer instead.
type Checker struct {
	dag *room.DAG
}

// NewChecker returns a Checker over dag.
func NewChecker(dag *room.DAG) *Checker { return &Checker{dag: dag} }

// CanSee reports whether the local user userID may see ev. Events outside
// the room's timeline (rejected, soft-failed, outliers) are never visible.
func (c *Checker) CanSee(ctx context.Context, userID string, ev *event.PDU) (bool, error) {
	info, err := c.dag.Info(ctx, ev.ID())
	if err != nil {
		return false, fmt.Errorf("visibility: %w", err)
	}
	if !info.InTimeline {
		return false, nil
	}
	v, err := NewViewer(ctx, c.dag, userID, ev.RoomID())
	if err != nil {
		return false, err
	}
	return v.CanSee(ctx, ev, info.Pos)
}
