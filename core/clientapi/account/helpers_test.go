package account_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/clientapi/account"
	"hearth/persist/memory"
)

var ctx = context.Background()

// env is a homeserver's account endpoints over an in-memory store, with
// Accounts itself as the router's authenticator, as the server wires it.
type env struct {
	t   *testing.T
	acc *accounts.Accounts
	mux *http.ServeMux
	now time.Time

	mu          sync.Mutex
	deleted     []string
	deactivated []string
}

func newEnv(t *testing.T, mode account.RegistrationMode) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
	acc, err := accounts.New(accounts.Config{
		ServerName: "example.org",
		Store:      memory.New(),
		Now:        func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
		Rand:       rand.NewChaCha8([32]byte{1}),
		BcryptCost: 4,
		OnDeviceDeleted: func(_ context.Context, u, d string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.deleted = append(e.deleted, u+"/"+d)
		},
		OnDeactivated: func(_ context.Context, u string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.deactivated = append(e.deactivated, u)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := account.New(account.Config{Accounts: acc, ServerName: "example.org", Registration: mode, BaseURL: "https://matrix.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	e.acc = acc
	e.mux = http.NewServeMux()
	h.Register(clientapi.NewRouter(e.mux, acc))
	return e
}

// do sends a request to the client API (path relative to
// /_matrix/client/v3 unless it starts with /_matrix or /.well-known).
// body is sent as is if it is a string, else as JSON.
func (e *env) do(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	if !bytes.HasPrefix([]byte(path), []byte("/_matrix")) && !bytes.HasPrefix([]byte(path), []byte("/.well-known")) {
		path = "/_matrix/client/v3" + path
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.RemoteAddr = "203.0.113.9:4567"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		e.t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, rec.Body, err)
	}
	return rec.Code, out
}

// want checks a response's status and, if code is set, its errcode.
func (e *env) want(name string, status int, body map[string]any, wantStatus int, code string) {
	e.t.Helper()
	if status != wantStatus {
		e.t.Errorf("%s: status %d, want %d (%v)", name, status, wantStatus, body)
		return
	}
	if code != "" && body["errcode"] != code {
		e.t.Errorf("%s: errcode %v, want %s (%v)", name, body["errcode"], code, body)
	}
	if wantStatus >= 400 && wantStatus != 401 && (body["errcode"] == nil || body["error"] == nil) {
		e.t.Errorf("%s: error body %v lacks errcode or error", name, body)
	}
}

func (e *env) user(localpart, password string) string {
	e.t.Helper()
	u, err := e.acc.CreateUser(ctx, accounts.NewUser{Localpart: localpart, Password: password})
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

// login logs in with a password and returns the access token and device ID.
func (e *env) login(user, password, deviceID string) (token, device string) {
	e.t.Helper()
	body := map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password}
	if deviceID != "" {
		body["device_id"] = deviceID
	}
	status, resp := e.do("POST", "/login", "", body)
	if status != 200 {
		e.t.Fatalf("login %s: %d %v", user, status, resp)
	}
	return resp["access_token"].(string), resp["device_id"].(string)
}

// passwordAuth is an m.login.password auth dict for user.
func passwordAuth(user, password, session string) map[string]any {
	a := map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password}
	if session != "" {
		a["session"] = session
	}
	return a
}

func (e *env) deletedDevices() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.deleted...)
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// flows returns the stages of each flow of a UIA body.
func flows(body map[string]any) [][]string {
	var out [][]string
	fs, _ := body["flows"].([]any)
	for _, f := range fs {
		out = append(out, strs(f.(map[string]any)["stages"]))
	}
	return out
}

func newMux(h *account.Handlers, acc *accounts.Accounts) *http.ServeMux {
	mux := http.NewServeMux()
	h.Register(clientapi.NewRouter(mux, acc))
	return mux
}
