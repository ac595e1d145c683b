package fedserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"hearth/core/fedclient"
)

func TestPublicRooms(t *testing.T) {
	e := newEnv(t, nil)
	alpha := e.room(nil, [][2]any{
		{"m.room.join_rules", map[string]any{"join_rule": "public"}},
		{"m.room.name", map[string]any{"name": "Alpha"}},
		{"m.room.topic", map[string]any{"topic": "first letters"}},
		{"m.room.canonical_alias", map[string]any{"alias": "#alpha:hs.test"}},
		{"m.room.history_visibility", map[string]any{"history_visibility": "world_readable"}},
		{"m.room.guest_access", map[string]any{"guest_access": "can_join"}},
		{"m.room.avatar", map[string]any{"url": "mxc://hs.test/a"}},
	})
	beta := e.room(map[string]any{"type": "m.space"}, [][2]any{{"m.room.name", map[string]any{"name": "Beta"}}})
	gamma := e.room(nil, [][2]any{{"m.room.topic", map[string]any{"topic": "a BETA fan club"}}})
	e.room(nil, [][2]any{{"m.room.name", map[string]any{"name": "Beta unpublished"}}})
	e.dir.rooms = []string{alpha, beta, gamma, "!gone:hs.test"}

	out := e.expect("other.test", "GET", "/publicRooms?limit=2", nil, http.StatusOK, "")
	if got := chunkField(out, "chunk", "room_id"); !slices.Equal(got, []string{alpha, beta}) || out["next_batch"] != "o2" {
		t.Fatalf("first page %v, next_batch %v", got, out["next_batch"])
	}
	first := out["chunk"].([]any)[0].(map[string]any)
	want := map[string]any{"room_id": alpha, "name": "Alpha", "topic": "first letters", "canonical_alias": "#alpha:hs.test",
		"num_joined_members": float64(1), "world_readable": true, "guest_can_join": true, "join_rule": "public", "avatar_url": "mxc://hs.test/a"}
	if asJSON(first) != asJSON(want) {
		t.Fatalf("summary %v, want %v", first, want)
	}
	if sp := out["chunk"].([]any)[1].(map[string]any); sp["room_type"] != "m.space" || sp["join_rule"] != "invite" || sp["world_readable"] != false {
		t.Fatalf("space summary %v", sp)
	}
	out = e.expect("other.test", "GET", "/publicRooms?limit=2&since=o2", nil, http.StatusOK, "")
	if got := chunkField(out, "chunk", "room_id"); !slices.Equal(got, []string{gamma}) || out["next_batch"] != nil || out["prev_batch"] != "o0" {
		t.Fatalf("second page %v (%v)", got, out)
	}
	out = e.expect("other.test", "POST", "/publicRooms", map[string]any{"filter": map[string]any{"generic_search_term": "beta"}}, http.StatusOK, "")
	if got := chunkField(out, "chunk", "room_id"); !slices.Equal(got, []string{beta, gamma}) {
		t.Fatalf("search for beta found %v", got)
	}
	out = e.expect("other.test", "POST", "/publicRooms", map[string]any{"filter": map[string]any{"room_types": []any{"m.space"}}}, http.StatusOK, "")
	if got := chunkField(out, "chunk", "room_id"); !slices.Equal(got, []string{beta}) {
		t.Fatalf("spaces: %v", got)
	}
	out = e.expect("other.test", "POST", "/publicRooms", map[string]any{"filter": map[string]any{"room_types": []any{nil}}}, http.StatusOK, "")
	if got := chunkField(out, "chunk", "room_id"); !slices.Equal(got, []string{alpha, gamma}) {
		t.Fatalf("rooms without a type: %v", got)
	}
	out = e.expect("other.test", "POST", "/publicRooms", map[string]any{"limit": 1, "since": "o1"}, http.StatusOK, "")
	if got := chunkField(out, "chunk", "room_id"); !slices.Equal(got, []string{beta}) {
		t.Fatalf("POST page found %v", got)
	}

	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/publicRooms?limit=x", nil, 400, "M_INVALID_PARAM"},
		{"GET", "/publicRooms?since=bogus", nil, 400, "M_INVALID_PARAM"},
		{"POST", "/publicRooms", "{not json", 400, "M_NOT_JSON"},
		{"POST", "/publicRooms", map[string]any{"limit": -1}, 400, "M_INVALID_PARAM"},
	} {
		e.expect("other.test", c.method, c.path, c.body, c.status, c.code)
	}
	// A server a room's ACL denies does not see it listed.
	e.send(beta, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"evil.test"}})
	page, err := e.client("evil.test").PublicRooms(context.Background(), testServer, fedclient.PublicRoomsRequest{})
	if err != nil || len(page.Chunk) != 2 || strings.Contains(string(page.Chunk[0])+string(page.Chunk[1]), beta) {
		t.Fatalf("directory for an ACL-denied server: %d rooms, %v", len(page.Chunk), err)
	}
	none := newEnv(t, func(c *Config) { c.Directory = nil })
	none.expect("other.test", "GET", "/publicRooms", nil, 404, "M_UNRECOGNIZED")
}

func TestHierarchy(t *testing.T) {
	e := newEnv(t, nil)
	public := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "public"}}, {"m.room.name", map[string]any{"name": "Public child"}}})
	private := e.room(nil, nil)
	restricted := e.room(nil, [][2]any{{"m.room.join_rules", map[string]any{"join_rule": "restricted",
		"allow": []any{map[string]any{"type": "m.room_membership", "room_id": "!space:hs.test"}}}}})
	unknown := "!elsewhere:other.test"
	via := []string{"hs.test"}
	space := e.room(map[string]any{"type": "m.space"}, [][2]any{
		{"m.room.join_rules", map[string]any{"join_rule": "public"}},
		{"m.room.name", map[string]any{"name": "Space"}},
		{"m.space.child|" + public, map[string]any{"via": via, "suggested": true}},
		{"m.space.child|" + private, map[string]any{"via": via}},
		{"m.space.child|" + restricted, map[string]any{"via": via}},
		{"m.space.child|" + unknown, map[string]any{"via": []string{"other.test"}}},
		{"m.space.child|!removed:hs.test", map[string]any{}},
	})
	out := e.expect("other.test", "GET", "/hierarchy/"+space, nil, http.StatusOK, "")
	top := out["room"].(map[string]any)
	if top["room_id"] != space || top["room_type"] != "m.space" || top["name"] != "Space" || top["room_version"] != "10" {
		t.Fatalf("room %v", top)
	}
	wantChildren := []string{public, private, restricted, unknown}
	slices.Sort(wantChildren)
	if got := chunkField(top, "children_state", "state_key"); !slices.Equal(got, wantChildren) {
		t.Fatalf("children_state %v, want %v", got, wantChildren)
	}
	cs := top["children_state"].([]any)[0].(map[string]any)
	if cs["type"] != "m.space.child" || cs["sender"] != e.creator || cs["origin_server_ts"] == nil || cs["content"] == nil {
		t.Fatalf("stripped child state %v", cs)
	}
	gotChildren := chunkField(out, "children", "room_id")
	wantAccessible := []string{public, restricted}
	slices.Sort(wantAccessible)
	if !slices.Equal(gotChildren, wantAccessible) {
		t.Fatalf("children %v, want %v", gotChildren, wantAccessible)
	}
	for _, c := range out["children"].([]any) {
		c := c.(map[string]any)
		if _, ok := c["children_state"].([]any); !ok {
			t.Fatalf("child without children_state: %v", c)
		}
		if c["room_id"] == restricted && asJSON(c["allowed_room_ids"]) != `["!space:hs.test"]` {
			t.Fatalf("restricted child %v", c)
		}
	}
	if asJSON(out["inaccessible_children"]) != asJSON([]string{private}) {
		t.Fatalf("inaccessible_children %v", out["inaccessible_children"])
	}

	out = e.expect("other.test", "GET", "/hierarchy/"+space+"?suggested_only=true", nil, http.StatusOK, "")
	if got := chunkField(out["room"].(map[string]any), "children_state", "state_key"); !slices.Equal(got, []string{public}) {
		t.Fatalf("suggested children_state %v", got)
	}
	if got := chunkField(out, "children", "room_id"); !slices.Equal(got, []string{public}) {
		t.Fatalf("suggested children %v", got)
	}

	// A private room is hidden from other servers but not from its members'.
	e.expect("other.test", "GET", "/hierarchy/"+private, nil, http.StatusNotFound, "M_NOT_FOUND")
	e.expect("hs.test", "GET", "/hierarchy/"+private, nil, http.StatusOK, "")
	e.expect("other.test", "GET", "/hierarchy/!nope:hs.test", nil, http.StatusNotFound, "M_NOT_FOUND")

	// A server the space's ACL denies is refused; one a child's ACL denies
	// sees that child as inaccessible.
	e.send(public, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"evil.test"}})
	h, err := e.client("evil.test").Hierarchy(context.Background(), testServer, space, false)
	if err != nil || !slices.Contains(h.InaccessibleChildren, public) {
		t.Fatalf("hierarchy for a server a child denies: %v, %v", h.InaccessibleChildren, err)
	}
	e.send(space, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"evil.test"}})
	if _, err := e.client("evil.test").Hierarchy(context.Background(), testServer, space, false); fedclient.StatusOf(err) != 403 {
		t.Fatalf("hierarchy for a server the space denies: %v, want 403", err)
	}
}
