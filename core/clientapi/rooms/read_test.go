package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"hearth/core/room"
	"hearth/core/synctoken"
)

func mustState(t *testing.T, hs *harness, roomID string) room.State {
	t.Helper()
	s, err := hs.dag.CurrentState(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// messagesOnly is a RoomEventFilter for m.room.message events.
var messagesOnly = url.QueryEscape(`{"types":["m.room.message"]}`)

func TestStateReads(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "before"})
	hs.join("bob", roomID)
	hs.do("bob", "POST", "/rooms/"+esc(roomID)+"/leave", nil).ok()
	hs.setState("alice", roomID, "m.room.name", "", map[string]any{"name": "after"})
	open := hs.createRoom("alice", map[string]any{"preset": "public_chat", "initial_state": []map[string]any{
		{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}},
	}})
	r := "/rooms/" + esc(roomID)
	for _, tc := range []struct {
		name, token, path string
		status            int
		errcode, wantName string
	}{
		{"member reads the current state", "alice", r + "/state/m.room.name/", 200, "", "after"},
		{"without a trailing slash", "alice", r + "/state/m.room.name", 200, "", "after"},
		{"left user reads the state at their leave", "bob", r + "/state/m.room.name/", 200, "", "before"},
		{"non-member", "carol", r + "/state/m.room.name/", 403, "M_FORBIDDEN", ""},
		{"unknown room", "alice", "/rooms/" + esc("!nope:"+server) + "/state/m.room.name/", 403, "M_FORBIDDEN", ""},
		{"absent state", "alice", r + "/state/m.room.avatar/", 404, "M_NOT_FOUND", ""},
		{"absent state key", "alice", r + "/state/m.room.member/" + esc(carol), 404, "M_NOT_FOUND", ""},
		{"bad format", "alice", r + "/state/m.room.name/?format=xml", 400, "M_INVALID_PARAM", ""},
		{"world-readable room, non-member", "carol", "/rooms/" + esc(open) + "/state/m.room.join_rules/", 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := hs.do(tc.token, "GET", tc.path, nil).want(tc.status, tc.errcode)
			if tc.wantName != "" && resp.obj()["name"] != tc.wantName {
				t.Errorf("name = %v, want %s", resp.obj()["name"], tc.wantName)
			}
		})
	}
	ev := hs.do("alice", "GET", r+"/state/m.room.name/?format=event", nil).ok().obj()
	if ev["type"] != "m.room.name" || ev["state_key"] != "" || ev["content"].(map[string]any)["name"] != "after" || ev["event_id"] == nil {
		t.Errorf("format=event gave %v", ev)
	}
	var all []map[string]any
	raw := hs.do("bob", "GET", r+"/state", nil).ok().body
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	names := 0
	for _, e := range all {
		if e["type"] == "m.room.name" {
			names++
			if e["content"].(map[string]any)["name"] != "before" {
				t.Errorf("left user's /state has %v", e)
			}
		}
	}
	if names != 1 || len(all) < 6 {
		t.Errorf("/state = %d events, %d names", len(all), names)
	}
	hs.do("carol", "GET", r+"/state", nil).want(http.StatusForbidden, "M_FORBIDDEN")
}

func TestMembers(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	before := hs.do("alice", "GET", "/rooms/"+esc(roomID)+"/messages?dir=b&limit=1", nil).ok().obj()["start"].(string)
	hs.join("bob", roomID)
	hs.join("carol", roomID)
	hs.do("carol", "POST", "/rooms/"+esc(roomID)+"/leave", nil).ok()
	hs.do("alice", "POST", "/rooms/"+esc(roomID)+"/invite", map[string]any{"user_id": dave}).ok()
	r := "/rooms/" + esc(roomID) + "/members"
	stateKeys := func(resp response) []string {
		var out []string
		for _, e := range resp.obj()["chunk"].([]any) {
			out = append(out, e.(map[string]any)["state_key"].(string))
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name, token, query string
		want               []string
	}{
		{"all", "alice", "", []string{alice, bob, carol, dave}},
		{"joined", "alice", "?membership=join", []string{alice, bob}},
		{"not left", "alice", "?not_membership=leave", []string{alice, bob, dave}},
		{"invited or not joined", "alice", "?membership=invite&not_membership=join", []string{carol, dave}},
		{"at an earlier token", "alice", "?at=" + before, []string{alice}},
		{"left user sees the members at their leave", "carol", "", []string{alice, bob, carol}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stateKeys(hs.do(tc.token, "GET", r+tc.query, nil).ok()); !equal(got, tc.want) {
				t.Errorf("members %v, want %v", got, tc.want)
			}
		})
	}
	hs.do("alice", "GET", r+"?membership=party", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("alice", "GET", r+"?at=nope", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("dave", "GET", r, nil).want(http.StatusForbidden, "M_FORBIDDEN")

	joined := hs.do("bob", "GET", "/rooms/"+esc(roomID)+"/joined_members", nil).ok().obj()["joined"].(map[string]any)
	if len(joined) != 2 {
		t.Fatalf("joined_members = %v", joined)
	}
	a := joined[alice].(map[string]any)
	if a["display_name"] != "Alice" || a["avatar_url"] != "mxc://hs.test/alice" {
		t.Errorf("alice = %v", a)
	}
	if b := joined[bob].(map[string]any); b["display_name"] != "Bob" || b["avatar_url"] != nil {
		t.Errorf("bob = %v", b)
	}
	hs.do("carol", "GET", "/rooms/"+esc(roomID)+"/joined_members", nil).want(http.StatusForbidden, "M_FORBIDDEN")
}

func TestMessagesPagination(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	var sent []string
	for i := range 25 {
		sent = append(sent, hs.sendMessage("alice", roomID, fmt.Sprintf("m%d", i)))
	}
	r := "/rooms/" + esc(roomID) + "/messages?"

	// Backwards from the newest, ten at a time, until no end.
	var back []string
	from := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("backward pagination does not end")
		}
		q := "dir=b&limit=10&filter=" + messagesOnly
		if from != "" {
			q += "&from=" + from
		}
		resp := hs.do("alice", "GET", r+q, nil).ok().obj()
		if from != "" && resp["start"] != from {
			t.Errorf("start %v, want the from token %s", resp["start"], from)
		}
		back = append(back, eventIDs(resp["chunk"])...)
		end, ok := resp["end"].(string)
		if !ok {
			break
		}
		from = end
	}
	want := slices.Clone(sent)
	slices.Reverse(want)
	if !equal(back, want) {
		t.Fatalf("backwards: %d events %v, want %d", len(back), back, len(want))
	}

	// Forwards from the start of the room, seven at a time.
	var fwd []string
	from = ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("forward pagination does not end")
		}
		q := "dir=f&limit=7&filter=" + messagesOnly
		if from != "" {
			q += "&from=" + from
		}
		resp := hs.do("alice", "GET", r+q, nil).ok().obj()
		fwd = append(fwd, eventIDs(resp["chunk"])...)
		end, ok := resp["end"].(string)
		if !ok {
			break
		}
		from = end
	}
	if !equal(fwd, sent) {
		t.Fatalf("forwards: %v, want %v", fwd, sent)
	}

	// A page's end token continues exactly where it stopped, in both
	// directions, and sync tokens work as from.
	first := hs.do("alice", "GET", r+"dir=b&limit=5&filter="+messagesOnly, nil).ok().obj()
	end := first["end"].(string)
	next := hs.do("alice", "GET", r+"dir=b&limit=5&filter="+messagesOnly+"&from="+end, nil).ok().obj()
	if got := bodies(next["chunk"]); !equal(got, []string{"m19", "m18", "m17", "m16", "m15"}) {
		t.Errorf("second page %v", got)
	}
	back2 := hs.do("alice", "GET", r+"dir=f&limit=5&filter="+messagesOnly+"&from="+next["end"].(string), nil).ok().obj()
	if got := bodies(back2["chunk"]); !equal(got, []string{"m15", "m16", "m17", "m18", "m19"}) {
		t.Errorf("forward from a backward end: %v", got)
	}
	pos, err := synctoken.ParsePosition(first["start"].(string))
	if err != nil {
		t.Fatal(err)
	}
	syncTok := fmt.Sprintf("s%d_4_2_0", pos)
	fromSync := hs.do("alice", "GET", r+"dir=b&limit=2&filter="+messagesOnly+"&from="+syncTok, nil).ok().obj()
	if got := bodies(fromSync["chunk"]); !equal(got, []string{"m24", "m23"}) {
		t.Errorf("from a sync token: %v", got)
	}
	// to bounds the walk: from the newest back to the second page's end.
	bounded := hs.do("alice", "GET", r+"dir=b&limit=50&filter="+messagesOnly+"&to="+end, nil).ok().obj()
	if got := bodies(bounded["chunk"]); !equal(got, []string{"m24", "m23", "m22", "m21", "m20"}) {
		t.Errorf("bounded by to: %v", got)
	}
	if _, ok := bounded["end"]; ok {
		t.Errorf("a walk that reached to has an end: %v", bounded["end"])
	}
	// Without a filter every event comes, state included.
	all := hs.do("alice", "GET", r+"dir=f&limit=100", nil).ok().obj()
	if n := len(all["chunk"].([]any)); n != 25+6 {
		t.Errorf("unfiltered forward read %d events", n)
	}
	// limit 0 returns nothing but a token.
	none := hs.do("alice", "GET", r+"dir=b&limit=0", nil).ok().obj()
	if len(none["chunk"].([]any)) != 0 || none["end"] == nil {
		t.Errorf("limit=0 gave %v", none)
	}

	for _, tc := range []struct {
		name, token, query string
		status             int
		errcode            string
	}{
		{"missing dir", "alice", "limit=1", 400, "M_MISSING_PARAM"},
		{"bad dir", "alice", "dir=x", 400, "M_INVALID_PARAM"},
		{"bad from", "alice", "dir=b&from=x1", 400, "M_INVALID_PARAM"},
		{"bad to", "alice", "dir=b&to=t-1", 400, "M_INVALID_PARAM"},
		{"bad limit", "alice", "dir=b&limit=-1", 400, "M_INVALID_PARAM"},
		{"filter not JSON", "alice", "dir=b&filter=" + url.QueryEscape("{"), 400, "M_NOT_JSON"},
		{"filter with a bad limit", "alice", "dir=b&filter=" + url.QueryEscape(`{"limit":0}`), 400, "M_INVALID_PARAM"},
		{"never joined", "bob", "dir=b", 403, "M_FORBIDDEN"},
		{"unknown room", "alice", "dir=b", 403, "M_FORBIDDEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := r
			if tc.name == "unknown room" {
				path = "/rooms/" + esc("!nope:"+server) + "/messages?"
			}
			hs.do(tc.token, "GET", path+tc.query, nil).want(tc.status, tc.errcode)
		})
	}
}

func TestMessagesLazyLoadsMembers(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	hs.join("bob", roomID)
	hs.join("carol", roomID)
	hs.sendMessage("bob", roomID, "hi")
	hs.sendMessage("alice", roomID, "hello")
	f := url.QueryEscape(`{"lazy_load_members":true,"types":["m.room.message"]}`)
	resp := hs.do("alice", "GET", "/rooms/"+esc(roomID)+"/messages?dir=b&filter="+f, nil).ok().obj()
	var keys []string
	for _, e := range resp["state"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] != "m.room.member" {
			t.Errorf("lazy state has %v", ev["type"])
		}
		keys = append(keys, ev["state_key"].(string))
	}
	slices.Sort(keys)
	if !equal(keys, []string{alice, bob}) {
		t.Errorf("lazy members %v", keys)
	}
	if plain := hs.do("alice", "GET", "/rooms/"+esc(roomID)+"/messages?dir=b", nil).ok().obj(); plain["state"] != nil {
		t.Errorf("state without lazy loading: %v", plain["state"])
	}
}

// TestHistoryVisibilityOnReads checks /messages, /event and /context for
// each history visibility, for a user who was invited, joined and left
// (bob) and one who never joined (carol).
func TestHistoryVisibilityOnReads(t *testing.T) {
	for _, tc := range []struct {
		vis string
		// bobSees are the messages bob may read: m1 before his invite, m2
		// while invited, m3 while joined, m4 after he left.
		bobSees   []string
		carolSees []string // nil: carol may not read the room at all
	}{
		{"joined", []string{"m3"}, nil},
		{"invited", []string{"m2", "m3"}, nil},
		{"shared", []string{"m1", "m2", "m3"}, nil},
		{"world_readable", []string{"m1", "m2", "m3", "m4"}, []string{"m1", "m2", "m3", "m4"}},
	} {
		t.Run(tc.vis, func(t *testing.T) {
			hs := newHarness(t)
			roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat", "initial_state": []map[string]any{
				{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": tc.vis}},
			}})
			ids := map[string]string{}
			ids["m1"] = hs.sendMessage("alice", roomID, "m1")
			hs.do("alice", "POST", "/rooms/"+esc(roomID)+"/invite", map[string]any{"user_id": bob}).ok()
			ids["m2"] = hs.sendMessage("alice", roomID, "m2")
			hs.join("bob", roomID)
			ids["m3"] = hs.sendMessage("alice", roomID, "m3")
			hs.do("bob", "POST", "/rooms/"+esc(roomID)+"/leave", nil).ok()
			ids["m4"] = hs.sendMessage("alice", roomID, "m4")
			r := "/rooms/" + esc(roomID)

			// /messages: users who left see nothing after their leave,
			// whatever the visibility.
			wantBob := slices.DeleteFunc(slices.Clone(tc.bobSees), func(s string) bool { return s == "m4" })
			got := bodies(hs.do("bob", "GET", r+"/messages?dir=f&limit=50&filter="+messagesOnly, nil).ok().obj()["chunk"])
			if !equal(got, wantBob) {
				t.Errorf("bob's /messages: %v, want %v", got, wantBob)
			}
			carol := hs.do("carol", "GET", r+"/messages?dir=f&limit=50&filter="+messagesOnly, nil)
			if tc.carolSees == nil {
				carol.want(http.StatusForbidden, "M_FORBIDDEN")
			} else if got := bodies(carol.ok().obj()["chunk"]); !equal(got, tc.carolSees) {
				t.Errorf("carol's /messages: %v, want %v", got, tc.carolSees)
			}

			// /event: per event.
			for _, m := range []string{"m1", "m2", "m3", "m4"} {
				resp := hs.do("bob", "GET", r+"/event/"+esc(ids[m]), nil)
				if slices.Contains(tc.bobSees, m) {
					resp.ok()
				} else {
					resp.want(http.StatusNotFound, "M_NOT_FOUND")
				}
				resp = hs.do("carol", "GET", r+"/event/"+esc(ids[m]), nil)
				if slices.Contains(tc.carolSees, m) {
					resp.ok()
				} else {
					resp.want(http.StatusNotFound, "M_NOT_FOUND")
				}
			}

			// /context around m3, which bob may always see.
			ctx := hs.do("bob", "GET", r+"/context/"+esc(ids["m3"])+"?limit=20&filter="+messagesOnly, nil).ok().obj()
			before := bodies(ctx["events_before"])
			wantBefore := slices.DeleteFunc(slices.Clone(wantBob), func(s string) bool { return s == "m3" })
			slices.Reverse(wantBefore)
			if !equal(before, wantBefore) {
				t.Errorf("bob's context before m3: %v, want %v", before, wantBefore)
			}
			if after := bodies(ctx["events_after"]); len(after) != 0 {
				t.Errorf("bob's context after m3 (he left): %v", after)
			}
			carolCtx := hs.do("carol", "GET", r+"/context/"+esc(ids["m3"]), nil)
			if tc.carolSees == nil {
				carolCtx.want(http.StatusForbidden, "M_FORBIDDEN")
			} else {
				carolCtx.ok()
			}
			if !slices.Contains(tc.bobSees, "m1") {
				hs.do("bob", "GET", r+"/context/"+esc(ids["m1"]), nil).want(http.StatusNotFound, "M_NOT_FOUND")
			}
		})
	}
}

func TestEventAndContext(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	other := hs.createRoom("alice", nil)
	hs.join("bob", roomID)
	var ids []string
	for i := range 9 {
		ids = append(ids, hs.sendMessage("alice", roomID, fmt.Sprintf("c%d", i)))
	}
	r := "/rooms/" + esc(roomID)
	ev := hs.do("bob", "GET", r+"/event/"+esc(ids[4]), nil).ok().obj()
	if ev["event_id"] != ids[4] || ev["room_id"] != roomID || ev["sender"] != alice || ev["content"].(map[string]any)["body"] != "c4" {
		t.Errorf("/event = %v", ev)
	}
	if _, ok := ev["unsigned"].(map[string]any)["age"]; !ok {
		t.Errorf("no age: %v", ev)
	}
	hs.do("bob", "GET", r+"/event/"+esc("$nope"), nil).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("alice", "GET", "/rooms/"+esc(other)+"/event/"+esc(ids[4]), nil).want(http.StatusNotFound, "M_NOT_FOUND")

	ctx := hs.do("bob", "GET", r+"/context/"+esc(ids[4])+"?limit=4", nil).ok().obj()
	if ctx["event"].(map[string]any)["event_id"] != ids[4] {
		t.Errorf("context event = %v", ctx["event"])
	}
	if got := bodies(ctx["events_before"]); !equal(got, []string{"c3", "c2"}) {
		t.Errorf("events_before %v", got)
	}
	if got := bodies(ctx["events_after"]); !equal(got, []string{"c5", "c6"}) {
		t.Errorf("events_after %v", got)
	}
	if len(ctx["state"].([]any)) < 5 {
		t.Errorf("state = %v", ctx["state"])
	}
	// The tokens continue the context through /messages.
	more := hs.do("bob", "GET", r+"/messages?dir=b&limit=2&from="+ctx["start"].(string), nil).ok().obj()
	if got := bodies(more["chunk"]); !equal(got, []string{"c1", "c0"}) {
		t.Errorf("before the context: %v", got)
	}
	more = hs.do("bob", "GET", r+"/messages?dir=f&limit=2&from="+ctx["end"].(string), nil).ok().obj()
	if got := bodies(more["chunk"]); !equal(got, []string{"c7", "c8"}) {
		t.Errorf("after the context: %v", got)
	}
	zero := hs.do("bob", "GET", r+"/context/"+esc(ids[4])+"?limit=0", nil).ok().obj()
	if len(zero["events_before"].([]any))+len(zero["events_after"].([]any)) != 0 || zero["event"] == nil {
		t.Errorf("limit=0: %v", zero)
	}
	lazy := url.QueryEscape(`{"lazy_load_members":true}`)
	lctx := hs.do("bob", "GET", r+"/context/"+esc(ids[4])+"?limit=2&filter="+lazy, nil).ok().obj()
	if st := lctx["state"].([]any); len(st) != 1 || st[0].(map[string]any)["state_key"] != alice {
		t.Errorf("lazy context state = %v", st)
	}
	hs.do("bob", "GET", r+"/context/"+esc("$nope"), nil).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("carol", "GET", r+"/context/"+esc(ids[4]), nil).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("bob", "GET", r+"/context/"+esc(ids[4])+"?limit=x", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("bob", "GET", r+"/context/"+esc(ids[4])+"?filter=%7B", nil).want(http.StatusBadRequest, "M_NOT_JSON")
}

func TestPrevContent(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat", "topic": "old"})
	id := hs.setState("alice", roomID, "m.room.topic", "", map[string]any{"topic": "new"})
	ev := hs.do("alice", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(id), nil).ok().obj()
	u := ev["unsigned"].(map[string]any)
	if u["prev_content"].(map[string]any)["topic"] != "old" || u["prev_sender"] != alice {
		t.Errorf("unsigned = %v", u)
	}
}
