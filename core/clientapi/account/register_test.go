package account_test

import (
	"slices"
	"strings"
	"testing"

	"hearth/core/accounts"
	"hearth/core/clientapi/account"
)

// TestRegisterWithTokenLikeElement follows matrix-js-sdk and Element: a
// probe for the flows, then the form with the token stage.
func TestRegisterWithTokenLikeElement(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	if _, err := e.acc.CreateToken(ctx, accounts.NewToken{Token: "invite-123"}); err != nil {
		t.Fatal(err)
	}

	status, probe := e.do("POST", "/register", "", map[string]any{})
	if status != 401 {
		t.Fatalf("probe: %d %v", status, probe)
	}
	if got := flows(probe); len(got) != 1 || !slices.Equal(got[0], []string{"m.login.registration_token"}) {
		t.Errorf("flows %v", got)
	}
	session, _ := probe["session"].(string)
	params, isObject := probe["params"].(map[string]any)
	completed, isArray := probe["completed"].([]any)
	if session == "" || !isObject || len(params) != 0 || !isArray || len(completed) != 0 || probe["errcode"] != nil {
		t.Errorf("probe body %v", probe)
	}

	form := map[string]any{
		"username":                    "Alice",
		"password":                    "correct horse",
		"initial_device_display_name": "app.element.io: Firefox on Linux",
	}
	// A wrong token fails the stage; the session goes on.
	form["auth"] = map[string]any{"type": "m.login.registration_token", "token": "wrong", "session": session}
	status, body := e.do("POST", "/register", "", form)
	if status != 401 || body["errcode"] != "M_UNAUTHORIZED" || body["session"] != session || len(flows(body)) != 1 {
		t.Errorf("wrong token: %d %v", status, body)
	}

	form["auth"] = map[string]any{"type": "m.login.registration_token", "token": "invite-123", "session": session}
	status, body = e.do("POST", "/register", "", form)
	if _, ok := body["well_known"]; status != 200 || body["user_id"] != "@alice:example.org" || body["home_server"] != "example.org" || ok {
		t.Fatalf("register: %d %v", status, body)
	}
	token, _ := body["access_token"].(string)
	device, _ := body["device_id"].(string)
	status, who := e.do("GET", "/account/whoami", token, nil)
	if status != 200 || who["user_id"] != "@alice:example.org" || who["device_id"] != device {
		t.Errorf("whoami: %d %v", status, who)
	}
	status, dev := e.do("GET", "/devices/"+device, token, nil)
	if status != 200 || dev["display_name"] != "app.element.io: Firefox on Linux" {
		t.Errorf("device: %d %v", status, dev)
	}
	if p, _ := e.acc.Profile(ctx, "@alice:example.org"); p.DisplayName != "alice" {
		t.Errorf("profile %+v", p)
	}
	if tok, _ := e.acc.Token(ctx, "invite-123"); tok.Completed != 1 || tok.Pending != 0 {
		t.Errorf("token after registration %+v", tok)
	}

	// A retry (the answer was lost) logs the same user in again.
	status, again := e.do("POST", "/register", "", form)
	if status != 200 || again["user_id"] != "@alice:example.org" || again["access_token"] == token {
		t.Errorf("retry: %d %v", status, again)
	}
	if tok, _ := e.acc.Token(ctx, "invite-123"); tok.Completed != 1 {
		t.Errorf("retry used the token again: %+v", tok)
	}
	// Someone else's registration with the same username is refused
	// before authentication.
	status, body = e.do("POST", "/register", "", map[string]any{"username": "alice", "password": "x"})
	e.want("taken", status, body, 400, "M_USER_IN_USE")
}

func TestRegisterOpen(t *testing.T) {
	e := newEnv(t, account.RegistrationOpen)
	status, probe := e.do("POST", "/register", "", map[string]any{"username": "bob", "password": "pw"})
	if status != 401 || len(flows(probe)) != 1 || !slices.Equal(flows(probe)[0], []string{"m.login.dummy"}) {
		t.Fatalf("probe: %d %v", status, probe)
	}
	// The dummy stage completes the flow.
	status, body := e.do("POST", "/register", "", map[string]any{"username": "bob", "password": "pw", "device_id": "BOBDEV", "auth": map[string]any{"type": "m.login.dummy", "session": probe["session"]}})
	if status != 200 || body["user_id"] != "@bob:example.org" || body["device_id"] != "BOBDEV" {
		t.Fatalf("dummy: %d %v", status, body)
	}
	// matrix-nio registers in one request, with a dummy stage and no
	// session.
	status, body = e.do("POST", "/register", "", map[string]any{"username": "carol", "password": "pw", "auth": map[string]any{"type": "m.login.dummy"}})
	if status != 200 || body["user_id"] != "@carol:example.org" {
		t.Errorf("one-shot: %d %v", status, body)
	}
	// inhibit_login returns the user ID alone.
	status, body = e.do("POST", "/register", "", map[string]any{"username": "dave", "password": "pw", "inhibit_login": true, "auth": map[string]any{"type": "m.login.dummy"}})
	if _, hasToken := body["access_token"]; status != 200 || body["user_id"] != "@dave:example.org" || hasToken || body["device_id"] != nil {
		t.Errorf("inhibit_login: %d %v", status, body)
	}
	if devs, _ := e.acc.Devices(ctx, "@dave:example.org"); len(devs) != 0 {
		t.Errorf("inhibit_login made devices %v", devs)
	}
	// Without a username, one is made up.
	status, body = e.do("POST", "/register", "", map[string]any{"password": "pw", "auth": map[string]any{"type": "m.login.dummy"}})
	uid, _ := body["user_id"].(string)
	if status != 200 || !strings.HasSuffix(uid, ":example.org") || len(uid) != len("@:example.org")+accounts.GeneratedLocalpartLength {
		t.Errorf("generated: %d %v", status, body)
	}
	// ?kind=user is the default kind.
	status, body = e.do("POST", "/register?kind=user", "", map[string]any{"username": "erin", "password": "pw", "auth": map[string]any{"type": "m.login.dummy"}})
	e.want("kind=user", status, body, 200, "")
}

func TestRegisterErrors(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("taken", "pw")
	if _, err := e.acc.CreateToken(ctx, accounts.NewToken{Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	_, probe := e.do("POST", "/register", "", nil)
	session := probe["session"].(string)
	_, other := e.do("POST", "/account/deactivate", "", map[string]any{})
	otherSession := other["session"].(string)

	for _, tt := range []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"guest", "/register?kind=guest", map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"unknown kind", "/register?kind=bot", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"not JSON", "/register", `{`, 400, "M_NOT_JSON"},
		{"username not a string", "/register", map[string]any{"username": 5}, 400, "M_BAD_JSON"},
		{"invalid username", "/register", map[string]any{"username": "no spaces", "password": "pw"}, 400, "M_INVALID_USERNAME"},
		{"username with a colon", "/register", map[string]any{"username": "a:b", "password": "pw"}, 400, "M_INVALID_USERNAME"},
		{"taken username", "/register", map[string]any{"username": "TAKEN", "password": "pw"}, 400, "M_USER_IN_USE"},
		{"long password", "/register", map[string]any{"username": "new", "password": strings.Repeat("p", 73)}, 400, "M_INVALID_PARAM"},
		{"bad device ID", "/register", map[string]any{"username": "new", "password": "pw", "device_id": "\u0000"}, 400, "M_INVALID_PARAM"},
		{"long device name", "/register", map[string]any{"username": "new", "password": "pw", "initial_device_display_name": strings.Repeat("n", 101)}, 400, "M_INVALID_PARAM"},
		{"auth not an object", "/register", map[string]any{"username": "new", "password": "pw", "auth": "x"}, 400, "M_BAD_JSON"},
		{"unknown session", "/register", map[string]any{"username": "new", "password": "pw", "auth": map[string]any{"type": "m.login.registration_token", "token": "tok", "session": "nope"}}, 400, "M_UNKNOWN"},
		{"another endpoint's session", "/register", map[string]any{"username": "new", "password": "pw", "auth": map[string]any{"type": "m.login.registration_token", "token": "tok", "session": otherSession}}, 403, "M_FORBIDDEN"},
		{"dummy stage not offered", "/register", map[string]any{"username": "new", "password": "pw", "auth": map[string]any{"type": "m.login.dummy", "session": session}}, 401, "M_FORBIDDEN"},
		{"unknown stage", "/register", map[string]any{"username": "new", "password": "pw", "auth": map[string]any{"type": "m.login.recaptcha", "session": session}}, 401, "M_UNRECOGNIZED"},
		{"token missing", "/register", map[string]any{"username": "new", "password": "pw", "auth": map[string]any{"type": "m.login.registration_token", "session": session}}, 401, "M_MISSING_PARAM"},
	} {
		status, body := e.do("POST", tt.path, "", tt.body)
		e.want(tt.name, status, body, tt.status, tt.code)
		if tt.status == 401 && body["session"] != session {
			t.Errorf("%s: session %v, want %s", tt.name, body["session"], session)
		}
	}
	if _, err := e.acc.User(ctx, "@new:example.org"); err == nil {
		t.Fatal("a refused registration created the user")
	}

	// The password is needed once authentication is complete; the session
	// stays complete for a corrected request.
	status, body := e.do("POST", "/register", "", map[string]any{"username": "new", "auth": map[string]any{"type": "m.login.registration_token", "token": "tok", "session": session}})
	e.want("no password", status, body, 400, "M_MISSING_PARAM")
	status, body = e.do("POST", "/register", "", map[string]any{"username": "new", "password": "pw", "auth": map[string]any{"session": session}})
	if status != 200 || body["user_id"] != "@new:example.org" {
		t.Errorf("after adding the password: %d %v", status, body)
	}

	disabled := newEnv(t, account.RegistrationDisabled)
	status, body = disabled.do("POST", "/register", "", map[string]any{"username": "x", "password": "pw"})
	disabled.want("disabled", status, body, 403, "M_FORBIDDEN")
	status, body = disabled.do("POST", "/register?kind=guest", "", map[string]any{})
	disabled.want("disabled guest", status, body, 403, "M_GUEST_ACCESS_FORBIDDEN")
}

func TestRegisterTokenUsedUp(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	one := 1
	if _, err := e.acc.CreateToken(ctx, accounts.NewToken{Token: "once", UsesAllowed: &one}); err != nil {
		t.Fatal(err)
	}
	reg := func(user string) (int, map[string]any) {
		return e.do("POST", "/register", "", map[string]any{"username": user, "password": "pw", "auth": map[string]any{"type": "m.login.registration_token", "token": "once"}})
	}
	if status, body := reg("first"); status != 200 {
		t.Fatalf("first: %d %v", status, body)
	}
	status, body := reg("second")
	if status != 401 || body["errcode"] != "M_UNAUTHORIZED" {
		t.Errorf("second: %d %v", status, body)
	}
}

func TestAvailable(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("taken", "pw")
	for _, tt := range []struct {
		name, query string
		status      int
		code        string
	}{
		{"free", "?username=free", 200, ""},
		{"free, upper case", "?username=Free", 200, ""},
		{"taken", "?username=taken", 400, "M_USER_IN_USE"},
		{"taken, upper case", "?username=TAKEN", 400, "M_USER_IN_USE"},
		{"invalid", "?username=%C3%A9", 400, "M_INVALID_USERNAME"},
		{"missing", "", 400, "M_MISSING_PARAM"},
	} {
		status, body := e.do("GET", "/register/available"+tt.query, "", nil)
		e.want(tt.name, status, body, tt.status, tt.code)
		if tt.status == 200 && body["available"] != true {
			t.Errorf("%s: %v", tt.name, body)
		}
	}
	disabled := newEnv(t, account.RegistrationDisabled)
	status, body := disabled.do("GET", "/register/available?username=free", "", nil)
	disabled.want("disabled", status, body, 403, "M_FORBIDDEN")
}
