package rooms

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
)

type staticAliases map[string]string

func (s staticAliases) ResolveAlias(_ context.Context, alias string) (string, []string, error) {
	id, ok := s[alias]
	if !ok {
		return "", nil, fmt.Errorf("%w: %s", ErrUnknownAlias, alias)
	}
	return id, []string{"far.test"}, nil
}

func TestAliases(t *testing.T) {
	hs := newHarnessWith(t, func(c *Config) { c.RemoteAliases = staticAliases{"#known:far.test": "!far:far.test"} })
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	private := hs.createRoom("alice", nil)
	hs.join("bob", roomID)
	a := func(alias string) string { return "/directory/room/" + esc(alias) }
	local := "#club:" + server
	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		status                    int
		errcode                   string
	}{
		{"create", "bob", "PUT", a(local), map[string]any{"room_id": roomID}, 200, ""},
		{"create again", "alice", "PUT", a(local), map[string]any{"room_id": roomID}, 409, "M_UNKNOWN"},
		{"another server's alias", "alice", "PUT", a("#x:elsewhere"), map[string]any{"room_id": roomID}, 400, "M_INVALID_PARAM"},
		{"invalid alias", "alice", "PUT", a("club"), map[string]any{"room_id": roomID}, 400, "M_INVALID_PARAM"},
		{"no room_id", "alice", "PUT", a("#y:" + server), map[string]any{}, 400, "M_MISSING_PARAM"},
		{"unknown room", "alice", "PUT", a("#y:" + server), map[string]any{"room_id": "!nope:" + server}, 404, "M_NOT_FOUND"},
		{"not in the room", "carol", "PUT", a("#y:" + server), map[string]any{"room_id": roomID}, 403, "M_FORBIDDEN"},
		{"bad JSON", "alice", "PUT", a("#y:" + server), "{", 400, "M_NOT_JSON"},
		{"resolve", "", "GET", a(local), nil, 200, ""},
		{"resolve unknown", "", "GET", a("#nope:" + server), nil, 404, "M_NOT_FOUND"},
		{"resolve invalid", "", "GET", a("nope"), nil, 400, "M_INVALID_PARAM"},
		{"resolve remote", "", "GET", a("#known:far.test"), nil, 200, ""},
		{"resolve unknown remote", "", "GET", a("#unknown:far.test"), nil, 404, "M_NOT_FOUND"},
		{"delete without power", "carol", "DELETE", a(local), nil, 403, "M_FORBIDDEN"},
		{"delete unknown", "alice", "DELETE", a("#nope:" + server), nil, 404, "M_NOT_FOUND"},
		{"aliases of a room, non-member", "carol", "GET", "/rooms/" + esc(roomID) + "/aliases", nil, 403, "M_FORBIDDEN"},
		{"aliases of an unknown room", "carol", "GET", "/rooms/" + esc("!nope:"+server) + "/aliases", nil, 403, "M_FORBIDDEN"},
		{"alias for a private room", "alice", "PUT", a("#secret:" + server), map[string]any{"room_id": private}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs.do(tc.token, tc.method, tc.path, tc.body).want(tc.status, tc.errcode)
		})
	}
	got := hs.do("", "GET", a(local), nil).ok().obj()
	if got["room_id"] != roomID || len(got["servers"].([]any)) != 1 || got["servers"].([]any)[0] != server {
		t.Errorf("resolved %v", got)
	}
	if got := hs.do("", "GET", a("#known:far.test"), nil).ok().obj(); got["room_id"] != "!far:far.test" {
		t.Errorf("remote resolved %v", got)
	}
	hs.setState("alice", roomID, "m.room.canonical_alias", "", map[string]any{"alias": local})
	aliases := hs.do("bob", "GET", "/rooms/"+esc(roomID)+"/aliases", nil).ok().obj()["aliases"].([]any)
	if len(aliases) != 1 || aliases[0] != local {
		t.Errorf("aliases = %v", aliases)
	}
	// Joining by alias works until the alias is deleted; a user with
	// power may delete aliases others made, and the canonical alias goes
	// with it.
	hs.do("carol", "POST", "/join/"+esc(local), nil).ok()
	hs.do("alice", "DELETE", a(local), nil).ok()
	hs.do("", "GET", a(local), nil).want(http.StatusNotFound, "M_NOT_FOUND")
	if c := hs.stateContent("alice", roomID, "m.room.canonical_alias", ""); c["alias"] != nil {
		t.Errorf("canonical alias kept the deleted alias: %v", c)
	}
	// The creator of an alias may delete it without power in the room.
	hs.do("bob", "PUT", a("#again:"+server), map[string]any{"room_id": roomID}).ok()
	hs.do("carol", "DELETE", a("#again:"+server), nil).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("bob", "DELETE", a("#again:"+server), nil).ok()
	if id, ok, err := hs.h.ResolveLocalAlias(context.Background(), "#secret:"+server); err != nil || !ok || id != private {
		t.Errorf("ResolveLocalAlias = %q, %v, %v", id, ok, err)
	}
}

func TestDirectoryVisibility(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	hs.join("bob", roomID)
	v := "/directory/list/room/" + esc(roomID)
	vis := func() any { return hs.do("", "GET", v, nil).ok().obj()["visibility"] }
	if vis() != "private" {
		t.Fatalf("new room visibility %v", vis())
	}
	hs.do("bob", "PUT", v, map[string]any{"visibility": "public"}).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("carol", "PUT", v, map[string]any{"visibility": "public"}).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("alice", "PUT", v, map[string]any{"visibility": "secret"}).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("alice", "PUT", "/directory/list/room/"+esc("!nope:"+server), map[string]any{"visibility": "public"}).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("", "GET", "/directory/list/room/"+esc("!nope:"+server), nil).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("alice", "PUT", v, map[string]any{}).ok() // defaults to public
	if vis() != "public" {
		t.Errorf("visibility %v", vis())
	}
	hs.do("alice", "PUT", v, map[string]any{"visibility": "public"}).ok()
	hs.do("alice", "PUT", v, map[string]any{"visibility": "private"}).ok()
	if vis() != "private" {
		t.Errorf("visibility %v", vis())
	}
}

func TestPublicRooms(t *testing.T) {
	hs := newHarness(t)
	var ids []string
	for i := range 7 {
		body := map[string]any{"preset": "public_chat", "visibility": "public", "name": fmt.Sprintf("Room %d", i), "topic": "about things"}
		if i == 3 {
			body["name"] = "Needle"
			body["room_alias_name"] = "needle"
		}
		if i == 5 {
			body["creation_content"] = map[string]any{"type": "m.space"}
		}
		ids = append(ids, hs.createRoom("alice", body))
	}
	hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "unlisted"})
	hs.join("bob", ids[3])
	slices.Sort(ids)

	var seen []string
	since := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		path := "/publicRooms?limit=3"
		if since != "" {
			path += "&since=" + since
		}
		resp := hs.do("", "GET", path, nil).ok().obj()
		if resp["total_room_count_estimate"] != float64(7) {
			t.Errorf("total = %v", resp["total_room_count_estimate"])
		}
		for _, c := range resp["chunk"].([]any) {
			seen = append(seen, c.(map[string]any)["room_id"].(string))
		}
		next, ok := resp["next_batch"].(string)
		if !ok {
			break
		}
		since = next
	}
	if !equal(seen, ids) {
		t.Errorf("listed %v, want %v", seen, ids)
	}
	published, err := hs.h.PublishedRooms(context.Background(), 4)
	if err != nil || !equal(published, ids[:4]) {
		t.Errorf("PublishedRooms(4) = %v, %v; want %v", published, err, ids[:4])
	}

	found := hs.do("alice", "POST", "/publicRooms", map[string]any{"filter": map[string]any{"generic_search_term": "neEDLE"}}).ok().obj()["chunk"].([]any)
	if len(found) != 1 {
		t.Fatalf("search found %v", found)
	}
	room := found[0].(map[string]any)
	if room["name"] != "Needle" || room["canonical_alias"] != "#needle:"+server || room["num_joined_members"] != float64(2) ||
		room["join_rule"] != "public" || room["world_readable"] != false || room["guest_can_join"] != false || room["topic"] != "about things" {
		t.Errorf("summary = %v", room)
	}
	// The member count follows joins.
	hs.join("carol", room["room_id"].(string))
	again := hs.do("alice", "POST", "/publicRooms", map[string]any{"filter": map[string]any{"generic_search_term": "needle"}}).ok().obj()["chunk"].([]any)
	if n := again[0].(map[string]any)["num_joined_members"]; n != float64(3) {
		t.Errorf("after a join: %v members", n)
	}
	spaces := hs.do("alice", "POST", "/publicRooms", map[string]any{"filter": map[string]any{"room_types": []string{"m.space"}}}).ok().obj()["chunk"].([]any)
	if len(spaces) != 1 || spaces[0].(map[string]any)["room_type"] != "m.space" {
		t.Errorf("spaces = %v", spaces)
	}
	plain := hs.do("alice", "POST", "/publicRooms", map[string]any{"filter": map[string]any{"room_types": []any{nil}}}).ok().obj()["chunk"].([]any)
	if len(plain) != 6 {
		t.Errorf("rooms without a type: %d", len(plain))
	}
	hs.do("", "GET", "/publicRooms?since=zzz", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("", "GET", "/publicRooms?limit=x", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("", "GET", "/publicRooms?server=elsewhere", nil).want(http.StatusNotFound, "M_NOT_FOUND")
	hs.do("", "POST", "/publicRooms", map[string]any{}).want(http.StatusUnauthorized, "M_MISSING_TOKEN")
	hs.do("alice", "POST", "/publicRooms", "{").want(http.StatusBadRequest, "M_NOT_JSON")
	// prev_batch pages back.
	page2 := hs.do("", "GET", "/publicRooms?limit=3&since=n"+esc(ids[2]), nil).ok().obj()
	back := hs.do("", "GET", "/publicRooms?limit=3&since="+esc(page2["prev_batch"].(string)), nil).ok().obj()
	var backIDs []string
	for _, c := range back["chunk"].([]any) {
		backIDs = append(backIDs, c.(map[string]any)["room_id"].(string))
	}
	if !equal(backIDs, ids[:3]) {
		t.Errorf("prev page %v, want %v", backIDs, ids[:3])
	}
}
