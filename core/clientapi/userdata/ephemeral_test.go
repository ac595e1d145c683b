package userdata

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestTyping(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.createRoom(bob)
	path := "/rooms/" + esc(r) + "/typing/"
	for _, tc := range []struct {
		name, user, path string
		body             any
		status           int
		errcode          string
	}{
		{"for another user", "bob", path + esc(alice), map[string]any{"typing": true}, 403, "M_FORBIDDEN"},
		{"not a member", "carol", path + esc(carol), map[string]any{"typing": true, "timeout": 1000}, 403, "M_FORBIDDEN"},
		{"missing typing", "bob", path + esc(bob), map[string]any{"timeout": 1000}, 400, "M_MISSING_PARAM"},
		{"typing not bool", "bob", path + esc(bob), map[string]any{"typing": "yes"}, 400, "M_BAD_JSON"},
		{"negative timeout", "bob", path + esc(bob), map[string]any{"typing": true, "timeout": -1}, 400, "M_INVALID_PARAM"},
		{"not json", "bob", path + esc(bob), "{", 400, "M_NOT_JSON"},
		{"bad room", "bob", "/rooms/nope/typing/" + esc(bob), map[string]any{"typing": true}, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.expect(tc.user, "PUT", tc.path, tc.body, tc.status, tc.errcode)
		})
	}
	e.t = t
	ty := e.eph.Typing
	if ty.Position() != 0 {
		t.Fatalf("refused typing moved the stream to %d", ty.Position())
	}
	mine, _ := e.ntf.Waiter(alice)
	e.expect("bob", "PUT", path+esc(bob), map[string]any{"typing": true, "timeout": 5000}, 200, "")
	select {
	case <-mine:
	default:
		t.Fatal("typing did not wake the room's members")
	}
	got, _ := ty.Changes(ctx, []string{r}, 0, ty.Position())
	if !reflect.DeepEqual(got, map[string][]string{r: {bob}}) {
		t.Fatalf("typers %v", got)
	}
	e.advance(6 * time.Second)
	pos := ty.Position()
	if got, _ := ty.Changes(ctx, []string{r}, pos-1, pos); !reflect.DeepEqual(got, map[string][]string{r: {}}) {
		t.Fatalf("after the timeout %v", got)
	}
	e.expect("bob", "PUT", path+esc(bob), map[string]any{"typing": true}, 200, "")
	e.expect("bob", "PUT", path+esc(bob), map[string]any{"typing": false}, 200, "")
	if got, _ := ty.Changes(ctx, []string{r}, 0, ty.Position()); len(got) != 0 {
		t.Fatalf("after stopping %v", got)
	}
}

// receipts returns the m.receipt content user sees in room since 0.
func (e *env) receipts(user, room string) map[string]map[string]map[string]any {
	e.t.Helper()
	got, err := e.eph.Receipts.Changes(context.Background(), user, []string{room}, 0, e.eph.Receipts.Position())
	if err != nil {
		e.t.Fatal(err)
	}
	var c map[string]map[string]map[string]any
	if raw := got[room]; raw != nil {
		if err := json.Unmarshal(raw, &c); err != nil {
			e.t.Fatal(err)
		}
	}
	return c
}

func TestReceiptsResetCounts(t *testing.T) {
	e := newEnv(t)
	r := e.createRoom(bob, carol)
	other := e.createRoom()
	ev1 := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "one"})
	ev2 := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "two", "m.mentions": map[string]any{"user_ids": []string{bob}}})
	ev3 := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "three"})
	evOther := e.send(other, alice, map[string]any{"msgtype": "m.text", "body": "elsewhere"})
	if got := e.counts(bob, r); got != [2]int{3, 1} {
		t.Fatalf("bob's counts %v, want 3 1", got)
	}
	receipt := func(typ, id string) string { return "/rooms/" + esc(r) + "/receipt/" + typ + "/" + esc(id) }
	for _, tc := range []struct {
		name, user, path string
		body             any
		status           int
		errcode          string
	}{
		{"unknown type", "bob", receipt("m.unread", ev1), nil, 400, "M_INVALID_PARAM"},
		{"empty thread", "bob", receipt("m.read", ev1), map[string]any{"thread_id": ""}, 400, "M_INVALID_PARAM"},
		{"thread not string", "bob", receipt("m.read", ev1), map[string]any{"thread_id": 3}, 400, "M_INVALID_PARAM"},
		{"thread on fully read", "bob", receipt("m.fully_read", ev1), map[string]any{"thread_id": "main"}, 400, "M_INVALID_PARAM"},
		{"unknown event", "bob", receipt("m.read", "$nope"), nil, 404, "M_NOT_FOUND"},
		{"event of another room", "bob", receipt("m.read", evOther), nil, 404, "M_NOT_FOUND"},
		{"not a member", "dave", receipt("m.read", ev1), nil, 403, "M_FORBIDDEN"},
		{"not json", "bob", receipt("m.read", ev1), "{", 400, "M_NOT_JSON"},
		{"bad room", "bob", "/rooms/r/receipt/m.read/" + esc(ev1), nil, 400, "M_INVALID_PARAM"},
		{"marker not a string", "bob", "/rooms/" + esc(r) + "/read_markers", map[string]any{"m.read": 1}, 400, "M_BAD_JSON"},
		{"one unknown marker", "bob", "/rooms/" + esc(r) + "/read_markers", map[string]any{"m.read": ev3, "m.fully_read": "$nope"}, 404, "M_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.expect(tc.user, "POST", tc.path, tc.body, tc.status, tc.errcode)
		})
	}
	e.t = t
	if e.eph.Receipts.Position() != 0 || e.counts(bob, r) != [2]int{3, 1} {
		t.Fatal("refused receipts changed something")
	}
	// An m.read at the first message leaves the mention and the third.
	e.expect("bob", "POST", receipt("m.read", ev1), nil, 200, "")
	if got := e.counts(bob, r); got != [2]int{2, 1} {
		t.Fatalf("after m.read at ev1 %v, want 2 1", got)
	}
	// A private receipt at the mention clears it, seen only by bob.
	e.expect("bob", "POST", receipt("m.read.private", ev2), map[string]any{}, 200, "")
	if got := e.counts(bob, r); got != [2]int{1, 0} {
		t.Fatalf("after m.read.private at ev2 %v, want 1 0", got)
	}
	if _, ok := e.receipts(alice, r)[ev2]; ok {
		t.Fatalf("alice sees bob's private receipt: %v", e.receipts(alice, r))
	}
	if _, ok := e.receipts(bob, r)[ev2]["m.read.private"][bob]; !ok {
		t.Fatalf("bob does not see his private receipt: %v", e.receipts(bob, r))
	}
	if _, ok := e.receipts(alice, r)[ev1]["m.read"][bob]; !ok {
		t.Fatalf("alice does not see bob's public receipt: %v", e.receipts(alice, r))
	}
	// read_markers sets all three at once.
	e.expect("bob", "POST", "/rooms/"+esc(r)+"/read_markers", map[string]any{"m.fully_read": ev3, "m.read": ev3, "m.read.private": ev3}, 200, "")
	if got := e.counts(bob, r); got != [2]int{0, 0} {
		t.Fatalf("after read_markers %v", got)
	}
	out := e.expect("bob", "GET", "/user/"+esc(bob)+"/rooms/"+esc(r)+"/account_data/m.fully_read", nil, 200, "")
	if out["event_id"] != ev3 {
		t.Fatalf("m.fully_read %v", out)
	}
	// A threaded receipt and the fully read marker through /receipt.
	ev4 := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "four"})
	e.expect("carol", "POST", receipt("m.read", ev4), map[string]any{"thread_id": "main"}, 200, "")
	if got := e.receipts(alice, r)[ev4]["m.read"][carol]; got.(map[string]any)["thread_id"] != "main" {
		t.Fatalf("threaded receipt %v", got)
	}
	if got := e.counts(carol, r); got != [2]int{0, 0} {
		t.Fatalf("carol's counts after a main-thread receipt %v", got)
	}
	e.expect("carol", "POST", receipt("m.fully_read", ev4), nil, 200, "")
	out = e.expect("carol", "GET", "/user/"+esc(carol)+"/rooms/"+esc(r)+"/account_data/m.fully_read", nil, 200, "")
	if out["event_id"] != ev4 {
		t.Fatalf("carol's m.fully_read %v", out)
	}
}

func TestPresence(t *testing.T) {
	e := newEnv(t)
	e.createRoom(bob)
	status := func(u string) string { return "/presence/" + esc(u) + "/status" }
	e.expect("alice", "PUT", status(bob), map[string]any{"presence": "online"}, 403, "M_FORBIDDEN")
	e.expect("bob", "PUT", status(bob), map[string]any{"status_msg": "hi"}, 400, "M_MISSING_PARAM")
	e.expect("bob", "PUT", status(bob), map[string]any{"presence": "away"}, 400, "M_INVALID_PARAM")
	e.expect("bob", "PUT", status(bob), "[]", 400, "M_BAD_JSON")
	e.expect("carol", "GET", status(bob), nil, 403, "M_FORBIDDEN")
	if out := e.expect("alice", "GET", status(bob), nil, 200, ""); out["presence"] != "offline" {
		t.Fatalf("unset presence %v", out)
	}
	e.expect("bob", "PUT", status(bob), map[string]any{"presence": "online", "status_msg": "around"}, 200, "")
	e.advance(1500 * time.Millisecond)
	out := e.expect("alice", "GET", status(bob), nil, 200, "")
	want := map[string]any{"presence": "online", "status_msg": "around", "last_active_ago": float64(1500), "currently_active": true}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("bob's presence %v, want %v", out, want)
	}
	evs, err := e.eph.Presence.Changes(context.Background(), alice, 0, e.eph.Presence.Position())
	if err != nil || len(evs) != 1 {
		t.Fatalf("presence source %s %v", evs, err)
	}
}
