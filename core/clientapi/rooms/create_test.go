package rooms

import (
	"context"
	"net/http"
	"testing"
)

func TestCreateRoomPresetsAndVersions(t *testing.T) {
	for _, version := range []string{"1", "10", "11", "12"} {
		for _, tc := range []struct {
			preset, visibility     string
			joinRule, guestAccess  string
			invite                 float64
			inviteeIsOp, published bool
		}{
			{"private_chat", "", "invite", "can_join", 0, false, false},
			{"trusted_private_chat", "", "invite", "can_join", 0, true, false},
			{"public_chat", "", "public", "forbidden", 50, false, false},
			{"", "public", "public", "forbidden", 50, false, true},
			{"", "", "invite", "can_join", 0, false, false},
		} {
			t.Run("v"+version+"/"+tc.preset+tc.visibility, func(t *testing.T) {
				hs := newHarness(t)
				body := map[string]any{
					"room_version": version, "name": "The Room", "topic": "Things",
					"invite": []string{bob}, "is_direct": true,
				}
				if tc.preset != "" {
					body["preset"] = tc.preset
				}
				if tc.visibility != "" {
					body["visibility"] = tc.visibility
				}
				roomID := hs.createRoom("alice", body)

				create := hs.stateContent("alice", roomID, "m.room.create", "")
				if create["room_version"] != version {
					t.Errorf("room_version = %v", create["room_version"])
				}
				if _, has := create["creator"]; has != (version == "1" || version == "10") {
					t.Errorf("create content %v: creator present = %v", create, has)
				}
				if got := hs.stateContent("alice", roomID, "m.room.join_rules", "")["join_rule"]; got != tc.joinRule {
					t.Errorf("join_rule = %v, want %s", got, tc.joinRule)
				}
				if got := hs.stateContent("alice", roomID, "m.room.history_visibility", "")["history_visibility"]; got != "shared" {
					t.Errorf("history_visibility = %v", got)
				}
				if got := hs.stateContent("alice", roomID, "m.room.guest_access", "")["guest_access"]; got != tc.guestAccess {
					t.Errorf("guest_access = %v, want %s", got, tc.guestAccess)
				}
				if got := hs.stateContent("alice", roomID, "m.room.name", "")["name"]; got != "The Room" {
					t.Errorf("name = %v", got)
				}
				if got := hs.stateContent("alice", roomID, "m.room.topic", "")["topic"]; got != "Things" {
					t.Errorf("topic = %v", got)
				}
				pl := hs.stateContent("alice", roomID, "m.room.power_levels", "")
				users := pl["users"].(map[string]any)
				if version == "12" {
					if _, ok := users[alice]; ok {
						t.Errorf("v12 power levels name the creator: %v", users)
					}
					if got := pl["events"].(map[string]any)["m.room.tombstone"]; got != float64(150) {
						t.Errorf("v12 tombstone level = %v, want 150", got)
					}
					addl, _ := create["additional_creators"].([]any)
					if tc.inviteeIsOp != (len(addl) == 1 && addl[0] == bob) {
						t.Errorf("additional_creators = %v", addl)
					}
					if _, ok := users[bob]; ok {
						t.Errorf("v12 power levels name an invitee: %v", users)
					}
				} else {
					if users[alice] != float64(100) {
						t.Errorf("creator level = %v", users[alice])
					}
					if _, ok := users[bob]; ok != tc.inviteeIsOp {
						t.Errorf("invitee in users = %v, want %v", ok, tc.inviteeIsOp)
					}
				}
				if pl["invite"] != tc.invite {
					t.Errorf("invite level = %v, want %v", pl["invite"], tc.invite)
				}
				member := hs.stateContent("alice", roomID, "m.room.member", bob)
				if member["membership"] != "invite" || member["is_direct"] != true || member["displayname"] != "Bob" {
					t.Errorf("invite content = %v", member)
				}
				creator := hs.stateContent("alice", roomID, "m.room.member", alice)
				if creator["displayname"] != "Alice" || creator["avatar_url"] != "mxc://hs.test/alice" {
					t.Errorf("creator member content = %v", creator)
				}
				vis := hs.do("", "GET", "/directory/list/room/"+esc(roomID), nil).ok().obj()["visibility"]
				if (vis == "public") != tc.published {
					t.Errorf("directory visibility = %v", vis)
				}
			})
		}
	}
}

// TestCreateRoomEventOrder checks the order of the spec: create, creator
// join, power levels, canonical alias, preset events, initial_state, name,
// topic, invites.
func TestCreateRoomEventOrder(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{
		"preset": "public_chat", "room_alias_name": "order", "name": "N", "topic": "T",
		"invite":        []string{bob},
		"initial_state": []map[string]any{{"type": "m.room.encryption", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}},
	})
	var got []string
	for _, a := range hs.added {
		if a.Event.RoomID() == roomID {
			got = append(got, a.Event.Type())
		}
	}
	want := []string{
		"m.room.create", "m.room.member", "m.room.power_levels", "m.room.canonical_alias",
		"m.room.join_rules", "m.room.history_visibility", "m.room.guest_access",
		"m.room.encryption", "m.room.name", "m.room.topic", "m.room.member",
	}
	if !equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if alias := hs.stateContent("alice", roomID, "m.room.canonical_alias", "")["alias"]; alias != "#order:"+server {
		t.Errorf("canonical alias = %v", alias)
	}
	resolved := hs.do("", "GET", "/directory/room/"+esc("#order:"+server), nil).ok().obj()
	if resolved["room_id"] != roomID {
		t.Errorf("alias resolves to %v", resolved)
	}
}

func TestCreateRoomOptions(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{
		"preset":           "private_chat",
		"creation_content": map[string]any{"type": "m.space", "m.federate": false, "creator": "@mallory:evil", "room_version": "1"},
		"initial_state": []map[string]any{
			{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "joined"}},
			{"type": "m.room.name", "content": map[string]any{"name": "overridden"}},
		},
		"name":                         "kept",
		"power_level_content_override": map[string]any{"events_default": 10, "users": map[string]any{alice: 100, bob: 20}},
	})
	create := hs.stateContent("alice", roomID, "m.room.create", "")
	if create["type"] != "m.space" || create["m.federate"] != false || create["room_version"] != "11" {
		t.Errorf("create content = %v", create)
	}
	if _, ok := create["creator"]; ok {
		t.Errorf("v11 create content has a creator: %v", create)
	}
	if hv := hs.stateContent("alice", roomID, "m.room.history_visibility", "")["history_visibility"]; hv != "joined" {
		t.Errorf("initial_state did not override the preset: %v", hv)
	}
	if name := hs.stateContent("alice", roomID, "m.room.name", "")["name"]; name != "kept" {
		t.Errorf("name = %v, want the name parameter to win", name)
	}
	pl := hs.stateContent("alice", roomID, "m.room.power_levels", "")
	if pl["events_default"] != float64(10) || pl["users"].(map[string]any)[bob] != float64(20) || pl["state_default"] != float64(50) {
		t.Errorf("power levels = %v", pl)
	}
}

func TestCreateRoomErrors(t *testing.T) {
	hs := newHarness(t)
	hs.createRoom("alice", map[string]any{"room_alias_name": "taken"})
	rooms := func() int {
		m, err := hs.dag.Rooms(context.Background(), alice)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	before := rooms()
	for _, tc := range []struct {
		name    string
		token   string
		body    any
		status  int
		errcode string
	}{
		{"not JSON", "alice", "{nope", http.StatusBadRequest, "M_NOT_JSON"},
		{"wrong type", "alice", map[string]any{"name": 5}, http.StatusBadRequest, "M_BAD_JSON"},
		{"unknown version", "alice", map[string]any{"room_version": "99"}, http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION"},
		{"unknown preset", "alice", map[string]any{"preset": "party"}, http.StatusBadRequest, "M_INVALID_PARAM"},
		{"unknown visibility", "alice", map[string]any{"visibility": "secret"}, http.StatusBadRequest, "M_INVALID_PARAM"},
		{"alias taken", "alice", map[string]any{"room_alias_name": "taken"}, http.StatusBadRequest, "M_ROOM_IN_USE"},
		{"bad alias", "alice", map[string]any{"room_alias_name": "a:b"}, http.StatusBadRequest, "M_INVALID_PARAM"},
		{"bad invitee", "alice", map[string]any{"invite": []string{"bob"}}, http.StatusBadRequest, "M_INVALID_PARAM"},
		{"create in initial_state", "alice", map[string]any{"initial_state": []map[string]any{{"type": "m.room.create", "content": map[string]any{}}}}, http.StatusBadRequest, "M_BAD_JSON"},
		{"initial_state content not an object", "alice", map[string]any{"initial_state": []map[string]any{{"type": "m.room.topic", "content": "x"}}}, http.StatusBadRequest, "M_BAD_JSON"},
		{"creator cannot set the name", "alice", map[string]any{"name": "x", "power_level_content_override": map[string]any{"events": map[string]any{"m.room.name": 101}}}, http.StatusBadRequest, "M_INVALID_ROOM_STATE"},
		{"v12 creator in users", "alice", map[string]any{"room_version": "12", "power_level_content_override": map[string]any{"users": map[string]any{alice: 100}}}, http.StatusBadRequest, "M_INVALID_ROOM_STATE"},
		{"float in v11 content", "alice", map[string]any{"initial_state": []map[string]any{{"type": "x.y", "content": map[string]any{"f": 1.5}}}}, http.StatusBadRequest, "M_BAD_JSON"},
		{"third-party invite", "alice", map[string]any{"invite_3pid": []map[string]any{{"medium": "email"}}}, http.StatusForbidden, "M_FORBIDDEN"},
		{"guest", "guest", map[string]any{}, http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN"},
		{"no token", "", map[string]any{}, http.StatusUnauthorized, "M_MISSING_TOKEN"},
		{"bad token", "nobody", map[string]any{}, http.StatusUnauthorized, "M_UNKNOWN_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs.do(tc.token, "POST", "/createRoom", tc.body).want(tc.status, tc.errcode)
			if n := rooms(); n != before {
				t.Fatalf("a refused request left %d rooms, want %d", n, before)
			}
		})
	}
}
