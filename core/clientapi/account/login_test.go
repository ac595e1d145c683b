package account_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"hearth/core/accounts"
	"hearth/core/clientapi/account"
	"hearth/persist/memory"
)

func TestNew(t *testing.T) {
	acc, err := accounts.New(accounts.Config{ServerName: "example.org", Store: memory.New(), Now: time.Now, Rand: rand.NewChaCha8([32]byte{}), BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  account.Config
		ok   bool
	}{
		{"defaults", account.Config{Accounts: acc, ServerName: "example.org"}, true},
		{"all set", account.Config{Accounts: acc, ServerName: "example.org", Registration: account.RegistrationOpen, BaseURL: "http://localhost:8008"}, true},
		{"no accounts", account.Config{ServerName: "example.org"}, false},
		{"no server name", account.Config{Accounts: acc}, false},
		{"other server name", account.Config{Accounts: acc, ServerName: "other.org"}, false},
		{"bad mode", account.Config{Accounts: acc, ServerName: "example.org", Registration: "sometimes"}, false},
		{"relative base URL", account.Config{Accounts: acc, ServerName: "example.org", BaseURL: "/matrix"}, false},
		{"ftp base URL", account.Config{Accounts: acc, ServerName: "example.org", BaseURL: "ftp://example.org"}, false},
	} {
		if _, err := account.New(tt.cfg); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestWellKnown(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	status, body := e.do("GET", "/.well-known/matrix/client", "", nil)
	hs, _ := body["m.homeserver"].(map[string]any)
	if status != 200 || hs["base_url"] != "https://matrix.example.org" {
		t.Errorf("well-known: %d %v", status, body)
	}

	acc, _ := accounts.New(accounts.Config{ServerName: "example.org", Store: memory.New(), Now: time.Now, Rand: rand.NewChaCha8([32]byte{}), BcryptCost: 4})
	h, err := account.New(account.Config{Accounts: acc, ServerName: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	bare := &env{t: t, acc: acc, mux: e.mux}
	bare.mux = newMux(h, acc)
	status, body = bare.do("GET", "/.well-known/matrix/client", "", nil)
	bare.want("no base URL", status, body, 404, "M_NOT_FOUND")
	bare.user("alice", "pw")
	status, body = bare.do("POST", "/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw"})
	if _, ok := body["well_known"]; status != 200 || ok {
		t.Errorf("login without base URL: %d %v", status, body)
	}
}

func TestLoginFlows(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	status, body := e.do("GET", "/login", "", nil)
	fs, _ := body["flows"].([]any)
	if status != 200 || len(fs) != 1 || fs[0].(map[string]any)["type"] != "m.login.password" {
		t.Errorf("GET /login: %d %v", status, body)
	}
	// The r0 prefix serves the same.
	if status, _ := e.do("GET", "/_matrix/client/r0/login", "", nil); status != 200 {
		t.Errorf("r0 GET /login: %d", status)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	alice := e.user("alice", "pw")
	for _, tt := range []struct {
		name string
		body map[string]any
	}{
		{"identifier localpart", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "pw"}},
		{"identifier user ID", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "@alice:example.org"}, "password": "pw"}},
		{"identifier upper case", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "ALICE"}, "password": "pw"}},
		{"deprecated user", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw"}},
		{"refresh_token ignored", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw", "refresh_token": true}},
	} {
		status, body := e.do("POST", "/login", "", tt.body)
		if status != 200 || body["user_id"] != alice || body["access_token"] == nil || body["device_id"] == nil || body["home_server"] != "example.org" {
			t.Errorf("%s: %d %v", tt.name, status, body)
			continue
		}
		if _, ok := body["refresh_token"]; ok {
			t.Errorf("%s: refresh token issued: %v", tt.name, body)
		}
		wk, _ := body["well_known"].(map[string]any)
		if hs, _ := wk["m.homeserver"].(map[string]any); hs["base_url"] != "https://matrix.example.org" {
			t.Errorf("%s: well_known %v", tt.name, body["well_known"])
		}
		status, who := e.do("GET", "/account/whoami", body["access_token"].(string), nil)
		if status != 200 || who["user_id"] != alice || who["device_id"] != body["device_id"] || who["is_guest"] != false {
			t.Errorf("%s: whoami %d %v", tt.name, status, who)
		}
	}

	// A given device ID is kept, its name set once, its old token revoked.
	status, first := e.do("POST", "/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw", "device_id": "PHONE", "initial_device_display_name": "My phone"})
	if status != 200 || first["device_id"] != "PHONE" {
		t.Fatalf("login with device ID: %d %v", status, first)
	}
	status, second := e.do("POST", "/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw", "device_id": "PHONE", "initial_device_display_name": "Other"})
	if status != 200 || second["device_id"] != "PHONE" || second["access_token"] == first["access_token"] {
		t.Fatalf("second login with device ID: %d %v", status, second)
	}
	status, body := e.do("GET", "/account/whoami", first["access_token"].(string), nil)
	e.want("replaced token", status, body, 401, "M_UNKNOWN_TOKEN")
	status, dev := e.do("GET", "/devices/PHONE", second["access_token"].(string), nil)
	if status != 200 || dev["display_name"] != "My phone" || dev["last_seen_ip"] != "203.0.113.9" {
		t.Errorf("device after relogin: %d %v", status, dev)
	}
}

func TestLoginErrors(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "pw")
	deact := e.user("gone", "pw")
	if err := e.acc.Deactivate(ctx, deact); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"not JSON", `{"type":`, 400, "M_NOT_JSON"},
		{"not an object", `"x"`, 400, "M_BAD_JSON"},
		{"password not a string", map[string]any{"type": "m.login.password", "user": "alice", "password": 1}, 400, "M_BAD_JSON"},
		{"no type", map[string]any{"user": "alice", "password": "pw"}, 400, "M_MISSING_PARAM"},
		{"unsupported type", map[string]any{"type": "m.login.token", "token": "x"}, 400, "M_UNKNOWN"},
		{"no identifier", map[string]any{"type": "m.login.password", "password": "pw"}, 400, "M_MISSING_PARAM"},
		{"unknown identifier type", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "org.example"}, "password": "pw"}, 400, "M_UNKNOWN"},
		{"third-party identifier", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "a@example.org"}, "password": "pw"}, 403, "M_FORBIDDEN"},
		{"phone identifier", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.phone", "country": "GB", "phone": "123"}, "password": "pw"}, 403, "M_FORBIDDEN"},
		{"deprecated medium", map[string]any{"type": "m.login.password", "medium": "email", "address": "a@example.org", "password": "pw"}, 403, "M_FORBIDDEN"},
		{"no password", map[string]any{"type": "m.login.password", "user": "alice"}, 400, "M_MISSING_PARAM"},
		{"wrong password", map[string]any{"type": "m.login.password", "user": "alice", "password": "PW"}, 403, "M_FORBIDDEN"},
		{"unknown user", map[string]any{"type": "m.login.password", "user": "bob", "password": "pw"}, 403, "M_FORBIDDEN"},
		{"remote user", map[string]any{"type": "m.login.password", "user": "@alice:other.org", "password": "pw"}, 403, "M_FORBIDDEN"},
		{"malformed user", map[string]any{"type": "m.login.password", "user": "al ice", "password": "pw"}, 403, "M_FORBIDDEN"},
		{"bad device ID", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw", "device_id": "a\tb"}, 400, "M_INVALID_PARAM"},
		{"long device name", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw", "initial_device_display_name": string(make([]byte, 101))}, 400, "M_INVALID_PARAM"},
		{"deactivated", map[string]any{"type": "m.login.password", "user": "gone", "password": "pw"}, 403, "M_USER_DEACTIVATED"},
		{"deactivated, wrong password", map[string]any{"type": "m.login.password", "user": "gone", "password": "x"}, 403, "M_FORBIDDEN"},
	} {
		status, body := e.do("POST", "/login", "", tt.body)
		e.want(tt.name, status, body, tt.status, tt.code)
	}
	if devs, _ := e.acc.Devices(ctx, "@alice:example.org"); len(devs) != 0 {
		t.Errorf("failed logins created devices: %v", devs)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	alice := e.user("alice", "pw")
	t1, d1 := e.login("alice", "pw", "")
	t2, _ := e.login("alice", "pw", "")
	t3, _ := e.login("alice", "pw", "")

	status, body := e.do("POST", "/logout", "", nil)
	e.want("logout without token", status, body, 401, "M_MISSING_TOKEN")
	status, body = e.do("POST", "/logout", "nonsense", nil)
	e.want("logout with bad token", status, body, 401, "M_UNKNOWN_TOKEN")

	status, body = e.do("POST", "/logout", t1, nil)
	e.want("logout", status, body, 200, "")
	status, body = e.do("GET", "/account/whoami", t1, nil)
	e.want("token after logout", status, body, 401, "M_UNKNOWN_TOKEN")
	status, body = e.do("POST", "/logout", t1, nil)
	e.want("logout twice", status, body, 401, "M_UNKNOWN_TOKEN")
	if status, _ := e.do("GET", "/account/whoami", t2, nil); status != 200 {
		t.Errorf("other device after logout: %d", status)
	}
	if got := e.deletedDevices(); len(got) != 1 || got[0] != alice+"/"+d1 {
		t.Errorf("OnDeviceDeleted after logout: %v", got)
	}

	status, body = e.do("POST", "/logout/all", t2, nil)
	e.want("logout all", status, body, 200, "")
	for _, tok := range []string{t2, t3} {
		status, body = e.do("GET", "/account/whoami", tok, nil)
		e.want("token after logout all", status, body, 401, "M_UNKNOWN_TOKEN")
	}
	status, body = e.do("GET", "/devices", "", nil)
	e.want("devices without token", status, body, 401, "M_MISSING_TOKEN")
	if devs, _ := e.acc.Devices(ctx, alice); len(devs) != 0 {
		t.Errorf("devices after logout all: %v", devs)
	}
}
