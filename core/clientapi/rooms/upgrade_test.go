package rooms

import (
	"net/http"
	"testing"
)

func TestUpgrade(t *testing.T) {
	for _, tc := range []struct{ from, to string }{
		{"10", "11"}, {"11", "12"}, {"12", "11"}, {"1", "10"},
	} {
		t.Run(tc.from+"to"+tc.to, func(t *testing.T) {
			hs := newHarness(t)
			oldID := hs.createRoom("alice", map[string]any{
				"preset": "public_chat", "visibility": "public", "room_version": tc.from,
				"name": "Old", "topic": "T", "room_alias_name": "up",
				"creation_content": map[string]any{"type": "m.space"},
				"initial_state": []map[string]any{
					{"type": "m.room.encryption", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}},
					{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "joined"}},
				},
			})
			hs.join("bob", oldID)
			hs.do("alice", "POST", "/rooms/"+esc(oldID)+"/ban", map[string]any{"user_id": "@spammer:elsewhere"}).ok()
			hs.setState("alice", oldID, "m.space.child", "!child:"+server, map[string]any{"via": []string{server}})
			last := hs.sendMessage("bob", oldID, "last words")
			hs.do("bob", "POST", "/rooms/"+esc(oldID)+"/upgrade", map[string]any{"new_version": tc.to}).want(http.StatusForbidden, "M_FORBIDDEN")

			newID := hs.do("alice", "POST", "/rooms/"+esc(oldID)+"/upgrade", map[string]any{"new_version": tc.to}).ok().obj()["replacement_room"].(string)
			create := hs.stateContent("alice", newID, "m.room.create", "")
			pred := create["predecessor"].(map[string]any)
			if create["room_version"] != tc.to || pred["room_id"] != oldID || pred["event_id"] != last || create["type"] != "m.space" {
				t.Errorf("new create content = %v", create)
			}
			for _, c := range []struct {
				typ, field string
				want       any
			}{
				{"m.room.name", "name", "Old"},
				{"m.room.topic", "topic", "T"},
				{"m.room.join_rules", "join_rule", "public"},
				{"m.room.history_visibility", "history_visibility", "joined"},
				{"m.room.guest_access", "guest_access", "forbidden"},
				{"m.room.encryption", "algorithm", "m.megolm.v1.aes-sha2"},
				{"m.room.canonical_alias", "alias", "#up:" + server},
			} {
				if got := hs.stateContent("alice", newID, c.typ, "")[c.field]; got != c.want {
					t.Errorf("new room %s.%s = %v, want %v", c.typ, c.field, got, c.want)
				}
			}
			users := hs.stateContent("alice", newID, "m.room.power_levels", "")["users"].(map[string]any)
			if _, named := users[alice]; named == (tc.to == "12") {
				t.Errorf("new power levels users = %v", users)
			}
			if m := hs.stateContent("alice", newID, "m.room.member", "@spammer:elsewhere"); m["membership"] != "ban" {
				t.Errorf("ban not carried over: %v", m)
			}
			if c := hs.stateContent("alice", newID, "m.space.child", "!child:"+server); c["via"] == nil {
				t.Errorf("space child not carried over: %v", c)
			}
			tomb := hs.stateContent("alice", oldID, "m.room.tombstone", "")
			if tomb["replacement_room"] != newID {
				t.Errorf("tombstone = %v", tomb)
			}
			oldPL := hs.stateContent("alice", oldID, "m.room.power_levels", "")
			if oldPL["events_default"] != float64(50) || oldPL["invite"] != float64(50) {
				t.Errorf("old power levels not restricted: %v", oldPL)
			}
			hs.do("bob", "PUT", "/rooms/"+esc(oldID)+"/send/m.room.message/after", map[string]any{"body": "x"}).want(http.StatusForbidden, "M_FORBIDDEN")
			if got := hs.do("", "GET", "/directory/room/"+esc("#up:"+server), nil).ok().obj()["room_id"]; got != newID {
				t.Errorf("alias points to %v", got)
			}
			if vis := hs.do("", "GET", "/directory/list/room/"+esc(newID), nil).ok().obj()["visibility"]; vis != "public" {
				t.Errorf("new room not published: %v", vis)
			}
			if vis := hs.do("", "GET", "/directory/list/room/"+esc(oldID), nil).ok().obj()["visibility"]; vis != "private" {
				t.Errorf("old room still published: %v", vis)
			}
			aliases := hs.do("alice", "GET", "/rooms/"+esc(newID)+"/aliases", nil).ok().obj()["aliases"].([]any)
			if len(aliases) != 1 {
				t.Errorf("new room aliases %v", aliases)
			}
			hs.do("alice", "POST", "/rooms/"+esc(oldID)+"/upgrade", map[string]any{"new_version": tc.to}).want(http.StatusBadRequest, "M_INVALID_PARAM")
		})
	}
}

func TestUpgradeRaisesTheUpgraderUntilStateIsCopied(t *testing.T) {
	hs := newHarness(t)
	oldID := hs.createRoom("alice", map[string]any{"preset": "public_chat", "name": "n"})
	hs.join("bob", oldID)
	// bob may upgrade (tombstone at 50) but not set history visibility or
	// power levels (100) in the old room.
	hs.setState("alice", oldID, "m.room.power_levels", "", map[string]any{
		"users":  map[string]any{alice: 100, bob: 50},
		"events": map[string]any{"m.room.tombstone": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100},
	})
	newID := hs.do("bob", "POST", "/rooms/"+esc(oldID)+"/upgrade", map[string]any{"new_version": "11"}).ok().obj()["replacement_room"].(string)
	users := hs.stateContent("bob", newID, "m.room.power_levels", "")["users"].(map[string]any)
	if users[bob] != float64(50) || users[alice] != float64(100) {
		t.Errorf("final power levels users = %v", users)
	}
	if hs.stateContent("bob", newID, "m.room.history_visibility", "")["history_visibility"] != "shared" {
		t.Error("history visibility not copied")
	}
}

func TestUpgradeErrors(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", nil)
	r := "/rooms/" + esc(roomID) + "/upgrade"
	for _, tc := range []struct {
		name, token string
		body        any
		status      int
		errcode     string
	}{
		{"unknown version", "alice", map[string]any{"new_version": "99"}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
		{"no version", "alice", map[string]any{}, 400, "M_MISSING_PARAM"},
		{"bad JSON", "alice", "{", 400, "M_NOT_JSON"},
		{"bad additional creator", "alice", map[string]any{"new_version": "12", "additional_creators": []string{"x"}}, 400, "M_INVALID_PARAM"},
		{"non-member", "bob", map[string]any{"new_version": "11"}, 403, "M_FORBIDDEN"},
		{"guest", "guest", map[string]any{"new_version": "11"}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs.do(tc.token, "POST", r, tc.body).want(tc.status, tc.errcode)
		})
	}
	hs.do("alice", "POST", "/rooms/"+esc("!nope:"+server)+"/upgrade", map[string]any{"new_version": "11"}).want(http.StatusForbidden, "M_FORBIDDEN")
	// additional_creators reach a v12 room's create event.
	newID := hs.do("alice", "POST", r, map[string]any{"new_version": "12", "additional_creators": []string{bob}}).ok().obj()["replacement_room"].(string)
	addl := hs.stateContent("alice", newID, "m.room.create", "")["additional_creators"].([]any)
	if len(addl) != 1 || addl[0] != bob {
		t.Errorf("additional_creators = %v", addl)
	}
}
