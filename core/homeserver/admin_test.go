package homeserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hearth/core/homeserver"
)

func nonce(t *testing.T, h http.Handler) string {
	t.Helper()
	r := do(t, h, "GET", "/_synapse/admin/v1/register", "")
	n, _ := r.json["nonce"].(string)
	if r.status != 200 || n == "" {
		t.Fatalf("nonce: %d %s", r.status, r.body)
	}
	return n
}

func registerBody(nonce, user, password string, admin bool, mac string) string {
	b, _ := json.Marshal(map[string]any{"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac})
	return string(b)
}

func TestSharedSecretMAC(t *testing.T) {
	// Vectors computed with Python's hmac module, as Synapse's
	// register_new_matrix_user does.
	tests := []struct {
		nonce, user, password string
		admin                 bool
		userType, want        string
	}{
		{"abc", "alice", "pw", true, "", "fff9f57189c2d1a494c19759e16d592b0f64ce32"},
		{"abc", "bob", "pw", false, "bot", "e8a0a3ff75a029c1565b3422ec2450ced64b412f"},
	}
	for _, tt := range tests {
		if got := homeserver.SharedSecretMAC("s3cret", tt.nonce, tt.user, tt.password, tt.admin, tt.userType); got != tt.want {
			t.Errorf("SharedSecretMAC(%q, %q, %q, %v, %q) = %s, want %s", tt.nonce, tt.user, tt.password, tt.admin, tt.userType, got, tt.want)
		}
	}
}

func TestSharedSecretRegister(t *testing.T) {
	s, c := newServer(t, nil)
	h := s.ClientHandler()
	const path = "/_synapse/admin/v1/register"
	mac := func(n, user, pw string, admin bool) string {
		return homeserver.SharedSecretMAC(secret, n, user, pw, admin, "")
	}

	n := nonce(t, h)
	r := do(t, h, "POST", path, registerBody(n, "alice", "pw", true, mac(n, "alice", "pw", true)))
	if r.status != 200 || r.json["user_id"] != "@alice:hs.example" || r.json["home_server"] != "hs.example" {
		t.Fatalf("register alice: %d %s", r.status, r.body)
	}
	u, err := s.Accounts().CheckPassword(context.Background(), "@alice:hs.example", "pw")
	if err != nil || !u.Admin {
		t.Errorf("alice stored as %+v, %v", u, err)
	}
	// The nonce is single-use.
	r = do(t, h, "POST", path, registerBody(n, "alice2", "pw", false, mac(n, "alice2", "pw", false)))
	if r.status != 400 || r.errcode() != "M_UNKNOWN" {
		t.Errorf("reused nonce: %d %s", r.status, r.body)
	}

	tests := []struct {
		name    string
		body    func(n string) string
		status  int
		errcode string
	}{
		{"wrong MAC", func(n string) string { return registerBody(n, "bob", "pw", false, mac(n, "bob", "other", false)) }, 403, "M_FORBIDDEN"},
		{"MAC for admin, asks notadmin", func(n string) string { return registerBody(n, "bob", "pw", false, mac(n, "bob", "pw", true)) }, 403, "M_FORBIDDEN"},
		{"unknown nonce", func(n string) string {
			return registerBody("nope", "bob", "pw", false, mac("nope", "bob", "pw", false))
		}, 400, "M_UNKNOWN"},
		{"taken", func(n string) string { return registerBody(n, "alice", "pw", false, mac(n, "alice", "pw", false)) }, 400, "M_USER_IN_USE"},
		{"upper case", func(n string) string { return registerBody(n, "Bob", "pw", false, mac(n, "Bob", "pw", false)) }, 400, "M_INVALID_USERNAME"},
		{"empty username", func(n string) string { return registerBody(n, "", "pw", false, mac(n, "", "pw", false)) }, 400, "M_INVALID_USERNAME"},
		{"empty password", func(n string) string { return registerBody(n, "bob", "", false, mac(n, "bob", "", false)) }, 400, "M_INVALID_PARAM"},
		{"long password", func(n string) string {
			pw := strings.Repeat("p", 100)
			return registerBody(n, "bob", pw, false, mac(n, "bob", pw, false))
		}, 400, "M_INVALID_PARAM"},
		{"missing mac", func(n string) string { return fmt.Sprintf(`{"nonce":%q,"username":"bob","password":"pw"}`, n) }, 400, "M_MISSING_PARAM"},
		{"wrong type", func(n string) string { return fmt.Sprintf(`{"nonce":%q,"username":7,"password":"pw","mac":"x"}`, n) }, 400, "M_BAD_JSON"},
		{"not an object", func(n string) string { return `["x"]` }, 400, "M_BAD_JSON"},
		{"not JSON", func(n string) string { return `{nonce` }, 400, "M_NOT_JSON"},
		{"too large", func(n string) string { return `{"x":"` + strings.Repeat("a", 70000) + `"}` }, 413, "M_TOO_LARGE"},
		{"user type", func(n string) string {
			b, _ := json.Marshal(map[string]any{"nonce": n, "username": "bob", "password": "pw", "user_type": "bot",
				"mac": homeserver.SharedSecretMAC(secret, n, "bob", "pw", false, "bot")})
			return string(b)
		}, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		r := do(t, h, "POST", path, tt.body(nonce(t, h)))
		if r.status != tt.status || r.errcode() != tt.errcode {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.errcode)
		}
	}

	// Nonces expire.
	n = nonce(t, h)
	c.t = c.t.Add(homeserver.DefaultNonceTTL)
	r = do(t, h, "POST", path, registerBody(n, "late", "pw", false, mac(n, "late", "pw", false)))
	if r.status != 400 || r.errcode() != "M_UNKNOWN" {
		t.Errorf("expired nonce: %d %s", r.status, r.body)
	}
}

func TestSharedSecretDisabled(t *testing.T) {
	s, _ := newServer(t, func(c *homeserver.Config) { c.RegistrationSharedSecret = "" })
	h := s.ClientHandler()
	tests := []struct {
		method, path, body string
		status             int
		errcode            string
	}{
		{"GET", "/_synapse/admin/v1/register", "", 400, "M_UNKNOWN"},
		{"POST", "/_synapse/admin/v1/register", `{}`, 400, "M_UNKNOWN"},
		{"GET", "/_synapse/admin/v1/registration_tokens", "", 403, "M_FORBIDDEN"},
	}
	for _, tt := range tests {
		r := do(t, h, tt.method, tt.path, tt.body, "Authorization", "Bearer ")
		if r.status != tt.status || r.errcode() != tt.errcode {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, r.status, r.body, tt.status, tt.errcode)
		}
	}
}

func TestAdminTokens(t *testing.T) {
	s, c := newServer(t, nil)
	h := s.ClientHandler()
	auth := []string{"Authorization", "Bearer " + secret}
	const base = "/_synapse/admin/v1/registration_tokens"

	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		errcode                  string
		contains                 string
	}{
		{"no auth", "GET", base, "", nil, 401, "M_MISSING_TOKEN", ""},
		{"wrong secret", "GET", base, "", []string{"Authorization", "Bearer nope"}, 401, "M_UNKNOWN_TOKEN", ""},
		{"wrong scheme", "GET", base, "", []string{"Authorization", "Basic " + secret}, 401, "M_MISSING_TOKEN", ""},
		{"empty list", "GET", base, "", auth, 200, "", `{"registration_tokens":[]}`},
		{"create", "POST", base + "/new", `{"token":"abc","uses_allowed":1}`, auth, 200, "", `"token":"abc","uses_allowed":1,"pending":0,"completed":0,"expiry_time":null`},
		{"create generated", "POST", base + "/new", `{"length":8}`, auth, 200, "", `"uses_allowed":null`},
		{"create with expiry", "POST", base + "/new", fmt.Sprintf(`{"token":"later","expiry_time":%d}`, c.t.Add(time.Hour).UnixMilli()), auth, 200, "", `"token":"later"`},
		{"duplicate", "POST", base + "/new", `{"token":"abc"}`, auth, 400, "M_INVALID_PARAM", ""},
		{"bad token", "POST", base + "/new", `{"token":"a/b"}`, auth, 400, "M_INVALID_PARAM", ""},
		{"negative uses", "POST", base + "/new", `{"uses_allowed":-1}`, auth, 400, "M_INVALID_PARAM", ""},
		{"past expiry", "POST", base + "/new", `{"expiry_time":1}`, auth, 400, "M_INVALID_PARAM", ""},
		{"token and length", "POST", base + "/new", `{"token":"x","length":3}`, auth, 400, "M_INVALID_PARAM", ""},
		{"bad length", "POST", base + "/new", `{"length":65}`, auth, 400, "M_INVALID_PARAM", ""},
		{"bad JSON", "POST", base + "/new", `{"uses_allowed":"many"}`, auth, 400, "M_BAD_JSON", ""},
		{"get", "GET", base + "/abc", "", auth, 200, "", `"token":"abc"`},
		{"get missing", "GET", base + "/zzz", "", auth, 404, "M_NOT_FOUND", ""},
		{"validity", "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc", "", nil, 200, "", `{"valid":true}`},
		{"validity unknown", "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=zzz", "", nil, 200, "", `{"valid":false}`},
		{"validity missing", "GET", "/_matrix/client/v1/register/m.login.registration_token/validity", "", nil, 400, "M_MISSING_PARAM", ""},
		{"delete", "DELETE", base + "/abc", "", auth, 200, "", "{}"},
		{"delete again", "DELETE", base + "/abc", "", auth, 404, "M_NOT_FOUND", ""},
		{"list", "GET", base, "", auth, 200, "", `"token":"later"`},
	}
	for _, tt := range tests {
		r := do(t, h, tt.method, tt.path, tt.body, tt.header...)
		if r.status != tt.status || r.errcode() != tt.errcode || !strings.Contains(r.body, tt.contains) {
			t.Errorf("%s: %s %s = %d %s, want %d %s containing %s", tt.name, tt.method, tt.path, r.status, r.body, tt.status, tt.errcode, tt.contains)
		}
	}
}

func TestRateLimit(t *testing.T) {
	s, c := newServer(t, func(c *homeserver.Config) { c.RateLimit = 1 })
	h := s.ClientHandler()
	get := func() response { return do(t, h, "GET", "/_matrix/client/versions", "") }
	// Bursts of twice the rate pass.
	for i := 0; i < 2; i++ {
		if r := get(); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	r := get()
	if r.status != 429 || r.errcode() != "M_LIMIT_EXCEEDED" || r.json["retry_after_ms"] == nil || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s %v", r.status, r.body, r.header)
	}
	if r := do(t, h, "GET", "/health", ""); r.status != 200 {
		t.Errorf("/health limited: %d", r.status)
	}
	// A made-up access token does not get a fresh bucket.
	if r := do(t, h, "GET", "/_matrix/client/versions", "", "Authorization", "Bearer made-up"); r.status != 429 {
		t.Errorf("client with a new token: %d, want 429", r.status)
	}
	// Another address has its own bucket.
	req := httptest.NewRequest("GET", "/_matrix/client/versions", nil)
	req.RemoteAddr = "192.0.2.7:4000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("other address: %d", rec.Code)
	}
	c.t = c.t.Add(time.Second)
	if r := get(); r.status != 200 {
		t.Errorf("after a second: %d %s", r.status, r.body)
	}
	if r := get(); r.status != 429 {
		t.Errorf("bucket refilled too much: %d", r.status)
	}
}
