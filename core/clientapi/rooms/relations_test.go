package rooms

import (
	"fmt"
	"net/http"
	"testing"
)

// relate sends an event of type typ relating to parent with relType.
func (hs *harness) relate(token, roomID, typ, relType, parent string, extra map[string]any) string {
	hs.t.Helper()
	content := map[string]any{"m.relates_to": map[string]any{"rel_type": relType, "event_id": parent, "key": "+1"}}
	for k, v := range extra {
		content[k] = v
	}
	hs.txn++
	return hs.do(token, "PUT", fmt.Sprintf("/rooms/%s/send/%s/r%d", esc(roomID), typ, hs.txn), content).ok().obj()["event_id"].(string)
}

func TestRelations(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	other := hs.createRoom("alice", nil)
	hs.join("bob", roomID)
	root := hs.sendMessage("alice", roomID, "root")
	reaction := hs.relate("bob", roomID, "m.reaction", "m.annotation", root, nil)
	edit := hs.relate("alice", roomID, "m.room.message", "m.replace", root, map[string]any{"body": "* root"})
	t1 := hs.relate("bob", roomID, "m.room.message", "m.thread", root, map[string]any{"body": "t1"})
	t2 := hs.relate("alice", roomID, "m.room.message", "m.thread", root, map[string]any{"body": "t2"})
	nested := hs.relate("alice", roomID, "m.reaction", "m.annotation", t1, nil)
	t3 := hs.relate("bob", roomID, "m.room.message", "m.thread", root, map[string]any{"body": "t3"})
	redacted := hs.relate("bob", roomID, "m.reaction", "m.annotation", root, map[string]any{"x": 1})
	// An event of another room claiming the root as its parent is no
	// relation of it.
	hs.relate("alice", other, "m.reaction", "m.annotation", root, nil)
	hs.do("bob", "PUT", "/rooms/"+esc(roomID)+"/redact/"+esc(redacted)+"/x", nil).ok()

	base := "/_matrix/client/v1/rooms/" + esc(roomID) + "/relations/" + esc(root)
	for _, tc := range []struct {
		name, path string
		want       []string
		recursion  bool
	}{
		{"all", base, []string{t3, t2, t1, edit, reaction}, false},
		{"forwards", base + "?dir=f", []string{reaction, edit, t1, t2, t3}, false},
		{"by rel type", base + "/m.thread", []string{t3, t2, t1}, false},
		{"by rel type and event type", base + "/m.annotation/m.reaction", []string{reaction}, false},
		{"no match", base + "/m.reference", nil, false},
		{"recursive", base + "?recurse=true&limit=20", []string{t3, nested, t2, t1, edit, reaction}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := hs.do("bob", "GET", tc.path, nil).ok().obj()
			if got := eventIDs(resp["chunk"]); !equal(got, tc.want) {
				t.Errorf("chunk %v, want %v", got, tc.want)
			}
			if _, ok := resp["recursion_depth"]; ok != tc.recursion {
				t.Errorf("recursion_depth present = %v", ok)
			}
		})
	}
	// alice, in both rooms, does not see the other room's event either.
	if got := eventIDs(hs.do("alice", "GET", base, nil).ok().obj()["chunk"]); !equal(got, []string{t3, t2, t1, edit, reaction}) {
		t.Errorf("alice's relations %v", got)
	}
	// Pages of two, both directions, with next_batch tokens.
	for _, dir := range []string{"b", "f"} {
		var got []string
		next := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("relations pagination does not end")
			}
			path := base + "?limit=2&dir=" + dir
			if next != "" {
				path += "&from=" + next
			}
			resp := hs.do("bob", "GET", path, nil).ok().obj()
			got = append(got, eventIDs(resp["chunk"])...)
			n, ok := resp["next_batch"].(string)
			if !ok {
				break
			}
			next = n
		}
		want := []string{t3, t2, t1, edit, reaction}
		if dir == "f" {
			want = []string{reaction, edit, t1, t2, t3}
		}
		if !equal(got, want) {
			t.Errorf("dir=%s pages gave %v, want %v", dir, got, want)
		}
	}
	hs.do("bob", "GET", "/_matrix/client/v1/rooms/"+esc(roomID)+"/relations/"+esc("$nope"), nil).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("alice", "GET", "/_matrix/client/v1/rooms/"+esc(other)+"/relations/"+esc(root), nil).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("carol", "GET", base, nil).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("bob", "GET", base+"?dir=x", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("bob", "GET", base+"?recurse=maybe", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("bob", "GET", base+"?from=nope", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("", "GET", base, nil).want(http.StatusUnauthorized, "M_MISSING_TOKEN")

	// The root carries the thread summary wherever it is served.
	ev := hs.do("bob", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(root), nil).ok().obj()
	thread := ev["unsigned"].(map[string]any)["m.relations"].(map[string]any)["m.thread"].(map[string]any)
	if thread["count"] != float64(3) || thread["current_user_participated"] != true || thread["latest_event"].(map[string]any)["event_id"] != t3 {
		t.Errorf("thread summary = %v", thread)
	}
}

func TestThreads(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	hs.join("bob", roomID)
	bobs := hs.sendMessage("bob", roomID, "bob's root")
	alices := hs.sendMessage("alice", roomID, "alice's root")
	lonely := hs.sendMessage("alice", roomID, "no thread")
	hs.relate("alice", roomID, "m.room.message", "m.thread", bobs, map[string]any{"body": "a"})
	hs.relate("alice", roomID, "m.room.message", "m.thread", alices, map[string]any{"body": "b"})
	hs.relate("alice", roomID, "m.reaction", "m.annotation", lonely, nil)
	base := "/_matrix/client/v1/rooms/" + esc(roomID) + "/threads"
	for _, tc := range []struct {
		name, token, query string
		want               []string
	}{
		{"all, latest activity first", "bob", "", []string{alices, bobs}},
		{"participated", "bob", "?include=participated", []string{bobs}},
		{"participated by replying", "alice", "?include=participated", []string{alices, bobs}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := hs.do(tc.token, "GET", base+tc.query, nil).ok().obj()
			if got := eventIDs(resp["chunk"]); !equal(got, tc.want) {
				t.Errorf("threads %v, want %v", got, tc.want)
			}
		})
	}
	// New activity moves a thread to the front.
	hs.relate("bob", roomID, "m.room.message", "m.thread", bobs, map[string]any{"body": "c"})
	first := hs.do("bob", "GET", base+"?limit=1", nil).ok().obj()
	if got := eventIDs(first["chunk"]); !equal(got, []string{bobs}) {
		t.Errorf("first page %v", got)
	}
	rest := hs.do("bob", "GET", base+"?limit=1&from="+first["next_batch"].(string), nil).ok().obj()
	if got := eventIDs(rest["chunk"]); !equal(got, []string{alices}) {
		t.Errorf("second page %v", got)
	}
	summary := first["chunk"].([]any)[0].(map[string]any)["unsigned"].(map[string]any)["m.relations"].(map[string]any)["m.thread"].(map[string]any)
	if summary["count"] != float64(2) {
		t.Errorf("summary %v", summary)
	}
	hs.do("carol", "GET", base, nil).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("bob", "GET", base+"?include=some", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("bob", "GET", base+"?from=x", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
}
