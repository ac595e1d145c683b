package fedserver

import (
	"context"
	"net/http"
	"testing"
)

type fakeAliases map[string]string

func (f fakeAliases) ResolveLocalAlias(_ context.Context, alias string) (string, bool, error) {
	id, ok := f[alias]
	return id, ok, nil
}

type fakeProfiles map[string][2]string

func (f fakeProfiles) LocalProfile(_ context.Context, user string) (string, string, bool, error) {
	p, ok := f[user]
	return p[0], p[1], ok, nil
}

func TestQueries(t *testing.T) {
	aliases := fakeAliases{}
	e := newEnv(t, func(c *Config) {
		c.Aliases = aliases
		c.Profiles = fakeProfiles{"@alice:hs.test": {"Alice", "mxc://hs.test/a"}}
	})
	roomID := e.room(nil, nil)
	aliases["#lobby:hs.test"] = roomID
	out := e.expect("remote.test", "GET", "/query/directory?room_alias=%23lobby:hs.test", nil, http.StatusOK, "")
	if out["room_id"] != roomID || asJSON(out["servers"]) != `["hs.test"]` {
		t.Fatalf("directory query: %v", out)
	}
	out = e.expect("remote.test", "GET", "/query/profile?user_id=@alice:hs.test", nil, http.StatusOK, "")
	if asJSON(out) != `{"avatar_url":"mxc://hs.test/a","displayname":"Alice"}` {
		t.Fatalf("profile: %v", out)
	}
	out = e.expect("remote.test", "GET", "/query/profile?user_id=@alice:hs.test&field=displayname", nil, http.StatusOK, "")
	if asJSON(out) != `{"displayname":"Alice"}` {
		t.Fatalf("profile displayname: %v", out)
	}
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/query/directory", 400, "M_MISSING_PARAM"},
		{"/query/directory?room_alias=%23nope:hs.test", 404, "M_NOT_FOUND"},
		{"/query/profile", 400, "M_MISSING_PARAM"},
		{"/query/profile?user_id=@bob:remote.test", 400, "M_INVALID_PARAM"},
		{"/query/profile?user_id=@alice:hs.test&field=bio", 400, "M_INVALID_PARAM"},
		{"/query/profile?user_id=@nobody:hs.test", 404, "M_NOT_FOUND"},
	} {
		e.expect("remote.test", "GET", c.path, nil, c.status, c.code)
	}
	bare := newEnv(t, nil)
	bare.expect("remote.test", "GET", "/query/directory?room_alias=%23lobby:hs.test", nil, 404, "M_UNRECOGNIZED")
	bare.expect("remote.test", "GET", "/query/profile?user_id=@alice:hs.test", nil, 404, "M_UNRECOGNIZED")
}
