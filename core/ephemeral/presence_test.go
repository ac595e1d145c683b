package ephemeral

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"hearth/persist/kvtest"
)

func TestPresence(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createRoom(bob)
	pr := e.eph.Presence
	if err := pr.Set(ctx, bob, "busy", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad presence: %v", err)
	}
	// Nobody has set presence: offline.
	st, err := pr.Get(ctx, alice, bob)
	if err != nil || st.Presence != Offline || st.LastActiveAgo != nil {
		t.Fatalf("unset presence %+v %v", st, err)
	}
	if _, err := pr.Get(ctx, dave, bob); !errors.Is(err, ErrNotVisible) {
		t.Fatalf("stranger sees presence: %v", err)
	}
	e.takeWoken()
	if err := pr.Set(ctx, bob, Online, strp("lunch")); err != nil {
		t.Fatal(err)
	}
	if got := e.takeWoken(); !reflect.DeepEqual(got, []string{alice, bob}) {
		t.Fatalf("woken %v", got)
	}
	e.advance(90 * time.Second)
	st, err = pr.Get(ctx, alice, bob)
	if err != nil || st.Presence != Online || *st.LastActiveAgo != 90_000 || *st.StatusMsg != "lunch" || !*st.CurrentlyActive {
		t.Fatalf("bob's presence %+v %v", st, err)
	}
	e.advance(CurrentlyActiveWindow)
	if st, _ := pr.Get(ctx, bob, bob); *st.CurrentlyActive {
		t.Fatalf("still currently active after the window: %+v", st)
	}
	events := func(user string, from, to uint64) []map[string]any {
		t.Helper()
		raws, err := pr.Changes(ctx, user, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, r := range raws {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	got := events(alice, 0, pr.Position())
	if len(got) != 1 || got[0]["type"] != "m.presence" || got[0]["sender"] != bob {
		t.Fatalf("alice's presence events %v", got)
	}
	content := got[0]["content"].(map[string]any)
	if content["presence"] != Online || content["status_msg"] != "lunch" || content["last_active_ago"] != float64(90_000+CurrentlyActiveWindow.Milliseconds()) {
		t.Fatalf("content %v", content)
	}
	if got := events(dave, 0, pr.Position()); len(got) != 0 {
		t.Fatalf("dave, in no room with bob, sees %v", got)
	}

	// Unchanged presence publishes nothing; a new status does.
	pos := pr.Position()
	e.takeWoken()
	if err := pr.Set(ctx, bob, Online, strp("lunch")); err != nil {
		t.Fatal(err)
	}
	if got := events(alice, pos, pr.Position()); len(got) != 0 || len(e.takeWoken()) != 0 {
		t.Fatalf("same presence published %v", got)
	}
	if err := pr.Set(ctx, bob, Unavailable, nil); err != nil {
		t.Fatal(err)
	}
	if err := pr.Set(ctx, alice, Online, nil); err != nil {
		t.Fatal(err)
	}
	// Both read strategies: a small window reads the log, a large one the
	// shared users.
	for _, from := range []uint64{pos, 0} {
		got := events(alice, from, pr.Position())
		if len(got) != 2 {
			t.Fatalf("from %d: %v", from, got)
		}
	}
	got = events(bob, pr.Position()-1, pr.Position())
	if len(got) != 1 || got[0]["sender"] != alice {
		t.Fatalf("bob's last change %v", got)
	}
	if _, ok := got[0]["content"].(map[string]any)["status_msg"]; ok {
		t.Fatalf("cleared status shown: %v", got)
	}

	// Activity sets an unavailable user online (published) and otherwise
	// only refreshes the time.
	pos = pr.Position()
	if err := pr.Active(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if got := events(alice, pos, pr.Position()); len(got) != 1 || got[0]["content"].(map[string]any)["presence"] != Online {
		t.Fatalf("activity while unavailable published %v", got)
	}
	pos = pr.Position()
	e.advance(2 * ActiveWriteInterval)
	if err := pr.Active(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if got := events(alice, pos, pr.Position()); len(got) != 0 {
		t.Fatalf("activity while online published %v", got)
	}
	if st, _ := pr.Get(ctx, bob, bob); *st.LastActiveAgo != 0 {
		t.Fatalf("last active not refreshed: %+v", st)
	}
	if got := e.open().Presence.Position(); got != pr.Position() {
		t.Fatalf("reopened at %d, want %d", got, pr.Position())
	}
}

func TestDAGRooms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	members, err := e.rooms.JoinedLocalMembers(ctx, r)
	if err != nil || len(members) != 2 {
		t.Fatalf("members %v %v", members, err)
	}
	e.state(r, carol, "m.room.member", carol, map[string]any{"membership": "join"})
	e.state(r, bob, "m.room.member", bob, map[string]any{"membership": "leave"})
	members, _ = e.rooms.JoinedLocalMembers(ctx, r)
	if len(members) != 2 || !contains(members, carol) || contains(members, bob) {
		t.Fatalf("cache not refreshed: %v", members)
	}
	shared, err := e.rooms.SharedUsers(ctx, carol)
	if err != nil || len(shared) != 2 || !contains(shared, alice) {
		t.Fatalf("shared %v %v", shared, err)
	}
	if shared, _ := e.rooms.SharedUsers(ctx, bob); len(shared) != 1 {
		t.Fatalf("bob left, still shares %v", shared)
	}
	if m, _ := e.rooms.JoinedLocalMembers(ctx, "!unknown:a.test"); len(m) != 0 {
		t.Fatalf("unknown room members %v", m)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestActiveWritesOnlyWhenDue checks that activity while online and
// recently active costs no write transaction, and that activity once
// ActiveWriteInterval has passed does write.
func TestActiveWritesOnlyWhenDue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	counter := &kvtest.Counting{Store: e.store}
	e.store = counter
	pr := e.open().Presence
	if err := pr.Active(ctx, bob); err != nil {
		t.Fatal(err)
	}
	first := counter.Updates.Load()
	if first == 0 {
		t.Fatal("the first activity wrote nothing")
	}
	for range 5 {
		e.advance(time.Second)
		if err := pr.Active(ctx, bob); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.Updates.Load(); n != first {
		t.Fatalf("activity within ActiveWriteInterval made %d write transactions", n-first)
	}
	e.advance(ActiveWriteInterval)
	if err := pr.Active(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if n := counter.Updates.Load(); n == first {
		t.Fatal("activity after ActiveWriteInterval wrote nothing")
	}
	if st, _ := pr.Get(ctx, bob, bob); *st.LastActiveAgo != 0 {
		t.Fatalf("last active not refreshed: %+v", st)
	}
}

// TestJoinedLocalMembersCachedUntilStateChanges checks that messages keep
// a room's member list cached and that a membership change replaces it.
func TestJoinedLocalMembersCachedUntilStateChanges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	first, err := e.rooms.JoinedLocalMembers(ctx, r)
	if err != nil || len(first) != 2 {
		t.Fatalf("members %v, %v", first, err)
	}
	e.message(r, alice)
	again, err := e.rooms.JoinedLocalMembers(ctx, r)
	if err != nil || len(again) != 2 || &again[0] != &first[0] {
		t.Fatalf("a message dropped the cached member list: %v, %v", again, err)
	}
	e.state(r, carol, "m.room.member", carol, map[string]any{"membership": "join"})
	after, err := e.rooms.JoinedLocalMembers(ctx, r)
	if err != nil || !slices.Contains(after, carol) || len(after) != 3 {
		t.Fatalf("members after carol joined: %v, %v", after, err)
	}
}
