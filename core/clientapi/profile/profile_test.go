package profile

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/room"
)

func TestNewRequiresDependencies(t *testing.T) {
	e := newEnv(t)
	for _, cfg := range []Config{
		{Accounts: e.acc, DAG: e.dag},
		{ServerName: server, DAG: e.dag},
		{ServerName: server, Accounts: e.acc},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestGetProfile(t *testing.T) {
	e := newEnv(t)
	if err := e.acc.SetAvatarURL(context.Background(), bob, "mxc://a.test/bob"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		status     int
		errcode    string
		want       map[string]any
	}{
		{"own profile", "/profile/" + esc(alice), 200, "", map[string]any{"displayname": "alice"}},
		{"full profile", "/profile/" + esc(bob), 200, "", map[string]any{"displayname": "bob", "avatar_url": "mxc://a.test/bob"}},
		{"displayname", "/profile/" + esc(bob) + "/displayname", 200, "", map[string]any{"displayname": "bob"}},
		{"avatar_url", "/profile/" + esc(bob) + "/avatar_url", 200, "", map[string]any{"avatar_url": "mxc://a.test/bob"}},
		{"unset avatar_url", "/profile/" + esc(alice) + "/avatar_url", 404, "M_NOT_FOUND", nil},
		{"unknown local user", "/profile/" + esc("@nobody:a.test"), 404, "M_NOT_FOUND", nil},
		{"unknown local user's field", "/profile/" + esc("@nobody:a.test") + "/displayname", 404, "M_NOT_FOUND", nil},
		{"not a user ID", "/profile/alice", 400, "M_INVALID_PARAM", nil},
		{"empty localpart", "/profile/" + esc("@:a.test"), 400, "M_INVALID_PARAM", nil},
		{"remote user", "/profile/" + esc(remote), 200, "", map[string]any{"displayname": "Rita", "avatar_url": "mxc://b.test/rita"}},
		{"remote field", "/profile/" + esc(remote) + "/displayname", 200, "", map[string]any{"displayname": "Rita"}},
		{"unknown remote user", "/profile/" + esc("@x:b.test"), 404, "M_NOT_FOUND", nil},
		{"unreachable server", "/profile/" + esc("@x:c.test"), 502, "M_UNKNOWN", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			out := e.expect("", "GET", tc.path, nil, tc.status, tc.errcode)
			if tc.want == nil {
				return
			}
			if len(out) != len(tc.want) {
				t.Fatalf("got %v, want %v", out, tc.want)
			}
			for k, v := range tc.want {
				if out[k] != v {
					t.Fatalf("got %v, want %v", out, tc.want)
				}
			}
		})
	}
}

func TestRemoteProfilesUnset(t *testing.T) {
	e := newEnv(t)
	h, err := New(Config{ServerName: server, Accounts: e.acc, DAG: e.dag})
	if err != nil {
		t.Fatal(err)
	}
	e.mux = newMux(h)
	e.expect("", "GET", "/profile/"+esc(remote), nil, 404, "M_NOT_FOUND")
	e.expect("", "GET", "/profile/"+esc(remote)+"/avatar_url", nil, 404, "M_NOT_FOUND")
}

func TestDeactivatedProfile(t *testing.T) {
	e := newEnv(t)
	if err := e.acc.Deactivate(context.Background(), carol); err != nil {
		t.Fatal(err)
	}
	e.expect("", "GET", "/profile/"+esc(carol), nil, 404, "M_NOT_FOUND")
	e.expect("carol", "PUT", "/profile/"+esc(carol)+"/displayname", map[string]any{"displayname": "C"}, 403, "M_FORBIDDEN")
}

func TestSetProfileRejected(t *testing.T) {
	e := newEnv(t)
	r := e.createRoom(alice, bob)
	before, err := e.dag.LastPos(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	dn := "/profile/" + esc(alice) + "/displayname"
	av := "/profile/" + esc(alice) + "/avatar_url"
	for _, tc := range []struct {
		name, user, path string
		body             any
		status           int
		errcode          string
	}{
		{"no token", "", dn, map[string]any{"displayname": "x"}, 401, "M_MISSING_TOKEN"},
		{"someone else's", "bob", dn, map[string]any{"displayname": "x"}, 403, "M_FORBIDDEN"},
		{"someone else's avatar", "bob", av, map[string]any{"avatar_url": "mxc://a.test/x"}, 403, "M_FORBIDDEN"},
		{"remote user's", "alice", "/profile/" + esc(remote) + "/displayname", map[string]any{"displayname": "x"}, 403, "M_FORBIDDEN"},
		{"not a user ID", "alice", "/profile/alice/displayname", map[string]any{"displayname": "x"}, 400, "M_INVALID_PARAM"},
		{"not JSON", "alice", dn, "{nope", 400, "M_NOT_JSON"},
		{"not an object", "alice", dn, `["x"]`, 400, "M_BAD_JSON"},
		{"missing field", "alice", dn, map[string]any{"avatar_url": "x"}, 400, "M_MISSING_PARAM"},
		{"empty body", "alice", av, "", 400, "M_MISSING_PARAM"},
		{"wrong type", "alice", dn, map[string]any{"displayname": 7}, 400, "M_INVALID_PARAM"},
		{"avatar wrong type", "alice", av, map[string]any{"avatar_url": []string{"x"}}, 400, "M_INVALID_PARAM"},
		{"name too long", "alice", dn, map[string]any{"displayname": strings.Repeat("n", 257)}, 400, "M_INVALID_PARAM"},
		{"avatar too long", "alice", av, map[string]any{"avatar_url": "mxc://a.test/" + strings.Repeat("a", 1000)}, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.expect(tc.user, "PUT", tc.path, tc.body, tc.status, tc.errcode)
		})
	}
	e.t = t
	if out := e.expect("", "GET", "/profile/"+esc(alice), nil, 200, ""); len(out) != 1 || out["displayname"] != "alice" {
		t.Fatalf("a rejected request changed the profile: %v", out)
	}
	if after, err := e.dag.LastPos(context.Background(), r); err != nil || after != before {
		t.Fatalf("a rejected request sent events: position %d -> %d (%v)", before, after, err)
	}
}

func TestSetOwnProfile(t *testing.T) {
	e := newEnv(t)
	dn := "/profile/" + esc(alice) + "/displayname"
	av := "/profile/" + esc(alice) + "/avatar_url"
	for _, tc := range []struct {
		name, path string
		body       any
		want       map[string]any
	}{
		{"set name", dn, map[string]any{"displayname": "Alice Liddell"}, map[string]any{"displayname": "Alice Liddell"}},
		{"longest name", dn, map[string]any{"displayname": strings.Repeat("n", 256)}, map[string]any{"displayname": strings.Repeat("n", 256)}},
		{"set avatar", av, map[string]any{"avatar_url": "mxc://a.test/pic"}, map[string]any{"displayname": strings.Repeat("n", 256), "avatar_url": "mxc://a.test/pic"}},
		{"remove name", dn, map[string]any{"displayname": ""}, map[string]any{"avatar_url": "mxc://a.test/pic"}},
		{"name back", dn, map[string]any{"displayname": "Al"}, map[string]any{"displayname": "Al", "avatar_url": "mxc://a.test/pic"}},
		{"null removes avatar", av, `{"avatar_url": null}`, map[string]any{"displayname": "Al"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			if out := e.expect("alice", "PUT", tc.path, tc.body, 200, ""); len(out) != 0 {
				t.Fatalf("PUT answered %v, want {}", out)
			}
			out := e.expect("", "GET", "/profile/"+esc(alice), nil, 200, "")
			if len(out) != len(tc.want) {
				t.Fatalf("profile %v, want %v", out, tc.want)
			}
			for k, v := range tc.want {
				if out[k] != v {
					t.Fatalf("profile %v, want %v", out, tc.want)
				}
			}
		})
	}
	e.t = t
	e.expect("", "GET", av, nil, 404, "M_NOT_FOUND")
	if out := e.expect("", "GET", dn, nil, 200, ""); out["displayname"] != "Al" {
		t.Fatalf("displayname %v", out)
	}
	// The r0 prefix serves the same endpoints.
	code, out := e.doPrefix("/_matrix/client/r0", "", "GET", dn)
	if code != 200 || out["displayname"] != "Al" {
		t.Fatalf("r0: %d %v", code, out)
	}
}

func TestPropagation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r1 := e.createRoom(alice, bob)
	r2 := e.createRoom(carol)
	e.join(r2, alice, map[string]any{"org.example.keep": 1, "avatar_url": "mxc://a.test/room-avatar"})
	left := e.createRoom(bob, alice)
	e.state(left, alice, "m.room.member", alice, map[string]any{"membership": "leave"})
	invited := e.createRoom(bob)
	e.state(invited, bob, "m.room.member", alice, map[string]any{"membership": "invite"})
	untouched := map[string]uint64{}
	for _, r := range []string{left, invited} {
		p, err := e.dag.LastPos(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		untouched[r] = p
	}

	e.expect("alice", "PUT", "/profile/"+esc(alice)+"/displayname", map[string]any{"displayname": "Alice Liddell"}, 200, "")
	for _, r := range []string{r1, r2} {
		c, ev := e.member(r, alice)
		if c["displayname"] != "Alice Liddell" || c["membership"] != "join" || ev.Sender() != alice {
			t.Fatalf("room %s: member event %v from %s", r, c, ev.Sender())
		}
		// It is the newest event of the timeline, which /sync sends.
		tl, err := e.dag.Timeline(ctx, r, 0, 0, true, 1)
		if err != nil || len(tl) != 1 || tl[0].Event.ID() != ev.ID() {
			t.Fatalf("room %s: newest timeline event is not the profile change (%v)", r, err)
		}
	}
	if c, _ := e.member(r2, alice); c["org.example.keep"] != float64(1) || c["avatar_url"] != "mxc://a.test/room-avatar" {
		t.Fatalf("other member content was lost: %v", c)
	}
	for r, p := range untouched {
		if now, err := e.dag.LastPos(ctx, r); err != nil || now != p {
			t.Fatalf("room %s where alice is not joined got an event", r)
		}
	}
	if c, _ := e.member(invited, alice); c["membership"] != "invite" {
		t.Fatalf("invite changed: %v", c)
	}

	// Setting the same name again sends nothing.
	before, _ := e.dag.Position()
	e.expect("alice", "PUT", "/profile/"+esc(alice)+"/displayname", map[string]any{"displayname": "Alice Liddell"}, 200, "")
	if after, _ := e.dag.Position(); after != before {
		t.Fatalf("an unchanged profile sent events: %d -> %d", before, after)
	}

	// An avatar change replaces the per-room avatar; removing it removes
	// the key from every room.
	e.expect("alice", "PUT", "/profile/"+esc(alice)+"/avatar_url", map[string]any{"avatar_url": "mxc://a.test/new"}, 200, "")
	for _, r := range []string{r1, r2} {
		if c, _ := e.member(r, alice); c["avatar_url"] != "mxc://a.test/new" || c["displayname"] != "Alice Liddell" {
			t.Fatalf("room %s after avatar change: %v", r, c)
		}
	}
	e.expect("alice", "PUT", "/profile/"+esc(alice)+"/avatar_url", map[string]any{"avatar_url": ""}, 200, "")
	for _, r := range []string{r1, r2} {
		if c, _ := e.member(r, alice); c["avatar_url"] != nil || c["displayname"] != "Alice Liddell" {
			t.Fatalf("room %s after avatar removal: %v", r, c)
		}
	}
	if logs := e.logs.String(); logs != "" {
		t.Fatalf("unexpected failures logged: %s", logs)
	}
}

func TestPropagationDropsJoinAuthorisation(t *testing.T) {
	e := newEnv(t)
	r := e.createRoom(alice)
	e.join(r, bob, map[string]any{"join_authorised_via_users_server": alice})
	e.expect("bob", "PUT", "/profile/"+esc(bob)+"/displayname", map[string]any{"displayname": "Bobby"}, 200, "")
	c, _ := e.member(r, bob)
	if c["displayname"] != "Bobby" {
		t.Fatalf("member content %v", c)
	}
	if _, ok := c["join_authorised_via_users_server"]; ok {
		t.Fatalf("join authorisation kept: %v", c)
	}
}

func TestPropagationContinuesPastFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// In the first room (by ID) or the second, alice's member event is so
	// close to the PDU size limit that adding a display name makes it too
	// large; the other room must still be updated.
	full := e.createRoom(alice)
	ok := e.createRoom(alice)
	pad := fillMemberEvent(t, e, full)
	e.expect("alice", "PUT", "/profile/"+esc(alice)+"/displayname", map[string]any{"displayname": strings.Repeat("x", 256)}, 200, "")
	if c, _ := e.member(ok, alice); c["displayname"] != strings.Repeat("x", 256) {
		t.Fatalf("the room without trouble was not updated: %v", c)
	}
	if c, _ := e.member(full, alice); c["displayname"] != "alice" || len(c["pad"].(string)) != pad {
		t.Fatalf("the oversized event was changed: %v", c["displayname"])
	}
	if logs := e.logs.String(); !strings.Contains(logs, full) || strings.Contains(logs, ok) {
		t.Fatalf("log does not name just the failed room: %s", logs)
	}
	if p, err := e.acc.Profile(ctx, alice); err != nil || p.DisplayName != strings.Repeat("x", 256) {
		t.Fatalf("profile %v %v", p, err)
	}
}

// fillMemberEvent rejoins alice to roomID with a padding key that brings
// her member event within a few bytes of event.MaxPDUSize, and returns the
// padding's length.
func fillMemberEvent(t *testing.T, e *env, roomID string) int {
	t.Helper()
	for n := event.MaxPDUSize - 300; n > event.MaxPDUSize-2000; n -= 20 {
		content := map[string]any{"membership": "join", "displayname": "alice", "pad": strings.Repeat("p", n)}
		b, _ := json.Marshal(content)
		_, err := e.dag.Send(context.Background(), roomID, room.Proto{Sender: alice, Type: "m.room.member", StateKey: ptr(alice), Content: b})
		if err == nil {
			return n
		}
	}
	t.Fatal("no padding fits in an event")
	return 0
}

func ptr(s string) *string { return &s }
