package rooms

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"hearth/core/matrixerr"
)

func TestMembershipFlow(t *testing.T) {
	hs := newHarness(t)
	public := hs.createRoom("alice", map[string]any{"preset": "public_chat", "room_alias_name": "pub"})
	private := hs.createRoom("alice", map[string]any{"preset": "private_chat"})
	knockable := hs.createRoom("alice", map[string]any{"preset": "private_chat", "initial_state": []map[string]any{
		{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "knock"}},
	}})
	r := func(id string) string { return "/rooms/" + esc(id) }

	steps := []struct {
		name           string
		token, method  string
		path           string
		body           any
		status         int
		errcode        string
		user, room     string // whose membership to check afterwards
		wantMembership string
	}{
		{"join a public room", "bob", "POST", r(public) + "/join", map[string]any{"reason": "hi"}, 200, "", bob, public, "join"},
		{"join again changes nothing", "bob", "POST", r(public) + "/join", nil, 200, "", bob, public, "join"},
		{"join by alias", "carol", "POST", "/join/" + esc("#pub:"+server), nil, 200, "", carol, public, "join"},
		{"join an unknown alias", "carol", "POST", "/join/" + esc("#nope:"+server), nil, 404, "M_NOT_FOUND", "", "", ""},
		{"join an unknown room", "carol", "POST", "/join/" + esc("!nope:elsewhere"), nil, 404, "M_NOT_FOUND", "", "", ""},
		{"join neither ID nor alias", "carol", "POST", "/join/nope", nil, 400, "M_INVALID_PARAM", "", "", ""},
		{"join an invite-only room uninvited", "bob", "POST", r(private) + "/join", nil, 403, "M_FORBIDDEN", bob, private, ""},
		{"non-member cannot invite", "bob", "POST", r(private) + "/invite", map[string]any{"user_id": carol}, 403, "M_FORBIDDEN", carol, private, ""},
		{"invite without user_id", "alice", "POST", r(private) + "/invite", map[string]any{}, 400, "M_MISSING_PARAM", "", "", ""},
		{"invite an invalid user ID", "alice", "POST", r(private) + "/invite", map[string]any{"user_id": "bob"}, 400, "M_INVALID_PARAM", "", "", ""},
		{"invite bad JSON", "alice", "POST", r(private) + "/invite", "{", 400, "M_NOT_JSON", "", "", ""},
		{"invite", "alice", "POST", r(private) + "/invite", map[string]any{"user_id": bob, "reason": "come"}, 200, "", bob, private, "invite"},
		{"invite again", "alice", "POST", r(private) + "/invite", map[string]any{"user_id": bob}, 200, "", bob, private, "invite"},
		{"join when invited", "bob", "POST", r(private) + "/join", nil, 200, "", bob, private, "join"},
		{"invite a member", "alice", "POST", r(private) + "/invite", map[string]any{"user_id": bob}, 403, "M_FORBIDDEN", bob, private, "join"},
		{"kick without power", "bob", "POST", r(public) + "/kick", map[string]any{"user_id": carol}, 403, "M_FORBIDDEN", carol, public, "join"},
		{"kick a non-member", "alice", "POST", r(public) + "/kick", map[string]any{"user_id": dave}, 403, "M_FORBIDDEN", dave, public, ""},
		{"kick", "alice", "POST", r(public) + "/kick", map[string]any{"user_id": carol, "reason": "bye"}, 200, "", carol, public, "leave"},
		{"rejoin after a kick", "carol", "POST", r(public) + "/join", nil, 200, "", carol, public, "join"},
		{"ban without power", "bob", "POST", r(public) + "/ban", map[string]any{"user_id": carol}, 403, "M_FORBIDDEN", carol, public, "join"},
		{"ban", "alice", "POST", r(public) + "/ban", map[string]any{"user_id": carol}, 200, "", carol, public, "ban"},
		{"ban again", "alice", "POST", r(public) + "/ban", map[string]any{"user_id": carol}, 200, "", carol, public, "ban"},
		{"banned user cannot rejoin", "carol", "POST", r(public) + "/join", nil, 403, "M_FORBIDDEN", carol, public, "ban"},
		{"banned user cannot be invited", "alice", "POST", r(public) + "/invite", map[string]any{"user_id": carol}, 403, "M_FORBIDDEN", carol, public, "ban"},
		{"unban without power", "bob", "POST", r(public) + "/unban", map[string]any{"user_id": carol}, 403, "M_FORBIDDEN", carol, public, "ban"},
		{"unban", "alice", "POST", r(public) + "/unban", map[string]any{"user_id": carol}, 200, "", carol, public, "leave"},
		{"unban someone not banned", "alice", "POST", r(public) + "/unban", map[string]any{"user_id": carol}, 403, "M_FORBIDDEN", carol, public, "leave"},
		{"join after unban", "carol", "POST", r(public) + "/join", nil, 200, "", carol, public, "join"},
		{"ban a user never in the room", "alice", "POST", r(public) + "/ban", map[string]any{"user_id": dave}, 200, "", dave, public, "ban"},
		{"forget while joined", "bob", "POST", r(public) + "/forget", nil, 400, "M_UNKNOWN", bob, public, "join"},
		{"leave", "bob", "POST", r(public) + "/leave", map[string]any{"reason": "done"}, 200, "", bob, public, "leave"},
		{"leave again", "bob", "POST", r(public) + "/leave", nil, 200, "", bob, public, "leave"},
		{"leave a room never joined", "bob", "POST", r(knockable) + "/leave", nil, 403, "M_FORBIDDEN", bob, knockable, ""},
		{"leave an unknown room", "bob", "POST", r("!nope:"+server) + "/leave", nil, 404, "M_NOT_FOUND", "", "", ""},
		{"forget after leaving", "bob", "POST", r(public) + "/forget", nil, 200, "", bob, public, "leave"},
		{"forget a room never joined", "carol", "POST", r(private) + "/forget", nil, 200, "", carol, private, ""},
		{"knock on an invite-only room", "dave", "POST", "/knock/" + esc(private), nil, 403, "M_FORBIDDEN", dave, private, ""},
		{"knock", "dave", "POST", "/knock/" + esc(knockable), map[string]any{"reason": "let me in"}, 200, "", dave, knockable, "knock"},
		{"knock again by room ID", "dave", "POST", r(knockable) + "/knock", nil, 200, "", dave, knockable, "knock"},
		{"knock on an unknown room", "dave", "POST", "/knock/" + esc("!nope:elsewhere"), nil, 404, "M_NOT_FOUND", "", "", ""},
		{"invite a knocker", "alice", "POST", r(knockable) + "/invite", map[string]any{"user_id": dave}, 200, "", dave, knockable, "invite"},
		{"forget while invited", "dave", "POST", r(knockable) + "/forget", nil, 400, "M_UNKNOWN", dave, knockable, "invite"},
		{"guest cannot invite", "guest", "POST", r(public) + "/invite", map[string]any{"user_id": dave}, 403, "M_GUEST_ACCESS_FORBIDDEN", "", "", ""},
		{"guest cannot join without guest access", "guest", "POST", r(public) + "/join", nil, 403, "M_GUEST_ACCESS_FORBIDDEN", guest, public, ""},
	}
	for _, s := range steps {
		resp := hs.do(s.token, s.method, s.path, s.body)
		if resp.status != s.status || (s.errcode != "" && resp.errcode() != s.errcode) {
			t.Fatalf("%s: got %d %s, want %d %s", s.name, resp.status, resp.body, s.status, s.errcode)
		}
		if s.status == 200 && (s.path == r(public)+"/join" || s.path == r(private)+"/join") {
			if got := resp.obj()["room_id"]; got == nil {
				t.Fatalf("%s: no room_id in %s", s.name, resp.body)
			}
		}
		if s.user != "" {
			if got := hs.currentMembership(s.user, s.room); got != s.wantMembership {
				t.Fatalf("%s: %s is %q, want %q", s.name, s.user, got, s.wantMembership)
			}
		}
	}

	// Reasons and profiles reach the member events.
	kick := hs.stateContent("alice", public, "m.room.member", bob)
	if kick["reason"] != "done" {
		t.Errorf("leave content = %v", kick)
	}
	if m := hs.stateContent("alice", public, "m.room.member", dave); m["membership"] != "ban" {
		t.Errorf("dave = %v", m)
	}
	if got := hs.stateContent("alice", knockable, "m.room.member", dave); got["reason"] != nil || got["membership"] != "invite" {
		t.Errorf("invite after knock = %v", got)
	}
	// A forgotten room cannot be read any more.
	hs.do("bob", "GET", r(public)+"/messages?dir=b", nil).want(http.StatusForbidden, "M_FORBIDDEN")
	if forgot, err := hs.h.Forgotten(context.Background(), bob, public); err != nil || !forgot {
		t.Errorf("Forgotten = %v, %v", forgot, err)
	}
	// Rejoining makes the room readable again.
	hs.join("bob", public)
	if forgot, err := hs.h.Forgotten(context.Background(), bob, public); err != nil || forgot {
		t.Errorf("Forgotten after rejoining = %v, %v", forgot, err)
	}
	hs.do("bob", "GET", r(public)+"/messages?dir=b", nil).ok()
	// joined_rooms lists joined rooms only.
	joined := hs.do("bob", "GET", "/joined_rooms", nil).ok().obj()["joined_rooms"].([]any)
	if len(joined) != 2 {
		t.Errorf("bob's joined rooms = %v", joined)
	}
}

func TestGuestJoinsWhenGuestAccessAllows(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat", "initial_state": []map[string]any{
		{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}},
	}})
	hs.join("guest", roomID)
	hs.sendMessage("guest", roomID, "hello from a guest")
	hs.do("guest", "PUT", "/rooms/"+esc(roomID)+"/send/m.reaction/g1", map[string]any{}).want(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN")
	hs.do("guest", "PUT", "/rooms/"+esc(roomID)+"/state/m.room.topic/", map[string]any{"topic": "x"}).want(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN")
}

func TestRestrictedJoin(t *testing.T) {
	hs := newHarness(t)
	space := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	restricted := hs.createRoom("alice", map[string]any{"preset": "private_chat", "room_version": "10", "initial_state": []map[string]any{
		{"type": "m.room.join_rules", "content": map[string]any{
			"join_rule": "restricted",
			"allow":     []map[string]any{{"type": "m.room_membership", "room_id": space}},
		}},
	}})
	hs.do("bob", "POST", "/rooms/"+esc(restricted)+"/join", nil).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.join("bob", space)
	hs.join("bob", restricted)
	member := hs.stateContent("bob", restricted, "m.room.member", bob)
	if member["join_authorised_via_users_server"] != alice {
		t.Errorf("join content = %v", member)
	}
}

type recordingJoiner struct {
	roomIDOrAlias string
	servers       []string
	userID        string
	content       json.RawMessage
	err           error
}

func (j *recordingJoiner) JoinRemote(_ context.Context, roomIDOrAlias string, servers []string, userID string, content json.RawMessage) (string, error) {
	j.roomIDOrAlias, j.servers, j.userID, j.content = roomIDOrAlias, servers, userID, content
	return "!joined:remote", j.err
}

func TestRemoteJoinIsDelegated(t *testing.T) {
	j := &recordingJoiner{}
	hs := newHarnessWith(t, func(c *Config) { c.RemoteJoiner = j })
	got := hs.do("bob", "POST", "/join/"+esc("!far:remote")+"?via=remote&via=other", map[string]any{"reason": "r"}).ok().obj()
	if got["room_id"] != "!joined:remote" || j.roomIDOrAlias != "!far:remote" || j.userID != bob || !equal(j.servers, []string{"remote", "other"}) {
		t.Errorf("joiner saw %+v, answer %v", j, got)
	}
	var content map[string]any
	if err := json.Unmarshal(j.content, &content); err != nil || content["reason"] != "r" {
		t.Errorf("content %s", j.content)
	}
	// Aliases of other servers go to the joiner unresolved.
	hs.do("bob", "POST", "/join/"+esc("#far:remote")+"?server_name=remote", nil).ok()
	if j.roomIDOrAlias != "#far:remote" || !equal(j.servers, []string{"remote"}) {
		t.Errorf("joiner saw %+v", j)
	}
	j.err = matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "no")
	hs.do("bob", "POST", "/rooms/"+esc("!far:remote")+"/join", nil).want(http.StatusForbidden, "M_FORBIDDEN")
}
