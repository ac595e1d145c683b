package syncer

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"hearth/core/event"
)

func TestIncrementalSync(t *testing.T) {
	type setup struct {
		e      *env
		roomID string
		quiet  string // a room bob is in where nothing happens
	}
	tests := []struct {
		name string
		user string
		// act happens between the initial and the incremental sync.
		act   func(t *testing.T, s setup) []*event.PDU
		check func(t *testing.T, s setup, evs []*event.PDU, resp *Response)
	}{
		{
			name: "new message",
			user: bob,
			act: func(t *testing.T, s setup) []*event.PDU {
				return []*event.PDU{s.e.message(t, s.roomID, alice, "news")}
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				if len(resp.Rooms.Join) != 1 {
					t.Fatalf("rooms = %v, want only the room with news", resp.Rooms.Join)
				}
				jr := resp.Rooms.Join[s.roomID]
				if got := ids(t, jr.Timeline.Events); !slices.Equal(got, pduIDs(evs...)) || jr.Timeline.Limited {
					t.Fatalf("timeline = %v limited %v", got, jr.Timeline.Limited)
				}
				if len(jr.State.Events) != 0 || jr.Summary.JoinedMemberCount != nil {
					t.Fatalf("state %v, summary %+v: nothing changed", keys(t, jr.State.Events), jr.Summary)
				}
			},
		},
		{
			name: "another user joins",
			user: bob,
			act: func(t *testing.T, s setup) []*event.PDU {
				return []*event.PDU{s.e.member(t, s.roomID, carol, carol, "join")}
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				jr := resp.Rooms.Join[s.roomID]
				if got := ids(t, jr.Timeline.Events); !slices.Equal(got, pduIDs(evs...)) {
					t.Fatalf("timeline = %v", got)
				}
				if c := jr.Summary.JoinedMemberCount; c == nil || *c != 3 {
					t.Fatalf("summary after a join = %+v", jr.Summary)
				}
			},
		},
		{
			name: "user joins a room",
			user: carol,
			act: func(t *testing.T, s setup) []*event.PDU {
				for i := range 10 {
					s.e.message(t, s.roomID, alice, fmt.Sprint(i))
				}
				return []*event.PDU{s.e.member(t, s.roomID, carol, carol, "join")}
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				jr := resp.Rooms.Join[s.roomID]
				if jr == nil {
					t.Fatalf("newly joined room missing: %+v", resp.Rooms)
				}
				// Full state and the latest events, as for an initial sync.
				st := keys(t, jr.State.Events)
				for _, k := range []string{"m.room.create|", "m.room.name|", "m.room.member|" + alice} {
					if !slices.Contains(st, k) {
						t.Fatalf("newly joined room's state lacks %s: %v", k, st)
					}
				}
				tl := ids(t, jr.Timeline.Events)
				if len(tl) < 2 || tl[len(tl)-1] != evs[0].ID() {
					t.Fatalf("timeline = %v, want earlier events then the join", tl)
				}
			},
		},
		{
			name: "user leaves",
			user: bob,
			act: func(t *testing.T, s setup) []*event.PDU {
				m := s.e.message(t, s.roomID, alice, "bye")
				l := s.e.member(t, s.roomID, bob, bob, "leave")
				s.e.message(t, s.roomID, alice, "bob does not see this")
				return []*event.PDU{m, l}
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				if _, ok := resp.Rooms.Join[s.roomID]; ok {
					t.Fatal("left room still joined")
				}
				lr := resp.Rooms.Leave[s.roomID]
				if lr == nil {
					t.Fatalf("no leave section: %+v", resp.Rooms)
				}
				if got := ids(t, lr.Timeline.Events); !slices.Equal(got, pduIDs(evs...)) {
					t.Fatalf("left timeline = %v, want %v", got, pduIDs(evs...))
				}
			},
		},
		{
			name: "state change in the gap",
			user: bob,
			act: func(t *testing.T, s setup) []*event.PDU {
				name := s.e.state(t, s.roomID, alice, "m.room.name", "", map[string]any{"name": "Renamed"})
				topic := s.e.state(t, s.roomID, alice, "m.room.topic", "", map[string]any{"topic": "x"})
				var out []*event.PDU
				for i := range 11 {
					out = append(out, s.e.message(t, s.roomID, alice, fmt.Sprint(i)))
				}
				return append([]*event.PDU{name, topic}, out...)
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				jr := resp.Rooms.Join[s.roomID]
				if !jr.Timeline.Limited || len(jr.Timeline.Events) != 10 {
					t.Fatalf("timeline of %d events limited %v", len(jr.Timeline.Events), jr.Timeline.Limited)
				}
				// The gap held the rename and the topic: both are state
				// deltas; nothing else changed.
				if got := ids(t, jr.State.Events); !slices.Equal(got, pduIDs(evs[0], evs[1])) {
					t.Fatalf("state delta = %v, want the rename and the topic", keys(t, jr.State.Events))
				}
			},
		},
		{
			name: "state change within the timeline",
			user: bob,
			act: func(t *testing.T, s setup) []*event.PDU {
				return []*event.PDU{
					s.e.message(t, s.roomID, alice, "a"),
					s.e.state(t, s.roomID, alice, "m.room.name", "", map[string]any{"name": "Renamed"}),
					s.e.message(t, s.roomID, alice, "b"),
				}
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				jr := resp.Rooms.Join[s.roomID]
				if got := ids(t, jr.Timeline.Events); !slices.Equal(got, pduIDs(evs...)) || len(jr.State.Events) != 0 {
					t.Fatalf("timeline %v, state %v", got, keys(t, jr.State.Events))
				}
				if prev := decode(t, jr.Timeline.Events)[1].Unsigned["prev_content"]; prev == nil {
					t.Fatal("rename without prev_content")
				}
			},
		},
		{
			name: "invite",
			user: carol,
			act: func(t *testing.T, s setup) []*event.PDU {
				return []*event.PDU{s.e.member(t, s.roomID, alice, carol, "invite")}
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				ir := resp.Rooms.Invite[s.roomID]
				if ir == nil || ids(t, ir.InviteState.Events)[len(ir.InviteState.Events)-1] != evs[0].ID() {
					t.Fatalf("invite = %+v", resp.Rooms)
				}
			},
		},
		{
			name: "invite rejected",
			user: carol,
			act: func(t *testing.T, s setup) []*event.PDU {
				s.e.member(t, s.roomID, alice, carol, "invite")
				s.e.message(t, s.roomID, alice, "carol never sees this")
				return []*event.PDU{s.e.member(t, s.roomID, carol, carol, "leave")}
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				lr := resp.Rooms.Leave[s.roomID]
				if lr == nil || len(resp.Rooms.Invite) != 0 {
					t.Fatalf("rooms = %+v", resp.Rooms)
				}
				if got := ids(t, lr.Timeline.Events); !slices.Equal(got, pduIDs(evs...)) || len(lr.State.Events) != 0 {
					t.Fatalf("rejected invite: timeline %v state %v, want only the leave", got, keys(t, lr.State.Events))
				}
			},
		},
		{
			name: "nothing",
			user: bob,
			act:  func(t *testing.T, s setup) []*event.PDU { return nil },
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				if !resp.empty() {
					t.Fatalf("response with nothing new: %+v", resp)
				}
			},
		},
		{
			name: "news in a room the user is not in",
			user: bob,
			act: func(t *testing.T, s setup) []*event.PDU {
				other := s.e.createRoom(t, carol, "elsewhere")
				s.e.message(t, other, carol, "x")
				return nil
			},
			check: func(t *testing.T, s setup, evs []*event.PDU, resp *Response) {
				if !resp.empty() {
					t.Fatalf("response = %+v", resp.Rooms)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			s := setup{e: e, roomID: e.createRoom(t, alice, "Tea")}
			e.member(t, s.roomID, bob, bob, "join")
			s.quiet = e.createRoom(t, bob, "quiet")
			first := e.do(t, Request{UserID: tc.user})
			tok := since(t, first)
			evs := tc.act(t, s)
			resp := e.do(t, Request{UserID: tc.user, Since: tok})
			if _, ok := resp.Rooms.Join[s.quiet]; ok {
				t.Fatal("the quiet room is in the incremental sync")
			}
			next := since(t, resp)
			if now, _ := e.dag.Position(); next.Rooms != now || next.Rooms < tok.Rooms {
				t.Fatalf("next_batch rooms %d, want %d", next.Rooms, now)
			}
			tc.check(t, s, evs, resp)
		})
	}
}

func TestIncrementalFullState(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Tea")
	tok := since(t, e.do(t, Request{UserID: alice}))
	resp := e.do(t, Request{UserID: alice, Since: tok, FullState: true, Timeout: 1 << 40})
	jr := resp.Rooms.Join[roomID]
	if jr == nil || len(jr.Timeline.Events) != 0 || !slices.Contains(keys(t, jr.State.Events), "m.room.create|") {
		t.Fatalf("full_state sync = %+v", resp.Rooms)
	}
}

func TestIncrementalLazyMembers(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Tea")
	e.member(t, roomID, bob, bob, "join")
	e.member(t, roomID, carol, carol, "join")
	lazy := mustFilter(t, `{"room":{"state":{"lazy_load_members":true}}}`)
	tok := since(t, e.do(t, Request{UserID: bob, Filter: lazy}))
	msg := e.message(t, roomID, carol, "hello")
	jr := e.do(t, Request{UserID: bob, Filter: lazy, Since: tok}).Rooms.Join[roomID]
	if got := ids(t, jr.Timeline.Events); !slices.Equal(got, pduIDs(msg)) {
		t.Fatalf("timeline = %v", got)
	}
	if got := keys(t, jr.State.Events); !slices.Equal(got, []string{"m.room.member|" + carol}) {
		t.Fatalf("lazy state = %v, want the sender's member event", got)
	}
}

type denyBefore struct{ ids map[string]bool }

func (d denyBefore) CanSee(_ context.Context, _ string, ev *event.PDU) (bool, error) {
	return !d.ids[ev.ID()], nil
}

func TestVisibilityAppliesBeforeJoin(t *testing.T) {
	hidden := map[string]bool{}
	e := newEnv(t, func(c *Config) { c.Visibility = denyBefore{hidden} })
	roomID := e.createRoom(t, alice, "Tea")
	secret := e.message(t, roomID, alice, "secret")
	hidden[secret.ID()] = true
	join := e.member(t, roomID, bob, bob, "join")
	after := e.message(t, roomID, alice, "public")
	hidden[after.ID()] = true // after the join: never asked about

	tl := ids(t, e.do(t, Request{UserID: bob}).Rooms.Join[roomID].Timeline.Events)
	if slices.Contains(tl, secret.ID()) || !slices.Contains(tl, join.ID()) || !slices.Contains(tl, after.ID()) {
		t.Fatalf("timeline = %v", tl)
	}
}

type txns map[string]string

func (x txns) TxnID(_ context.Context, userID, deviceID, eventID string) (string, bool) {
	id, ok := x[userID+"|"+deviceID+"|"+eventID]
	return id, ok
}

func TestTransactionIDs(t *testing.T) {
	x := txns{}
	e := newEnv(t, func(c *Config) { c.Transactions = x })
	roomID := e.createRoom(t, alice, "Tea")
	msg := e.message(t, roomID, alice, "mine")
	x[alice+"|PHONE|"+msg.ID()] = "txn1"
	for _, tc := range []struct{ device, want string }{{"PHONE", "txn1"}, {"LAPTOP", ""}} {
		tl := decode(t, e.do(t, Request{UserID: alice, DeviceID: tc.device}).Rooms.Join[roomID].Timeline.Events)
		got, _ := tl[len(tl)-1].Unsigned["transaction_id"].(string)
		if got != tc.want {
			t.Fatalf("device %s sees transaction_id %q, want %q", tc.device, got, tc.want)
		}
	}
}
