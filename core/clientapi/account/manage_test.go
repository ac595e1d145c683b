package account_test

import (
	"slices"
	"testing"

	"hearth/core/clientapi/account"
	"hearth/core/roomversion"
)

func TestWhoami(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "pw")
	tok, dev := e.login("alice", "pw", "")
	status, body := e.do("GET", "/account/whoami", tok, nil)
	if status != 200 || body["user_id"] != "@alice:example.org" || body["device_id"] != dev || body["is_guest"] != false {
		t.Errorf("whoami: %d %v", status, body)
	}
	status, body = e.do("GET", "/account/whoami", "", nil)
	e.want("no token", status, body, 401, "M_MISSING_TOKEN")
	status, body = e.do("GET", "/account/whoami", "hth_nope", nil)
	e.want("unknown token", status, body, 401, "M_UNKNOWN_TOKEN")
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "old")
	e.user("bob", "bobpw")
	tok, _ := e.login("alice", "old", "MAIN")
	other, _ := e.login("alice", "old", "OTHER")

	req := map[string]any{"new_password": "new"}
	status, probe := e.do("POST", "/account/password", tok, req)
	if status != 401 || len(flows(probe)) != 1 || !slices.Equal(flows(probe)[0], []string{"m.login.password"}) || probe["session"] == nil {
		t.Fatalf("probe: %d %v", status, probe)
	}
	session := probe["session"].(string)

	for _, tt := range []struct {
		name string
		auth map[string]any
		code string
	}{
		{"wrong password", passwordAuth("alice", "wrong", session), "M_FORBIDDEN"},
		{"someone else's password", passwordAuth("bob", "bobpw", session), "M_FORBIDDEN"},
		{"no password", map[string]any{"type": "m.login.password", "user": "alice", "session": session}, "M_MISSING_PARAM"},
	} {
		req["auth"] = tt.auth
		status, body := e.do("POST", "/account/password", tok, req)
		if status != 401 || body["errcode"] != tt.code || body["session"] != session {
			t.Errorf("%s: %d %v", tt.name, status, body)
		}
	}
	if _, err := e.acc.CheckPassword(ctx, "@alice:example.org", "old"); err != nil {
		t.Fatalf("failed attempts changed the password: %v", err)
	}

	// logout_devices defaults to true: the other device is logged out, the
	// requesting one is not.
	req["auth"] = passwordAuth("alice", "old", session)
	status, body := e.do("POST", "/account/password", tok, req)
	e.want("change", status, body, 200, "")
	status, body = e.do("GET", "/account/whoami", other, nil)
	e.want("other device", status, body, 401, "M_UNKNOWN_TOKEN")
	status, body = e.do("GET", "/account/whoami", tok, nil)
	e.want("requesting device", status, body, 200, "")
	status, body = e.do("POST", "/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "old"})
	e.want("old password", status, body, 403, "M_FORBIDDEN")
	other, _ = e.login("alice", "new", "OTHER")

	// logout_devices false keeps every device.
	status, body = e.do("POST", "/account/password", tok, map[string]any{"new_password": "newer", "logout_devices": false, "auth": passwordAuth("@alice:example.org", "new", "")})
	e.want("change keeping devices", status, body, 200, "")
	status, body = e.do("GET", "/account/whoami", other, nil)
	e.want("other device kept", status, body, 200, "")

	for _, tt := range []struct {
		name, token string
		body        any
		status      int
		code        string
	}{
		{"bad token", "hth_nope", map[string]any{"new_password": "x"}, 401, "M_UNKNOWN_TOKEN"},
		{"not JSON", tok, `{`, 400, "M_NOT_JSON"},
		{"no new password", tok, map[string]any{}, 400, "M_MISSING_PARAM"},
		{"new password not a string", tok, map[string]any{"new_password": 1}, 400, "M_BAD_JSON"},
		{"long new password", tok, map[string]any{"new_password": string(make([]byte, 73))}, 400, "M_INVALID_PARAM"},
		{"unknown session", tok, map[string]any{"new_password": "x", "auth": passwordAuth("alice", "newer", "nope")}, 400, "M_UNKNOWN"},
		{"another user's session", tok, map[string]any{"new_password": "x", "auth": map[string]any{"session": e.sessionOf("bob", "bobpw")}}, 403, "M_FORBIDDEN"},
		{"own session without the token", "", map[string]any{"new_password": "x", "auth": passwordAuth("alice", "newer", e.sessionOf("alice", "newer"))}, 403, "M_FORBIDDEN"},
	} {
		status, body := e.do("POST", "/account/password", tt.token, tt.body)
		e.want(tt.name, status, body, tt.status, tt.code)
	}
}

// sessionOf starts a password-change UIA session as user.
func (e *env) sessionOf(user, password string) string {
	e.t.Helper()
	tok, _ := e.login(user, password, "")
	_, body := e.do("POST", "/account/password", tok, map[string]any{"new_password": "x"})
	return body["session"].(string)
}

func TestChangePasswordWithoutToken(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "old")
	tok, _ := e.login("alice", "old", "")
	status, probe := e.do("POST", "/account/password", "", map[string]any{"new_password": "new"})
	if status != 401 || probe["session"] == nil {
		t.Fatalf("probe: %d %v", status, probe)
	}
	status, body := e.do("POST", "/account/password", "", map[string]any{"new_password": "new", "auth": passwordAuth("alice", "old", probe["session"].(string))})
	e.want("change without token", status, body, 200, "")
	status, body = e.do("GET", "/account/whoami", tok, nil)
	e.want("every device logged out", status, body, 401, "M_UNKNOWN_TOKEN")
	e.login("alice", "new", "")
}

func TestDeactivate(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	alice := e.user("alice", "pw")
	tok, dev := e.login("alice", "pw", "")
	other, dev2 := e.login("alice", "pw", "")

	status, probe := e.do("POST", "/account/deactivate", tok, map[string]any{})
	if status != 401 || !slices.Equal(flows(probe)[0], []string{"m.login.password"}) {
		t.Fatalf("probe: %d %v", status, probe)
	}
	session := probe["session"].(string)
	status, body := e.do("POST", "/account/deactivate", tok, map[string]any{"auth": passwordAuth("alice", "nope", session)})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("wrong password: %d %v", status, body)
	}
	status, body = e.do("POST", "/account/deactivate", tok, map[string]any{"erase": "yes"})
	e.want("erase not a boolean", status, body, 400, "M_BAD_JSON")

	status, body = e.do("POST", "/account/deactivate", tok, map[string]any{"id_server": "id.example.org", "auth": passwordAuth("alice", "pw", session)})
	if status != 200 || body["id_server_unbind_result"] != "success" {
		t.Fatalf("deactivate: %d %v", status, body)
	}
	for _, tk := range []string{tok, other} {
		status, body = e.do("GET", "/account/whoami", tk, nil)
		e.want("token after deactivation", status, body, 401, "M_UNKNOWN_TOKEN")
	}
	status, body = e.do("POST", "/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw"})
	e.want("login after deactivation", status, body, 403, "M_USER_DEACTIVATED")
	status, body = e.do("POST", "/register", "", map[string]any{"username": "alice", "password": "pw"})
	e.want("reregistering", status, body, 400, "M_USER_IN_USE")
	got := e.deletedDevices()
	slices.Sort(got)
	want := []string{alice + "/" + dev, alice + "/" + dev2}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("OnDeviceDeleted %v, want %v", got, want)
	}
	if !slices.Equal(e.deactivated, []string{alice}) {
		t.Errorf("OnDeactivated %v", e.deactivated)
	}
}

func TestDeactivateWithoutToken(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "pw")
	status, body := e.do("POST", "/account/deactivate", "", map[string]any{"auth": passwordAuth("alice", "pw", "")})
	if status != 200 || body["id_server_unbind_result"] != "success" {
		t.Fatalf("deactivate: %d %v", status, body)
	}
	status, body = e.do("POST", "/account/deactivate", "", map[string]any{"auth": passwordAuth("alice", "pw", "")})
	if status != 401 || body["errcode"] != "M_USER_DEACTIVATED" {
		t.Errorf("again: %d %v", status, body)
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "pw")
	tok, _ := e.login("alice", "pw", "")
	status, body := e.do("GET", "/capabilities", tok, nil)
	caps, _ := body["capabilities"].(map[string]any)
	if status != 200 || caps == nil {
		t.Fatalf("capabilities: %d %v", status, body)
	}
	for key, want := range map[string]bool{"m.change_password": true, "m.set_displayname": true, "m.set_avatar_url": true, "m.3pid_changes": false, "m.get_login_token": false} {
		c, _ := caps[key].(map[string]any)
		if c["enabled"] != want {
			t.Errorf("%s = %v, want enabled %v", key, caps[key], want)
		}
	}
	rv, _ := caps["m.room_versions"].(map[string]any)
	avail, _ := rv["available"].(map[string]any)
	if rv["default"] != "11" || len(avail) != len(roomversion.All()) {
		t.Fatalf("m.room_versions %v", rv)
	}
	for _, id := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"} {
		if avail[id] != "stable" {
			t.Errorf("room version %s: %v", id, avail[id])
		}
	}
	status, body = e.do("GET", "/capabilities", "", nil)
	e.want("no token", status, body, 401, "M_MISSING_TOKEN")
}

func TestThreepids(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "pw")
	tok, _ := e.login("alice", "pw", "")
	status, body := e.do("GET", "/account/3pid", tok, nil)
	if list, ok := body["threepids"].([]any); status != 200 || !ok || len(list) != 0 {
		t.Errorf("GET /account/3pid: %d %v", status, body)
	}
	status, body = e.do("GET", "/account/3pid", "", nil)
	e.want("list without token", status, body, 401, "M_MISSING_TOKEN")
	for _, p := range []string{"/account/3pid", "/account/3pid/add", "/account/3pid/bind", "/account/3pid/delete", "/account/3pid/unbind"} {
		status, body := e.do("POST", p, tok, map[string]any{"medium": "email", "address": "a@example.org"})
		e.want("POST "+p, status, body, 403, "M_THREEPID_DENIED")
		status, body = e.do("POST", p, "", map[string]any{})
		e.want("POST "+p+" without token", status, body, 401, "M_MISSING_TOKEN")
	}
	for _, p := range []string{"/register", "/account/password", "/account/3pid"} {
		for _, kind := range []string{"email", "msisdn"} {
			status, body := e.do("POST", p+"/"+kind+"/requestToken", "", map[string]any{"client_secret": "s", "email": "a@example.org", "send_attempt": 1})
			e.want(p+"/"+kind+"/requestToken", status, body, 403, "M_THREEPID_DENIED")
		}
	}
}
