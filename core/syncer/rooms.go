package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"hearth/core/event"
	"hearth/core/filter"
	"hearth/core/room"
	"hearth/core/synctoken"
)

// planKind says how a room appears in a response.
type planKind int

const (
	// joinFull: a room newly joined or seen for the first time, with its
	// full state and latest events.
	joinFull planKind = iota + 1
	// joinDelta: a joined room that changed since the token.
	joinDelta
	// leaveFull and leaveDelta are left rooms, with events up to the leave.
	leaveFull
	leaveDelta
)

// plan is what a response says about one room.
type plan struct {
	kind planKind
	m    room.Membership
	// receipts and typing are the room's ephemeral news, if any.
	receipts json.RawMessage
	typing   []string
	typed    bool
}

// rooms fills the rooms section: it decides which rooms changed, then builds
// each of them.
func (r *run) rooms(ctx context.Context) error {
	dag := r.s.cfg.DAG
	user := r.req.UserID
	memberships, err := r.s.memberships(ctx, user, r.to.Rooms)
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	if !r.initial && r.from.Rooms < r.to.Rooms {
		ids, err := dag.MembershipChanges(ctx, user, r.from.Rooms, r.to.Rooms)
		if err != nil {
			return fmt.Errorf("syncer: membership changes of %s: %w", user, err)
		}
		for _, id := range ids {
			changed[id] = true
		}
	}
	plans := map[string]*plan{}
	joined := make(map[string]room.Membership, len(memberships))
	for roomID, m := range memberships {
		if !r.f.MatchRoom(roomID) {
			continue
		}
		if m.Pos > r.to.Rooms {
			// The membership changed at a position this response does
			// not reach yet: use the one the room had at r.to.
			if m, err = r.membershipAt(ctx, roomID, r.to.Rooms); err != nil {
				return err
			}
		}
		switch m.Membership {
		case "join":
			joined[roomID] = m
			kind, err := r.joinedKind(ctx, roomID, changed[roomID])
			if err != nil {
				return err
			}
			if kind != 0 {
				plans[roomID] = &plan{kind: kind, m: m}
			}
		case "invite", "knock":
			if r.initial || changed[roomID] {
				if err := r.strippedRoom(ctx, roomID, m); err != nil {
					return err
				}
			}
		case "leave", "ban":
			shown := r.initial && r.f.IncludeLeave() || !r.initial && changed[roomID]
			if !shown {
				continue
			}
			if forgot, err := r.forgotten(ctx, roomID); err != nil {
				return err
			} else if forgot {
				continue
			}
			switch {
			case r.initial:
				plans[roomID] = &plan{kind: leaveFull, m: m}
			default:
				before, err := r.membershipAt(ctx, roomID, r.from.Rooms)
				if err != nil {
					return err
				}
				kind := leaveFull
				if before.Membership == "join" && !r.req.FullState {
					kind = leaveDelta
				}
				plans[roomID] = &plan{kind: kind, m: m}
			}
		}
	}
	if err := r.ephemeral(ctx, joined, plans); err != nil {
		return err
	}
	for roomID := range r.roomAccountData {
		if m, ok := joined[roomID]; ok && plans[roomID] == nil {
			plans[roomID] = &plan{kind: joinDelta, m: m}
		}
	}
	ids := make([]string, 0, len(plans))
	for id := range plans {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, roomID := range ids {
		if err := r.buildRoom(ctx, roomID, plans[roomID]); err != nil {
			return err
		}
	}
	return nil
}

// forgotten reports whether the user forgot roomID, which sync then leaves
// out.
func (r *run) forgotten(ctx context.Context, roomID string) (bool, error) {
	if r.s.cfg.Forgotten == nil {
		return false, nil
	}
	forgot, err := r.s.cfg.Forgotten.Forgotten(ctx, r.req.UserID, roomID)
	if err != nil {
		return false, fmt.Errorf("syncer: whether %s forgot %s: %w", r.req.UserID, roomID, err)
	}
	return forgot, nil
}

// joinedKind decides how a joined room appears: in full when this is an
// initial sync or the user joined since the token, as a delta when its
// timeline moved, and not at all (0) otherwise.
func (r *run) joinedKind(ctx context.Context, roomID string, membershipChanged bool) (planKind, error) {
	if r.initial {
		return joinFull, nil
	}
	if membershipChanged {
		before, err := r.membershipAt(ctx, roomID, r.from.Rooms)
		if err != nil {
			return 0, err
		}
		if before.Membership != "join" {
			return joinFull, nil
		}
	}
	if r.req.FullState {
		return joinDelta, nil
	}
	last, err := r.s.cfg.DAG.LastPos(ctx, roomID)
	if errors.Is(err, room.ErrUnknownRoom) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("syncer: last position of %s: %w", roomID, err)
	}
	if last > r.from.Rooms {
		return joinDelta, nil
	}
	return 0, nil
}

// membershipAt returns the user's membership in a room as of stream
// position pos, from the room's state then.
func (r *run) membershipAt(ctx context.Context, roomID string, pos uint64) (room.Membership, error) {
	none := room.Membership{RoomID: roomID}
	if pos == 0 {
		return none, nil
	}
	st, err := r.s.cfg.DAG.StateAt(ctx, roomID, pos)
	if errors.Is(err, room.ErrUnknownRoom) {
		return none, nil
	}
	if err != nil {
		return none, fmt.Errorf("syncer: state of %s at %d: %w", roomID, pos, err)
	}
	id, ok := st[memberKey(r.req.UserID)]
	if !ok {
		return none, nil
	}
	info, err := r.s.cfg.DAG.Info(ctx, id)
	if err != nil {
		return none, fmt.Errorf("syncer: membership event %s: %w", id, err)
	}
	return room.Membership{RoomID: roomID, Membership: info.Event.Membership(), EventID: id, Pos: info.Pos}, nil
}

func memberKey(userID string) event.StateKey {
	return event.StateKey{Type: "m.room.member", StateKey: userID}
}

// ephemeral reads the receipts and typing of joined rooms that changed, and
// marks those rooms for the response.
func (r *run) ephemeral(ctx context.Context, joined map[string]room.Membership, plans map[string]*plan) error {
	ef := r.f.Ephemeral()
	receipts, typing := r.s.cfg.Receipts, r.s.cfg.Typing
	wantReceipts := receipts != nil && ef.Match("m.receipt", "") && (r.initial || r.from.Receipts < r.to.Receipts)
	wantTyping := typing != nil && ef.Match("m.typing", "") && (r.initial || r.from.Typing != r.to.Typing)
	if !wantReceipts && !wantTyping {
		return nil
	}
	rooms := make([]string, 0, len(joined))
	for id := range joined {
		if ef.MatchRoom(id) {
			rooms = append(rooms, id)
		}
	}
	if len(rooms) == 0 {
		return nil
	}
	slices.Sort(rooms)
	add := func(roomID string) *plan {
		p := plans[roomID]
		if p == nil {
			p = &plan{kind: joinDelta, m: joined[roomID]}
			plans[roomID] = p
		}
		return p
	}
	if wantReceipts {
		got, err := receipts.Changes(ctx, r.req.UserID, rooms, r.from.Receipts, r.to.Receipts)
		if err != nil {
			return fmt.Errorf("syncer: receipts for %s: %w", r.req.UserID, err)
		}
		for roomID, content := range got {
			if _, ok := slices.BinarySearch(rooms, roomID); ok {
				add(roomID).receipts = content
			}
		}
	}
	if wantTyping {
		got, err := typing.Changes(ctx, rooms, r.from.Typing, r.to.Typing)
		if err != nil {
			return fmt.Errorf("syncer: typing for %s: %w", r.req.UserID, err)
		}
		for roomID, users := range got {
			if _, ok := slices.BinarySearch(rooms, roomID); !ok {
				continue
			}
			if r.initial && len(users) == 0 {
				continue
			}
			p := add(roomID)
			p.typing, p.typed = users, true
		}
	}
	return nil
}

// ephemeralEvents returns a room's typing and receipt events.
func (r *run) ephemeralEvents(roomID string, p *plan) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if p.typed {
		users := p.typing
		if users == nil {
			users = []string{}
		}
		raw, err := json.Marshal(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": users}})
		if err != nil {
			return nil, fmt.Errorf("syncer: encode typing of %s: %w", roomID, err)
		}
		out = append(out, raw)
	}
	if p.receipts != nil {
		raw, err := json.Marshal(map[string]any{"type": "m.receipt", "content": p.receipts})
		if err != nil {
			return nil, fmt.Errorf("syncer: encode receipts of %s: %w", roomID, err)
		}
		out = append(out, raw)
	}
	limit := r.f.Ephemeral().LimitOr(len(out), len(out))
	return out[:limit], nil
}

// buildRoom adds one planned room to the response.
func (r *run) buildRoom(ctx context.Context, roomID string, p *plan) error {
	switch p.kind {
	case joinFull, joinDelta:
		return r.joinedRoom(ctx, roomID, p)
	default:
		return r.leftRoom(ctx, roomID, p)
	}
}

// joinedRoom builds a joined room's section.
func (r *run) joinedRoom(ctx context.Context, roomID string, p *plan) error {
	full := p.kind == joinFull
	lower := r.from.Rooms
	if full {
		lower = 0
	}
	// Events since the user's latest membership change were sent while
	// they were joined: only older ones need a visibility check.
	visibleFrom := p.m.Pos
	if visibleFrom == 0 {
		visibleFrom = math.MaxUint64
	}
	of := joinedSection
	if full && !r.initial {
		of = newlyJoinedSection
	}
	sec, err := r.section(ctx, roomID, lower, r.to.Rooms, visibleFrom, full || r.req.FullState, of)
	if err != nil {
		return err
	}
	eph, err := r.ephemeralEvents(roomID, p)
	if err != nil {
		return err
	}
	ad, err := r.roomAccountDataEvents(roomID)
	if err != nil {
		return err
	}
	if !full && len(sec.timeline.Events) == 0 && len(sec.state) == 0 && len(eph) == 0 && len(ad) == 0 && sec.summary == nil {
		// The room moved only beyond r.to, or only by events this
		// user may not see or the filter drops.
		return nil
	}
	jr := &JoinedRoom{
		State:       EventBatch{Events: sec.state},
		Timeline:    sec.timeline,
		Ephemeral:   EventBatch{Events: eph},
		AccountData: EventBatch{Events: ad},
	}
	if sec.summary != nil {
		jr.Summary = *sec.summary
	}
	if src := r.s.cfg.Unread; src != nil {
		n, h, err := src.Counts(ctx, r.req.UserID, roomID)
		if err != nil {
			return fmt.Errorf("syncer: unread counts of %s in %s: %w", r.req.UserID, roomID, err)
		}
		jr.UnreadNotifications = &UnreadCounts{HighlightCount: h, NotificationCount: n}
	}
	r.resp.Rooms.Join[roomID] = jr
	return nil
}

// leftRoom builds a left room's section: its events up to the user's leave.
func (r *run) leftRoom(ctx context.Context, roomID string, p *plan) error {
	upper := min(p.m.Pos, r.to.Rooms)
	if upper == 0 {
		return nil
	}
	full := p.kind == leaveFull
	lower := r.from.Rooms
	visibleFrom := uint64(0)
	if full {
		lower = 0
		visibleFrom = math.MaxUint64
	}
	var sec section
	if full {
		wasJoined, err := r.joinedBefore(ctx, p.m)
		if err != nil {
			return err
		}
		if !wasJoined {
			// A rejected or withdrawn invite, a knock that was
			// refused: the user never saw the room, and learns only
			// that they are out of it.
			if sec, err = r.ownEventOnly(ctx, p.m); err != nil {
				return err
			}
		}
	}
	if sec.timeline.Events == nil {
		var err error
		if sec, err = r.section(ctx, roomID, lower, upper, visibleFrom, full, leftSection); err != nil {
			return err
		}
	}
	ad, err := r.roomAccountDataEvents(roomID)
	if err != nil {
		return err
	}
	r.resp.Rooms.Leave[roomID] = &LeftRoom{
		State:       EventBatch{Events: sec.state},
		Timeline:    sec.timeline,
		AccountData: EventBatch{Events: ad},
	}
	return nil
}

// roomAccountDataEvents returns the room's account data that changed and
// passes the filter.
func (r *run) roomAccountDataEvents(roomID string) ([]json.RawMessage, error) {
	f := r.f.RoomAccountData()
	if !f.MatchRoom(roomID) || len(r.roomAccountData[roomID]) == 0 {
		return nil, nil
	}
	var ef *filter.EventFilter
	if f != nil {
		ef = typeOnly(&f.EventFilter)
	}
	return accountDataEvents(r.roomAccountData[roomID], ef)
}

// joinedBefore reports whether the user was joined just before the
// membership change m.
func (r *run) joinedBefore(ctx context.Context, m room.Membership) (bool, error) {
	st, err := r.s.cfg.DAG.StateBefore(ctx, m.EventID)
	if err != nil {
		return false, fmt.Errorf("syncer: state before %s: %w", m.EventID, err)
	}
	id, ok := st[memberKey(r.req.UserID)]
	if !ok {
		return false, nil
	}
	ev, err := r.s.cfg.DAG.Event(ctx, id)
	if err != nil {
		return false, fmt.Errorf("syncer: membership event %s: %w", id, err)
	}
	return ev.Membership() == "join", nil
}

// ownEventOnly is the section of a room the user never joined: only their
// own latest membership event.
func (r *run) ownEventOnly(ctx context.Context, m room.Membership) (section, error) {
	ev, err := r.s.cfg.DAG.Event(ctx, m.EventID)
	if err != nil {
		return section{}, fmt.Errorf("syncer: membership event %s: %w", m.EventID, err)
	}
	raw, err := r.format(ctx, ev, nil)
	if err != nil {
		return section{}, err
	}
	return section{timeline: Timeline{Events: []json.RawMessage{raw}, PrevBatch: synctoken.Before(m.Pos)}}, nil
}
