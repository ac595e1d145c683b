package room

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
	"hearth/core/stateres"
	"hearth/persist"
)

// gapState returns the state after the event id on s, as events, with the
// auth chain of those events.
func gapState(t *testing.T, s *server, id string) (state, chain []*event.PDU) {
	t.Helper()
	ctx := context.Background()
	after, err := s.dag.StateAfter(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.dag.StateEvents(ctx, after)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(ids []string)
	walk = func(ids []string) {
		for _, a := range ids {
			if seen[a] {
				continue
			}
			seen[a] = true
			ev, err := s.dag.Event(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			chain = append(chain, ev)
			walk(ev.AuthEvents())
		}
	}
	for _, ev := range evs {
		state = append(state, ev)
		walk(ev.AuthEvents())
	}
	return state, chain
}

func TestAcceptWithState(t *testing.T) {
	ctx := context.Background()
	for _, vid := range []string{"10", "12"} {
		v := roomversion.MustLookup(vid)
		t.Run("v"+vid, func(t *testing.T) {
			ring := keyring{}
			a := newServer(t, "a.test", 1, ring)
			b := newServer(t, "b.test", 2, ring)
			c := newServer(t, "c.test", 3, ring)
			m := newServer(t, "m.test", 4, ring)
			alice, bob := "@alice:a.test", "@bob:b.test"
			evs := createPublicRoom(t, a, v, alice)
			roomID := evs[0].RoomID()
			federate(t, b, evs)
			federate(t, c, evs) // c then misses everything below

			join, err := b.dag.Send(ctx, roomID, Proto{Sender: bob, Type: "m.room.member", StateKey: strp(bob), Content: content(t, map[string]any{"membership": "join"})})
			if err != nil {
				t.Fatal(err)
			}
			if res, err := a.dag.Accept(ctx, join); err != nil || res.Outcome != Accepted {
				t.Fatalf("a accepts join: %v %v", res, err)
			}
			ban, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.member", StateKey: strp(bob), Content: content(t, map[string]any{"membership": "ban"})})
			if err != nil {
				t.Fatal(err)
			}
			state, chain := gapState(t, a, ban.ID())
			authFor := func(member string) []string {
				var ids []string
				if !v.RoomIDFromCreateEvent {
					ids = append(ids, evs[0].ID())
				}
				return append(ids, evs[2].ID(), member)
			}

			// bob, unaware of the ban, writes on his join; his auth
			// events allow it but the state before it (the ban) does not.
			late := buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.message", Content: content(t, map[string]any{"body": "still here"})},
				[]string{join.ID()}, authFor(join.ID()), 7)
			if _, err := c.dag.Accept(ctx, late); !errors.As(err, new(*MissingEventsError)) {
				t.Fatalf("Accept(gap event) = %v, want MissingEventsError", err)
			}
			if res, err := c.dag.AcceptWithState(ctx, late, state, chain); err != nil || res.Outcome != Rejected {
				t.Fatalf("AcceptWithState(unauthorised) = %v (%v), %v; want rejected", res.Outcome, res.Reason, err)
			}

			// A bad signature on the event itself stores nothing.
			msg := buildOn(t, a, v, roomID, Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": "after the gap"})},
				[]string{ban.ID()}, authFor(evs[1].ID()), 8)
			if _, err := c.dag.AcceptWithState(ctx, resign(t, msg, m.key), state, chain); !errors.Is(err, ErrSignature) {
				t.Fatalf("AcceptWithState(forged event) = %v, want ErrSignature", err)
			}
			if _, err := c.dag.Event(ctx, msg.ID()); !errors.Is(err, ErrUnknownEvent) {
				t.Fatalf("forged event was stored: %v", err)
			}

			// A forged topic among the state is dropped; the event is
			// accepted with the rest.
			forged := resign(t, buildOn(t, a, v, roomID, Proto{Sender: alice, Type: "m.room.topic", StateKey: strp(""), Content: content(t, map[string]any{"topic": "forged"})},
				[]string{ban.ID()}, authFor(evs[1].ID()), 8), m.key)
			oldCur, err := c.dag.CurrentState(ctx, roomID)
			if err != nil {
				t.Fatal(err)
			}
			oldFx, _ := c.dag.Extremities(ctx, roomID)
			res, err := c.dag.AcceptWithState(ctx, msg, append(state[:len(state):len(state)], forged), chain)
			if err != nil || res.Outcome != Accepted {
				t.Fatalf("AcceptWithState(gap event) = %v (%v), %v; want accepted", res.Outcome, res.Reason, err)
			}
			if _, err := c.dag.Event(ctx, forged.ID()); !errors.Is(err, ErrUnknownEvent) {
				t.Fatalf("forged state event was stored: %v", err)
			}
			if res, err := c.dag.AcceptWithState(ctx, msg, state, chain); err != nil || res.Outcome != Accepted {
				t.Fatalf("second AcceptWithState = %v, %v", res, err)
			}

			// The event is an extremity beside the old one, its state
			// after is the given state, and the current state is the
			// resolution of the old current state and that.
			fx, _ := c.dag.Extremities(ctx, roomID)
			if fmt.Sprint(fx) != fmt.Sprint(append(oldFx, msg.ID())) {
				t.Fatalf("extremities %v, want %v and %s", fx, oldFx, msg.ID())
			}
			after, err := c.dag.StateAfter(ctx, msg.ID())
			if err != nil {
				t.Fatal(err)
			}
			want, _ := a.dag.StateAfter(ctx, ban.ID())
			if fmt.Sprint(after) != fmt.Sprint(want) {
				t.Fatalf("state after the gap event:\n got %v\nwant %v", after, want)
			}
			var resolved map[event.StateKey]string
			c.dag.cfg.Store.View(ctx, func(tx persist.Tx) error {
				resolved, err = stateres.Resolve(v, []map[event.StateKey]string{oldCur, after}, txEvents{d: c.dag, tx: tx})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			cur, _ := c.dag.CurrentState(ctx, roomID)
			if fmt.Sprint(State(resolved)) != fmt.Sprint(cur) {
				t.Fatalf("current state:\n got %v\nwant %v", cur, resolved)
			}
			if cur[event.StateKey{Type: "m.room.member", StateKey: bob}] != ban.ID() {
				t.Fatalf("current state lacks the ban: %v", cur)
			}
			if _, ok := cur[event.StateKey{Type: "m.room.topic"}]; ok {
				t.Fatalf("forged topic in current state: %v", cur)
			}
			tl, err := c.dag.Timeline(ctx, roomID, 0, 0, true, 1)
			if err != nil || len(tl) != 1 || tl[0].Event.ID() != msg.ID() {
				t.Fatalf("timeline head %v, %v; want the gap event", tl, err)
			}

			// bob, writing with the state from before his ban, is
			// authorised by it but not by c's current state: soft-failed.
			joinState, joinChain := gapState(t, a, join.ID())
			fork := buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.message", Content: content(t, map[string]any{"body": "before the ban"})},
				[]string{join.ID()}, authFor(join.ID()), 7)
			if res, err := c.dag.AcceptWithState(ctx, fork, joinState, joinChain); err != nil || res.Outcome != SoftFailed {
				t.Fatalf("AcceptWithState(banned by now) = %v (%v), %v; want soft-failed", res.Outcome, res.Reason, err)
			}
			if fx2, _ := c.dag.Extremities(ctx, roomID); fmt.Sprint(fx2) != fmt.Sprint(fx) {
				t.Fatalf("a soft-failed event changed the extremities to %v", fx2)
			}

			// Later events on the gap event are accepted as usual.
			next := buildOn(t, a, v, roomID, Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": "next"})},
				[]string{msg.ID()}, authFor(evs[1].ID()), 9)
			if res, err := c.dag.Accept(ctx, next); err != nil || res.Outcome != Accepted {
				t.Fatalf("Accept(after gap) = %v, %v", res, err)
			}
			if _, err := c.dag.AcceptWithState(ctx, msg, state, chain); err != nil {
				t.Fatal(err)
			}
			if _, err := c.dag.AcceptWithState(ctx, buildOn(t, a, v, "!unknown:a.test", Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{})}, nil, nil, 1), nil, nil); err == nil {
				t.Fatal("AcceptWithState in an unknown room succeeded")
			}
		})
	}
}

func TestAddOutliers(t *testing.T) {
	ctx := context.Background()
	v := roomversion.MustLookup("10")
	ring := keyring{}
	a := newServer(t, "a.test", 1, ring)
	c := newServer(t, "c.test", 3, ring)
	m := newServer(t, "m.test", 4, ring)
	alice, bob := "@alice:a.test", "@bob:b.test"
	evs := createPublicRoom(t, a, v, alice)
	roomID := evs[0].RoomID()
	federate(t, c, evs)
	b := newServer(t, "b.test", 2, ring)
	federate(t, b, evs)
	// bob joins after a message c never saw; c gets the join and,
	// separately, a message citing it as an auth event.
	hidden, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": "unseen"})})
	if err != nil {
		t.Fatal(err)
	}
	join := buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.member", StateKey: strp(bob), Content: content(t, map[string]any{"membership": "join"})},
		[]string{hidden.ID()}, []string{evs[0].ID(), evs[2].ID(), evs[3].ID()}, 7)
	msg := buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.message", Content: content(t, map[string]any{"body": "hi"})},
		[]string{evs[4].ID()}, []string{evs[0].ID(), evs[2].ID(), join.ID()}, 8)
	var missing *MissingEventsError
	if _, err := c.dag.Accept(ctx, msg); !errors.As(err, &missing) || len(missing.Auth) != 1 {
		t.Fatalf("Accept before the auth event is known: %v", err)
	}
	forged := resign(t, buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.topic", StateKey: strp(""), Content: content(t, map[string]any{"topic": "x"})},
		[]string{evs[4].ID()}, []string{evs[0].ID(), evs[2].ID(), join.ID()}, 8), m.key)
	if err := c.dag.AddOutliers(ctx, roomID, []*event.PDU{join, forged}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.dag.Event(ctx, forged.ID()); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("forged outlier stored: %v", err)
	}
	if info, err := c.dag.Info(ctx, join.ID()); err != nil || info.InTimeline {
		t.Fatalf("outlier join: %+v, %v; want stored outside the timeline", info, err)
	}
	// The message can now be judged: its auth events allow it, but the
	// state before it (c's, without bob's join) does not.
	if res, err := c.dag.Accept(ctx, msg); err != nil || res.Outcome != Rejected {
		t.Fatalf("Accept after AddOutliers: %v, %v; want rejected by the state before it", res, err)
	}
	if err := c.dag.AddOutliers(ctx, "!nope:a.test", []*event.PDU{join}); !errors.Is(err, ErrUnknownRoom) {
		t.Fatalf("AddOutliers in an unknown room: %v", err)
	}
}
