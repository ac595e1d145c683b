package syncer

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"hearth/core/event"
	"hearth/core/filter"
	"hearth/core/synctoken"
)

func mustFilter(t testing.TB, raw string) *filter.Filter {
	t.Helper()
	f, err := filter.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("filter %s: %v", raw, err)
	}
	return f
}

func TestInitialSyncJoinedRoom(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Tea")
	join := e.member(t, roomID, bob, bob, "join")
	var msgs []*event.PDU
	for i := range 12 {
		msgs = append(msgs, e.message(t, roomID, alice, fmt.Sprintf("m%d", i)))
	}
	other := e.createRoom(t, carol, "") // bob is not in it

	resp := e.do(t, Request{UserID: bob, DeviceID: "BOBDEV"})
	if _, ok := resp.Rooms.Join[other]; ok {
		t.Fatal("a room bob never joined is in his sync")
	}
	jr := resp.Rooms.Join[roomID]
	if jr == nil {
		t.Fatalf("room missing: %+v", resp.Rooms)
	}
	// Default limit: the last 10 events, limited, paginating before them.
	tl := jr.Timeline
	if got, want := ids(t, tl.Events), pduIDs(msgs[2:]...); !slices.Equal(got, want) {
		t.Fatalf("timeline = %v, want %v", got, want)
	}
	pos, err := e.dag.Info(t.Context(), msgs[2].ID())
	if err != nil {
		t.Fatal(err)
	}
	if !tl.Limited || tl.PrevBatch != synctoken.Before(pos.Pos) {
		t.Fatalf("limited %v prev_batch %q, want true %q", tl.Limited, tl.PrevBatch, synctoken.Before(pos.Pos))
	}
	// The state at the start of the timeline, with both members.
	wantState := []string{"m.room.create|", "m.room.history_visibility|", "m.room.join_rules|", "m.room.member|" + alice, "m.room.member|" + bob, "m.room.name|", "m.room.power_levels|"}
	if got := keys(t, jr.State.Events); !slices.Equal(got, wantState) {
		t.Fatalf("state = %v, want %v", got, wantState)
	}
	for _, s := range decode(t, jr.State.Events) {
		if s.RoomID != "" {
			t.Fatalf("state event with room_id: %+v", s)
		}
		if s.StateKey != nil && *s.StateKey == bob && s.EventID != join.ID() {
			t.Fatalf("bob's member event %s, want %s", s.EventID, join.ID())
		}
	}
	if c := jr.Summary.JoinedMemberCount; c == nil || *c != 2 || *jr.Summary.InvitedMemberCount != 0 {
		t.Fatalf("summary = %+v", jr.Summary)
	}
	if len(jr.Summary.Heroes) != 0 {
		t.Fatalf("a named room has heroes %v", jr.Summary.Heroes)
	}
	// Age is there: events are for clients.
	if first := decode(t, tl.Events)[0]; first.Unsigned["age"] == nil {
		t.Fatalf("no age in %+v", first)
	}
	tok := since(t, resp)
	if now, _ := e.dag.Position(); tok.Rooms != now {
		t.Fatalf("next_batch rooms position %d, want %d", tok.Rooms, now)
	}
}

func TestInitialSyncStateStartsBeforeTimeline(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "")
	e.member(t, roomID, bob, bob, "join")
	rename := e.state(t, roomID, alice, "m.room.name", "", map[string]any{"name": "New"})
	msg := e.message(t, roomID, alice, "hi")

	resp := e.do(t, Request{UserID: bob, Filter: mustFilter(t, `{"room":{"timeline":{"limit":2}}}`)})
	jr := resp.Rooms.Join[roomID]
	if got := ids(t, jr.Timeline.Events); !slices.Equal(got, pduIDs(rename, msg)) {
		t.Fatalf("timeline = %v", got)
	}
	// The name event is in the timeline, so not in the state; the state is
	// what held before it.
	if slices.Contains(keys(t, jr.State.Events), "m.room.name|") {
		t.Fatalf("state repeats the timeline's name event: %v", keys(t, jr.State.Events))
	}
	// Named by the end of the timeline: no heroes needed.
	if len(jr.Summary.Heroes) != 0 || *jr.Summary.JoinedMemberCount != 2 {
		t.Fatalf("summary = %+v", jr.Summary)
	}
}

func TestInitialSyncPrevContent(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Old")
	e.state(t, roomID, alice, "m.room.name", "", map[string]any{"name": "New"})
	resp := e.do(t, Request{UserID: alice, Filter: mustFilter(t, `{"room":{"timeline":{"limit":1}}}`)})
	got := decode(t, resp.Rooms.Join[roomID].Timeline.Events)
	if len(got) != 1 || got[0].Unsigned["prev_content"] == nil {
		t.Fatalf("renaming event without prev_content: %+v", got)
	}
	if prev := got[0].Unsigned["prev_content"].(map[string]any); prev["name"] != "Old" {
		t.Fatalf("prev_content = %v", prev)
	}
}

func TestInitialSyncInvite(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Secret")
	e.state(t, roomID, alice, "m.room.encryption", "", map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})
	e.state(t, roomID, alice, "m.room.topic", "", map[string]any{"topic": "t"})
	e.message(t, roomID, alice, "not for carol")
	invite := e.member(t, roomID, alice, carol, "invite")

	resp := e.do(t, Request{UserID: carol})
	if len(resp.Rooms.Join) != 0 {
		t.Fatalf("carol is in joined rooms: %v", resp.Rooms.Join)
	}
	ir := resp.Rooms.Invite[roomID]
	if ir == nil {
		t.Fatalf("no invite: %+v", resp.Rooms)
	}
	evs := decode(t, ir.InviteState.Events)
	got := keys(t, ir.InviteState.Events)
	want := []string{"m.room.create|", "m.room.join_rules|", "m.room.name|", "m.room.encryption|", "m.room.topic|", "m.room.member|" + alice, "m.room.member|" + carol}
	if !slices.Equal(got, want) {
		t.Fatalf("invite_state = %v, want %v", got, want)
	}
	for _, s := range evs[:len(evs)-1] {
		if s.EventID != "" || s.Sender == "" {
			t.Fatalf("stripped event has event_id or lacks sender: %+v", s)
		}
	}
	if last := evs[len(evs)-1]; last.EventID != invite.ID() || last.Sender != alice {
		t.Fatalf("last invite_state event = %+v, want the invite %s", last, invite.ID())
	}
}

func TestInitialSyncKnock(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Knockable")
	e.state(t, roomID, alice, "m.room.join_rules", "", map[string]any{"join_rule": "knock"})
	knock := e.member(t, roomID, dave, dave, "knock")
	resp := e.do(t, Request{UserID: dave})
	kr := resp.Rooms.Knock[roomID]
	if kr == nil {
		t.Fatalf("no knock: %+v", resp.Rooms)
	}
	evs := decode(t, kr.KnockState.Events)
	if last := evs[len(evs)-1]; last.EventID != knock.ID() {
		t.Fatalf("knock_state ends with %+v", last)
	}
	if !slices.Contains(keys(t, kr.KnockState.Events), "m.room.join_rules|") {
		t.Fatalf("knock_state = %v", keys(t, kr.KnockState.Events))
	}
}

func TestInitialSyncLazyLoadMembers(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Big")
	for _, u := range []string{bob, carol, dave} {
		e.member(t, roomID, u, u, "join")
	}
	for i := range 5 {
		e.message(t, roomID, carol, fmt.Sprint(i))
	}
	lazy := mustFilter(t, `{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":3}}}`)
	resp := e.do(t, Request{UserID: bob, Filter: lazy})
	jr := resp.Rooms.Join[roomID]
	var members []string
	for _, k := range keys(t, jr.State.Events) {
		if m, ok := cutPrefix(k, "m.room.member|"); ok {
			members = append(members, m)
		}
	}
	// carol sent the timeline; bob is the syncing user. alice and dave are
	// left out, but the counts still cover everyone.
	if !slices.Equal(members, []string{bob, carol}) {
		t.Fatalf("lazy members = %v", members)
	}
	if *jr.Summary.JoinedMemberCount != 4 {
		t.Fatalf("joined count %d", *jr.Summary.JoinedMemberCount)
	}
	// Without lazy loading, everyone.
	resp = e.do(t, Request{UserID: bob, Filter: mustFilter(t, `{"room":{"timeline":{"limit":3}}}`)})
	members = nil
	for _, k := range keys(t, resp.Rooms.Join[roomID].State.Events) {
		if m, ok := cutPrefix(k, "m.room.member|"); ok {
			members = append(members, m)
		}
	}
	if len(members) != 4 {
		t.Fatalf("members without lazy loading = %v", members)
	}
}

func TestInitialSyncLazyLoadHeroes(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "")
	e.member(t, roomID, bob, bob, "join")
	e.member(t, roomID, carol, carol, "join")
	e.message(t, roomID, bob, "only bob talks")
	lazy := mustFilter(t, `{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":1}}}`)
	jr := e.do(t, Request{UserID: bob, Filter: lazy}).Rooms.Join[roomID]
	if !slices.Equal(jr.Summary.Heroes, []string{alice, carol}) {
		t.Fatalf("heroes = %v", jr.Summary.Heroes)
	}
	got := keys(t, jr.State.Events)
	for _, u := range []string{alice, bob, carol} {
		if !slices.Contains(got, "m.room.member|"+u) {
			t.Fatalf("hero or own member event of %s missing: %v", u, got)
		}
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

func TestInitialSyncLeftRooms(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Gone")
	e.member(t, roomID, bob, bob, "join")
	e.message(t, roomID, alice, "before")
	leave := e.member(t, roomID, bob, bob, "leave")
	e.message(t, roomID, alice, "after bob left")

	resp := e.do(t, Request{UserID: bob})
	if len(resp.Rooms.Leave) != 0 || len(resp.Rooms.Join) != 0 {
		t.Fatalf("left room without include_leave: %+v", resp.Rooms)
	}
	resp = e.do(t, Request{UserID: bob, Filter: mustFilter(t, `{"room":{"include_leave":true}}`)})
	lr := resp.Rooms.Leave[roomID]
	if lr == nil {
		t.Fatalf("no left room with include_leave: %+v", resp.Rooms)
	}
	got := ids(t, lr.Timeline.Events)
	if len(got) == 0 || got[len(got)-1] != leave.ID() {
		t.Fatalf("left room's timeline should end at the leave %s: %v", leave.ID(), got)
	}
}

func TestInitialSyncRedactedEvent(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "R")
	msg := e.message(t, roomID, alice, "oops")
	red := e.send(t, roomID, roomProto(alice, "m.room.redaction", map[string]any{"redacts": msg.ID()}, msg.ID()))
	tl := decode(t, e.do(t, Request{UserID: alice}).Rooms.Join[roomID].Timeline.Events)
	var found bool
	for _, x := range tl {
		if x.EventID != msg.ID() {
			continue
		}
		found = true
		if string(x.Content) != "{}" || x.Unsigned["redacted_because"] == nil {
			t.Fatalf("redacted event shown as %+v", x)
		}
	}
	if !found || tl[len(tl)-1].EventID != red.ID() {
		t.Fatalf("timeline %v lacks the redacted event or the redaction", tl)
	}
}

func TestFederationFormatAndEventFields(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "F")
	msg := e.message(t, roomID, alice, "hi")
	resp := e.do(t, Request{UserID: alice, Filter: mustFilter(t, `{"event_format":"federation","room":{"timeline":{"limit":1}}}`)})
	got := resp.Rooms.Join[roomID].Timeline.Events
	if len(got) != 1 || string(got[0]) != string(msg.JSON()) {
		t.Fatalf("federation format = %s, want %s", got, msg.JSON())
	}
	resp = e.do(t, Request{UserID: alice, Filter: mustFilter(t, `{"event_fields":["type","content.body"],"room":{"timeline":{"limit":1}}}`)})
	var m map[string]any
	if err := json.Unmarshal(resp.Rooms.Join[roomID].Timeline.Events[0], &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["type"] != "m.room.message" || m["content"].(map[string]any)["body"] != "hi" {
		t.Fatalf("event_fields projection = %v", m)
	}
}
