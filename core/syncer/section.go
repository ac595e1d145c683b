package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"hearth/core/event"
	"hearth/core/room"
	"hearth/core/synctoken"
)

// section is a room's timeline, state and summary in a response.
type section struct {
	timeline Timeline
	state    []json.RawMessage
	// summary is nil when the room's membership did not change.
	summary *Summary
}

// sectionOf says whose section is being built.
type sectionOf int

const (
	leftSection sectionOf = iota
	joinedSection
	// newlyJoinedSection is a room joined since the token.
	newlyJoinedSection
)

// section builds the timeline of roomID over (lower, upper] and the state
// that goes with it: the full state at the start of the timeline when full,
// else the state that changed between lower and the start of the timeline.
// Joined rooms also get a summary when their membership changed.
func (r *run) section(ctx context.Context, roomID string, lower, upper, visibleFrom uint64, full bool, of sectionOf) (section, error) {
	joined := of != leftSection
	dag := r.s.cfg.DAG
	var sec section
	w, err := r.window(ctx, roomID, lower, upper, visibleFrom)
	if err != nil {
		return sec, err
	}
	inTimeline := make(map[string]bool, len(w.picked))
	senders := map[string]bool{}
	memberSeen := false
	for _, te := range w.scanned {
		if te.Event.Type() == "m.room.member" {
			memberSeen = true
		}
	}
	for _, te := range w.picked {
		inTimeline[te.Event.ID()] = true
		senders[te.Event.Sender()] = true
	}

	// The state at the start of the timeline, read only when needed.
	var start room.State
	startState := func() (room.State, error) {
		if start != nil {
			return start, nil
		}
		var err error
		if len(w.picked) > 0 {
			start, err = dag.StateBefore(ctx, w.picked[0].Event.ID())
		} else {
			start, err = dag.StateAt(ctx, roomID, upper)
		}
		if err != nil {
			return nil, fmt.Errorf("syncer: state of %s at the start of the timeline: %w", roomID, err)
		}
		return start, nil
	}

	// Which state keys to send.
	want := map[event.StateKey]string{}
	gapMembers := room.State{}
	lazy := r.f.LazyLoadMembers()
	needDelta := w.limited || w.skipped || (len(w.picked) > 0 && len(w.picked[0].Event.PrevEvents()) > 1)
	switch {
	case full:
		st, err := startState()
		if err != nil {
			return sec, err
		}
		for k, id := range st {
			if !lazy || k.Type != "m.room.member" || senders[k.StateKey] || k.StateKey == r.req.UserID {
				want[k] = id
			}
		}
	case needDelta:
		st, err := startState()
		if err != nil {
			return sec, err
		}
		old, err := dag.StateAt(ctx, roomID, lower)
		if err != nil {
			return sec, fmt.Errorf("syncer: state of %s at %d: %w", roomID, lower, err)
		}
		// Membership changes in the gap are always sent, lazy or not.
		for k, id := range st {
			if old[k] != id {
				want[k] = id
				if k.Type == "m.room.member" {
					memberSeen = true
					gapMembers[k] = id
				}
			}
		}
	}
	if lazy && !full && len(senders) > 0 {
		// The senders' member events, which the client may already have:
		// sending them again is allowed and keeps it simple.
		st, err := startState()
		if err != nil {
			return sec, err
		}
		for s := range senders {
			if id, ok := st[memberKey(s)]; ok {
				want[memberKey(s)] = id
			}
		}
	}

	if joined && (full || memberSeen) {
		end, err := dag.StateAt(ctx, roomID, upper)
		if err != nil {
			return sec, fmt.Errorf("syncer: state of %s at %d: %w", roomID, upper, err)
		}
		sum, members, err := r.summary(ctx, end)
		if err != nil {
			return sec, err
		}
		sec.summary = &sum
		if lazy {
			for _, h := range sum.Heroes {
				if id, ok := end[memberKey(h)]; ok {
					want[memberKey(h)] = id
				}
			}
		}
		if of == newlyJoinedSection {
			for _, u := range members {
				if u != r.req.UserID {
					r.deviceChanged[u] = true
				}
			}
		}
	}
	if of == joinedSection && !r.initial && r.s.cfg.DeviceKeys != nil {
		if err := r.newRoomMates(ctx, w, gapMembers); err != nil {
			return sec, err
		}
	}

	state, err := r.stateEvents(ctx, roomID, want, inTimeline)
	if err != nil {
		return sec, err
	}
	sec.state = state
	if sec.timeline, err = r.timelineSection(ctx, w, startState); err != nil {
		return sec, err
	}
	return sec, nil
}

// stateEvents loads, filters and formats the wanted state events, leaving
// out those in the timeline, sorted by type and state key.
func (r *run) stateEvents(ctx context.Context, roomID string, want map[event.StateKey]string, inTimeline map[string]bool) ([]json.RawMessage, error) {
	sf := r.f.State()
	if !sf.MatchRoom(roomID) {
		return nil, nil
	}
	var byType = sf
	if sf != nil {
		c := *sf
		c.EventFilter = *typeOnly(&sf.EventFilter)
		byType = &c
	}
	sel := room.State{}
	for k, id := range want {
		if !inTimeline[id] && byType.Match(k.Type, "") {
			sel[k] = id
		}
	}
	if len(sel) == 0 {
		return nil, nil
	}
	evs, err := r.s.cfg.DAG.StateEvents(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("syncer: state events of %s: %w", roomID, err)
	}
	keys := make([]event.StateKey, 0, len(evs))
	for k, ev := range evs {
		if sf.MatchEvent(roomID, ev.Type(), ev.Sender(), ev.Content()) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b event.StateKey) int {
		if a.Type != b.Type {
			return compareStrings(a.Type, b.Type)
		}
		return compareStrings(a.StateKey, b.StateKey)
	})
	out := make([]json.RawMessage, 0, len(keys))
	for _, k := range keys {
		raw, err := r.format(ctx, evs[k], nil)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// timelineSection formats the picked events. State events carry the
// content they replaced, found by replaying the window's state events over
// the state at its start.
func (r *run) timelineSection(ctx context.Context, w window, startState func() (room.State, error)) (Timeline, error) {
	t := Timeline{Limited: w.limited}
	if len(w.picked) > 0 {
		t.PrevBatch = synctoken.Before(w.picked[0].Pos)
	} else {
		t.PrevBatch = synctoken.Before(w.oldest)
	}
	needState := false
	for _, te := range w.picked {
		if te.Event.IsState() {
			needState = true
			break
		}
	}
	var start room.State
	if needState {
		var err error
		if start, err = startState(); err != nil {
			return t, err
		}
	}
	overlay := map[event.StateKey]string{}
	picked := make(map[string]bool, len(w.picked))
	for _, te := range w.picked {
		picked[te.Event.ID()] = true
	}
	for _, te := range w.scanned {
		ev := te.Event
		var prev *prevState
		if ev.IsState() && needState {
			k := ev.StateTuple()
			id, ok := overlay[k]
			if !ok {
				id = start[k]
			}
			if id != "" && picked[ev.ID()] {
				p, err := r.s.cfg.DAG.Event(ctx, id)
				if err != nil {
					return t, fmt.Errorf("syncer: replaced state event %s: %w", id, err)
				}
				prev = &prevState{content: p.Content(), sender: p.Sender()}
			}
			overlay[k] = ev.ID()
		}
		if !picked[ev.ID()] {
			continue
		}
		raw, err := r.format(ctx, ev, prev)
		if err != nil {
			return t, err
		}
		t.Events = append(t.Events, raw)
	}
	return t, nil
}

// newRoomMates notes, for device_lists.changed, the users who joined a room
// the user is in during the window or its gap: the client must learn their
// devices to encrypt for them.
func (r *run) newRoomMates(ctx context.Context, w window, gap room.State) error {
	note := func(ev *event.PDU) {
		if k, ok := ev.StateKey(); ok && ev.Type() == "m.room.member" && k != r.req.UserID && ev.Membership() == "join" {
			r.deviceChanged[k] = true
		}
	}
	for _, te := range w.scanned {
		note(te.Event)
	}
	if len(gap) == 0 {
		return nil
	}
	evs, err := r.s.cfg.DAG.StateEvents(ctx, gap)
	if err != nil {
		return fmt.Errorf("syncer: member events: %w", err)
	}
	for _, ev := range evs {
		note(ev)
	}
	return nil
}
