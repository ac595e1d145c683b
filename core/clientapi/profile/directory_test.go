package profile

import (
	"context"
	"testing"
)

func TestUserDirectory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for user, name := range map[string]string{alice: "Alice Liddell", bob: "Bob Builder", carol: "Lara C"} {
		if err := e.acc.SetDisplayName(ctx, user, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.acc.SetAvatarURL(ctx, bob, "mxc://a.test/bob"); err != nil {
		t.Fatal(err)
	}
	e.createRoom(alice, bob)
	e.createRoom(alice, carol)
	public := e.createRoom(dave)
	left := e.createRoom(carol, bob)
	e.state(left, bob, "m.room.member", bob, map[string]any{"membership": "leave"})

	for _, tc := range []struct {
		name, user string
		body       any
		want       []string
		limited    bool
	}{
		{"by localpart", "bob", map[string]any{"search_term": "alice"}, []string{alice}, false},
		{"by display name, any case", "bob", map[string]any{"search_term": "LIDDELL"}, []string{alice}, false},
		{"every word", "bob", map[string]any{"search_term": "ali lid"}, []string{alice}, false},
		{"a word missing", "bob", map[string]any{"search_term": "ali xyz"}, nil, false},
		{"not a room-mate", "bob", map[string]any{"search_term": "carol"}, nil, false},
		{"a room left is not shared", "bob", map[string]any{"search_term": "lara"}, nil, false},
		{"stranger", "bob", map[string]any{"search_term": "dave"}, nil, false},
		{"full user ID", "alice", map[string]any{"search_term": "@carol:a.test"}, []string{carol}, false},
		{"server name alone matches no one", "alice", map[string]any{"search_term": "a.test"}, nil, false},
		{"prefix matches first", "alice", map[string]any{"search_term": "l"}, []string{carol, alice, bob}, false},
		{"empty term lists room-mates", "bob", map[string]any{"search_term": ""}, []string{alice, bob}, false},
		{"limit", "alice", map[string]any{"search_term": "", "limit": 2}, []string{alice, bob}, true},
		{"limit exactly met", "alice", map[string]any{"search_term": "", "limit": 3}, []string{alice, bob, carol}, false},
		{"limit zero", "alice", map[string]any{"search_term": "", "limit": 0}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			out := e.expect(tc.user, "POST", "/user_directory/search", tc.body, 200, "")
			results, ok := out["results"].([]any)
			if !ok {
				t.Fatalf("results %v", out)
			}
			var got []string
			for _, r := range results {
				got = append(got, r.(map[string]any)["user_id"].(string))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("found %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("found %v, want %v", got, tc.want)
				}
			}
			if out["limited"] != tc.limited {
				t.Fatalf("limited %v, want %v", out["limited"], tc.limited)
			}
		})
	}

	e.t = t
	out := e.expect("alice", "POST", "/user_directory/search", map[string]any{"search_term": "builder"}, 200, "")
	r := out["results"].([]any)[0].(map[string]any)
	if r["display_name"] != "Bob Builder" || r["avatar_url"] != "mxc://a.test/bob" {
		t.Fatalf("result %v", r)
	}
	if out := e.expect("alice", "POST", "/user_directory/search", map[string]any{"search_term": "lid"}, 200, ""); out["results"].([]any)[0].(map[string]any)["avatar_url"] != nil {
		t.Fatalf("unset avatar present: %v", out)
	}

	// Members of published rooms are found too.
	e.public.ids = []string{public, "!gone:a.test"}
	out = e.expect("bob", "POST", "/user_directory/search", map[string]any{"search_term": "dave"}, 200, "")
	if res := out["results"].([]any); len(res) != 1 || res[0].(map[string]any)["user_id"] != dave {
		t.Fatalf("public room member not found: %v", out)
	}
}

func TestUserDirectoryErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, user string
		body       any
		status     int
		errcode    string
	}{
		{"no token", "", map[string]any{"search_term": "a"}, 401, "M_MISSING_TOKEN"},
		{"not JSON", "alice", "{nope", 400, "M_NOT_JSON"},
		{"not an object", "alice", "[]", 400, "M_BAD_JSON"},
		{"missing term", "alice", map[string]any{"limit": 3}, 400, "M_MISSING_PARAM"},
		{"term not a string", "alice", map[string]any{"search_term": 3}, 400, "M_BAD_JSON"},
		{"limit not a number", "alice", map[string]any{"search_term": "a", "limit": "3"}, 400, "M_BAD_JSON"},
		{"negative limit", "alice", map[string]any{"search_term": "a", "limit": -1}, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.expect(tc.user, "POST", "/user_directory/search", tc.body, tc.status, tc.errcode)
		})
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, user, path string
		status           int
		errcode          string
	}{
		{"turn server", "alice", "/voip/turnServer", 200, ""},
		{"turn server needs a token", "", "/voip/turnServer", 401, "M_MISSING_TOKEN"},
		{"protocols", "alice", "/thirdparty/protocols", 200, ""},
		{"protocols need a token", "", "/thirdparty/protocols", 401, "M_MISSING_TOKEN"},
		{"one protocol", "alice", "/thirdparty/protocol/irc", 404, "M_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			out := e.expect(tc.user, "GET", tc.path, nil, tc.status, tc.errcode)
			if tc.status == 200 && len(out) != 0 {
				t.Fatalf("got %v, want {}", out)
			}
		})
	}
}
