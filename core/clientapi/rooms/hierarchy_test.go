package rooms

import (
	"net/http"
	"testing"
)

func TestHierarchy(t *testing.T) {
	hs := newHarness(t)
	space := hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "Space", "creation_content": map[string]any{"type": "m.space"}})
	sub := hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "Sub", "creation_content": map[string]any{"type": "m.space"}})
	a := hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "A"})
	b := hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "B"})
	deep := hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "Deep"})
	secret := hs.createRoom("alice", map[string]any{"preset": "private_chat", "name": "Secret"})
	child := func(parent, id string, content map[string]any) {
		hs.setState("alice", parent, "m.space.child", id, content)
	}
	via := []string{server}
	child(space, b, map[string]any{"via": via, "order": "b"})
	child(space, a, map[string]any{"via": via, "order": "a", "suggested": true})
	child(space, sub, map[string]any{"via": via})
	child(space, secret, map[string]any{"via": via})
	child(space, "!unknown:"+server, map[string]any{"via": via})
	child(space, deep, map[string]any{}) // no via: not a child
	child(sub, deep, map[string]any{"via": via})
	child(sub, space, map[string]any{"via": via}) // a loop

	base := "/_matrix/client/v1/rooms/" + esc(space) + "/hierarchy"
	ids := func(resp map[string]any) []string {
		var out []string
		for _, r := range resp["rooms"].([]any) {
			out = append(out, r.(map[string]any)["room_id"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"everything visible, depth first in order", "", []string{space, a, b, sub, deep}},
		{"suggested only", "?suggested_only=true", []string{space, a}},
		{"depth 1", "?max_depth=1", []string{space, a, b, sub}},
		{"depth 0", "?max_depth=0", []string{space}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(hs.do("bob", "GET", base+tc.query, nil).ok().obj()); !equal(got, tc.want) {
				t.Errorf("rooms %v, want %v", got, tc.want)
			}
		})
	}
	// alice, a member of the secret room, sees it.
	if got := ids(hs.do("alice", "GET", base, nil).ok().obj()); !equal(got, []string{space, a, b, sub, deep, secret}) {
		t.Errorf("alice sees %v", got)
	}
	// Pagination.
	var paged []string
	from := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("hierarchy pagination does not end")
		}
		q := "?limit=2"
		if from != "" {
			q += "&from=" + from
		}
		resp := hs.do("bob", "GET", base+q, nil).ok().obj()
		paged = append(paged, ids(resp)...)
		next, ok := resp["next_batch"].(string)
		if !ok {
			break
		}
		from = next
	}
	if !equal(paged, []string{space, a, b, sub, deep}) {
		t.Errorf("paged %v", paged)
	}
	first := hs.do("bob", "GET", base+"?limit=1", nil).ok().obj()
	hs.do("bob", "GET", base+"?limit=1&max_depth=2&from="+first["next_batch"].(string), nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	top := first["rooms"].([]any)[0].(map[string]any)
	if top["name"] != "Space" || top["room_type"] != "m.space" || top["join_rule"] != "public" || top["num_joined_members"] != float64(1) || top["room_version"] != "11" {
		t.Errorf("space summary = %v", top)
	}
	children := top["children_state"].([]any)
	if len(children) != 5 {
		t.Fatalf("children_state = %v", children)
	}
	c0 := children[0].(map[string]any)
	if c0["type"] != "m.space.child" || c0["state_key"] != a || c0["origin_server_ts"] == nil || c0["sender"] != alice {
		t.Errorf("first child = %v", c0)
	}
	hs.do("bob", "GET", "/_matrix/client/v1/rooms/"+esc(secret)+"/hierarchy", nil).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("bob", "GET", "/_matrix/client/v1/rooms/"+esc("!nope:"+server)+"/hierarchy", nil).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("bob", "GET", base+"?limit=0", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("bob", "GET", base+"?suggested_only=yes", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
	hs.do("bob", "GET", base+"?from=zzz", nil).want(http.StatusBadRequest, "M_INVALID_PARAM")
}

func TestHierarchyPreviewRules(t *testing.T) {
	hs := newHarness(t)
	space := hs.createRoom("alice", map[string]any{"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}})
	club := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	restricted := hs.createRoom("alice", map[string]any{"preset": "private_chat", "initial_state": []map[string]any{
		{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "restricted", "allow": []map[string]any{{"type": "m.room_membership", "room_id": club}}}},
	}})
	knock := hs.createRoom("alice", map[string]any{"preset": "private_chat", "initial_state": []map[string]any{
		{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "knock"}},
	}})
	readable := hs.createRoom("alice", map[string]any{"preset": "private_chat", "initial_state": []map[string]any{
		{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}},
	}})
	invited := hs.createRoom("alice", map[string]any{"preset": "private_chat", "invite": []string{bob}})
	hidden := hs.createRoom("alice", map[string]any{"preset": "private_chat"})
	for _, id := range []string{restricted, knock, readable, invited, hidden} {
		hs.setState("alice", space, "m.space.child", id, map[string]any{"via": []string{server}, "order": "x\u0000invalid"})
	}
	base := "/_matrix/client/v1/rooms/" + esc(space) + "/hierarchy"
	count := func(token string) int {
		return len(hs.do(token, "GET", base, nil).ok().obj()["rooms"].([]any))
	}
	// bob may preview the knockable, world-readable and invited rooms, and
	// not the restricted one until he is in the allowed room.
	if n := count("bob"); n != 4 {
		t.Errorf("bob sees %d rooms, want 4", n)
	}
	hs.join("bob", club)
	if n := count("bob"); n != 5 {
		t.Errorf("bob in the club sees %d rooms, want 5", n)
	}
	entry := hs.do("bob", "GET", "/_matrix/client/v1/rooms/"+esc(restricted)+"/hierarchy", nil).ok().obj()["rooms"].([]any)[0].(map[string]any)
	if ids, _ := entry["allowed_room_ids"].([]any); len(ids) != 1 || ids[0] != club {
		t.Errorf("allowed_room_ids = %v", entry["allowed_room_ids"])
	}
}
