package keys

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"hearth/core/b64"
	"hearth/core/clientapi"
	"hearth/core/e2ee"
	"hearth/core/matrixerr"
	"hearth/core/signing"
	"hearth/persist/memory"
)

const (
	alice = "@alice:hs"
	bob   = "@bob:hs"
	carol = "@carol:hs"
)

type tokens map[string]clientapi.Caller

func (t tokens) Authenticate(_ context.Context, token string) (clientapi.Caller, error) {
	c, ok := t[token]
	if !ok {
		return clientapi.Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unknown token")
	}
	return c, nil
}

type fakeDevices map[string][]e2ee.DeviceInfo

func (f fakeDevices) Devices(_ context.Context, user string) ([]e2ee.DeviceInfo, error) {
	return f[user], nil
}

// fakeMembers lists rooms by their members.
type fakeMembers [][]string

func (f fakeMembers) SharedUsers(_ context.Context, user string) ([]string, error) {
	var out []string
	for _, room := range f {
		if slices.Contains(room, user) {
			out = append(out, room...)
		}
	}
	return out, nil
}

// fakeUIA is the account area's UIA with one flow, a password stage, and
// alice's password "secret". It counts its calls.
type fakeUIA struct {
	t     *testing.T
	calls int
}

func (f *fakeUIA) authorize(w http.ResponseWriter, r *http.Request, c clientapi.Caller, op string, auth json.RawMessage) bool {
	f.calls++
	if op != opDeviceSigning {
		f.t.Errorf("UIA for op %q", op)
	}
	body := map[string]any{"flows": []any{map[string]any{"stages": []string{"m.login.password"}}}, "params": map[string]any{}, "session": "S"}
	if auth != nil {
		var a struct{ Type, Password string }
		if err := json.Unmarshal(auth, &a); err == nil && a.Type == "m.login.password" && c.UserID == alice && a.Password == "secret" {
			return true
		}
		body["errcode"], body["error"] = "M_FORBIDDEN", "invalid password"
	}
	clientapi.WriteJSON(w, http.StatusUnauthorized, body)
	return false
}

type server struct {
	t    *testing.T
	mux  *http.ServeMux
	e2ee *e2ee.Service
	uia  *fakeUIA
}

func newServer(t *testing.T) *server {
	t.Helper()
	svc, err := e2ee.New(context.Background(), e2ee.Config{
		Store:      memory.New(),
		ServerName: "hs",
		Devices: fakeDevices{
			alice: {{ID: "A1", DisplayName: "Alice's phone"}, {ID: "A2", DisplayName: "Alice's laptop"}},
			bob:   {{ID: "B1"}},
			carol: {{ID: "C1"}},
		},
		Members: fakeMembers{{alice, bob}, {carol}},
	})
	if err != nil {
		t.Fatal(err)
	}
	uia := &fakeUIA{t: t}
	h, err := New(Config{E2EE: svc, Authorize: uia.authorize})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(clientapi.NewRouter(mux, tokens{
		"a1":    {UserID: alice, DeviceID: "A1"},
		"a2":    {UserID: alice, DeviceID: "A2"},
		"b1":    {UserID: bob, DeviceID: "B1"},
		"c1":    {UserID: carol, DeviceID: "C1"},
		"guest": {UserID: "@g:hs", DeviceID: "G", IsGuest: true},
	}))
	return &server{t: t, mux: mux, e2ee: svc, uia: uia}
}

// do sends a request as the holder of token ("" for none) and decodes the
// JSON answer.
func (s *server) do(method, path, token, body string) (int, map[string]any) {
	s.t.Helper()
	req := httptest.NewRequest(method, "/_matrix/client/v3"+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		s.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, rec.Body.String())
	}
	return rec.Code, out
}

// ok sends a request that must succeed.
func (s *server) ok(method, path, token, body string) map[string]any {
	s.t.Helper()
	status, out := s.do(method, path, token, body)
	if status != http.StatusOK {
		s.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

// errorCase is one request that must fail.
type errorCase struct {
	name, method, path, token, body string
	status                          int
	code                            string
}

func (s *server) expectErrors(cases []errorCase) {
	s.t.Helper()
	for _, tc := range cases {
		status, out := s.do(tc.method, tc.path, tc.token, tc.body)
		if status != tc.status || out["errcode"] != tc.code {
			s.t.Errorf("%s: %s %s = %d %v, want %d %s", tc.name, tc.method, tc.path, status, out, tc.status, tc.code)
		}
	}
}

// path reads a value at a path of keys in decoded JSON.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func key(t *testing.T, seed byte, id string) signing.Key {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	// Not KeyFromSeed: that insists on a server key ID, and cross-signing
	// key IDs are base64 public keys.
	return signing.Key{ID: "ed25519:" + id, Private: ed25519.NewKeyFromSeed(s)}
}

func pub(k signing.Key) string { return b64.Encode(k.Public()) }

// deviceKeys builds device keys signed by the device's own key (seed).
func deviceKeys(t *testing.T, user, device string, seed byte) (string, signing.Key) {
	t.Helper()
	k := key(t, seed, device)
	obj := fmt.Sprintf(`{"user_id":%q,"device_id":%q,"algorithms":["m.olm.v1.curve25519-aes-sha2","m.megolm.v1.aes-sha2"],"keys":{"curve25519:%s":"curve%d","ed25519:%s":%q}}`,
		user, device, device, seed, device, pub(k))
	signed, err := signing.SignJSON([]byte(obj), user, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(signed), k
}

// crossKey builds user's cross-signing key for usage from seed, signed by
// the signers given. Its key ID is its public key.
func crossKey(t *testing.T, user, usage string, seed byte, signers ...signing.Key) (string, signing.Key) {
	t.Helper()
	p := pub(key(t, seed, "x"))
	k := key(t, seed, p)
	obj := []byte(fmt.Sprintf(`{"user_id":%q,"usage":[%q],"keys":{"ed25519:%s":%q}}`, user, usage, p, p))
	for _, s := range signers {
		var err error
		if obj, err = signing.SignJSON(obj, user, s); err != nil {
			t.Fatal(err)
		}
	}
	return string(obj), k
}

// sign adds signer's signature (as user) to a JSON object.
func sign(t *testing.T, obj, user string, signer signing.Key) string {
	t.Helper()
	out, err := signing.SignJSON([]byte(obj), user, signer)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
