package fedauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/core/fedauth"
	"hearth/core/fedclient"
	"hearth/core/keyring"
	"hearth/core/serveracl"
	"hearth/core/serverkey"
	"hearth/core/signing"
	"hearth/core/xmatrix"
	"hearth/persist/memory"
	"hearth/transport"
	"hearth/transport/transporttest"
)

// redirect is a Chooser that sends every destination to one server, so a
// request addressed to another server still arrives at ours.
type redirect struct {
	rt *transporttest.Routes
	to string
}

func (r redirect) Choose(string) (transport.Transport, error) { return r, nil }
func (r redirect) RoundTrip(_ string, req *http.Request) (*http.Response, error) {
	return r.rt.RoundTrip(r.to, req)
}

var now = time.UnixMilli(1_700_000_000_000)

func clock() time.Time { return now }

func key(t testing.TB, id string, seed byte) signing.Key {
	t.Helper()
	k, err := signing.KeyFromSeed(id, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seen is what the protected handler observed.
type seen struct {
	mu     sync.Mutex
	origin string
	body   []byte
	calls  int
}

// setup starts "origin.test" (publishing its keys) and "dest.test" (a
// handler behind the middleware), and returns a client of origin.test.
func setup(t *testing.T, acl fedauth.ACLFunc) (*transporttest.Routes, *fedclient.Client, *seen, *httptest.Server) {
	rt := &transporttest.Routes{}
	originKey := key(t, "ed25519:o1", 1)
	rt.Serve(t, "origin.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := serverkey.Response("origin.test", originKey, now.Add(time.Hour).UnixMilli())
		w.Write(raw)
	}))
	destKey := key(t, "ed25519:d1", 2)
	destClient, err := fedclient.New(fedclient.Config{ServerName: "dest.test", Key: destKey, Transports: rt, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(keyring.Config{ServerName: "dest.test", Key: destKey, Store: memory.New(), Fetcher: destClient, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	s := &seen{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.origin, s.body = fedauth.Origin(r.Context()), body
		s.calls++
		s.mu.Unlock()
		if room := r.URL.Query().Get("room"); room != "" && !fedauth.CheckACL(w, r, room) {
			return
		}
		w.Write([]byte(`{}`))
	})
	mw := fedauth.Middleware(fedauth.Config{ServerName: "dest.test", Keys: ring, ACL: acl, MaxBodySize: 1 << 10})
	srv := rt.Serve(t, "dest.test", mw(handler))
	c, err := fedclient.New(fedclient.Config{ServerName: "origin.test", Key: originKey, Transports: rt, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return rt, c, s, srv
}

func TestRoundTrip(t *testing.T) {
	_, c, s, _ := setup(t, nil)
	body := map[string]any{"pdus": []any{}, "edus": []any{map[string]string{"edu_type": "m.typing"}}}
	err := c.Do(context.Background(), "dest.test", "PUT", "/_matrix/federation/v1/send/txn%201?q=a%2Fb&r=1", body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.origin != "origin.test" || s.calls != 1 {
		t.Fatalf("handler saw origin %q, %d calls", s.origin, s.calls)
	}
	var got map[string]any
	if err := json.Unmarshal(s.body, &got); err != nil || len(got["edus"].([]any)) != 1 {
		t.Fatalf("handler body %s (%v)", s.body, err)
	}
	// Bodiless GET.
	if err := c.Do(context.Background(), "dest.test", "GET", "/_matrix/federation/v1/state_ids/%21r:x?event_id=%24e", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// rawRequest sends a request with the given Authorization headers.
func rawRequest(t *testing.T, srv *httptest.Server, method, target, body string, auth ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Code string `json:"errcode"`
	}
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, &e)
	return resp.StatusCode, e.Code
}

func sign(t *testing.T, k signing.Key, origin, dest, method, uri, body string) string {
	t.Helper()
	var content []byte
	if body != "" {
		content = []byte(body)
	}
	h, err := xmatrix.Sign(xmatrix.Request{Method: method, URI: uri, Origin: origin, Destination: dest, Content: content}, k)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRejections(t *testing.T) {
	_, _, s, srv := setup(t, nil)
	good := key(t, "ed25519:o1", 1)
	wrongKey := key(t, "ed25519:o1", 9)
	const uri = "/_matrix/federation/v1/send/t1"
	const body = `{"pdus":[]}`
	valid := sign(t, good, "origin.test", "dest.test", "PUT", uri, body)
	tests := []struct {
		name   string
		method string
		body   string
		auth   []string
		status int
		code   string
	}{
		{"missing header", "PUT", body, nil, 401, "M_UNAUTHORIZED"},
		{"other scheme", "PUT", body, []string{"Bearer abc"}, 401, "M_UNAUTHORIZED"},
		{"malformed header", "PUT", body, []string{"X-Matrix origin=origin.test"}, 401, "M_UNAUTHORIZED"},
		{"bad signature", "PUT", body, []string{sign(t, wrongKey, "origin.test", "dest.test", "PUT", uri, body)}, 401, "M_UNAUTHORIZED"},
		{"tampered body", "PUT", `{"pdus":[1]}`, []string{valid}, 401, "M_UNAUTHORIZED"},
		{"other method", "POST", body, []string{valid}, 401, "M_UNAUTHORIZED"},
		{"wrong destination", "PUT", body, []string{sign(t, good, "origin.test", "other.test", "PUT", uri, body)}, 401, "M_UNAUTHORIZED"},
		{"unknown key", "PUT", body, []string{sign(t, key(t, "ed25519:nope", 1), "origin.test", "dest.test", "PUT", uri, body)}, 401, "M_UNAUTHORIZED"},
		{"unknown server", "PUT", body, []string{sign(t, good, "ghost.test", "dest.test", "PUT", uri, body)}, 401, "M_UNAUTHORIZED"},
		{"not JSON", "PUT", `{"pdus":`, []string{sign(t, good, "origin.test", "dest.test", "PUT", uri, body)}, 400, "M_NOT_JSON"},
		{"too large", "PUT", `{"x":"` + strings.Repeat("a", 2000) + `"}`, []string{valid}, 413, "M_TOO_LARGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := rawRequest(t, srv, tt.method, uri, tt.body, tt.auth...)
			if status != tt.status || code != tt.code {
				t.Errorf("got %d %s, want %d %s", status, code, tt.status, tt.code)
			}
		})
	}
	if s.calls != 0 {
		t.Fatalf("handler reached %d times by rejected requests", s.calls)
	}

	// Several headers: one valid one suffices, in any position.
	bad := sign(t, wrongKey, "origin.test", "dest.test", "PUT", uri, body)
	if status, code := rawRequest(t, srv, "PUT", uri, body, bad, valid); status != 200 {
		t.Fatalf("bad then valid header: %d %s", status, code)
	}
	// A header without destination (older senders) is accepted.
	p, _ := xmatrix.ParseHeader(valid)
	p.Destination = ""
	if status, code := rawRequest(t, srv, "PUT", uri, body, p.String()); status != 200 {
		t.Fatalf("header without destination: %d %s", status, code)
	}
	if s.calls != 2 || s.origin != "origin.test" {
		t.Fatalf("handler calls %d origin %q", s.calls, s.origin)
	}
}

func TestWrongDestinationThroughClient(t *testing.T) {
	rt, c, _, _ := setup(t, nil)
	// The client signs for "elsewhere.test", but the bytes reach dest.test.
	c2, err := fedclient.New(fedclient.Config{ServerName: "origin.test", Key: key(t, "ed25519:o1", 1), Transports: redirect{rt, "dest.test"}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	err = c2.Do(context.Background(), "elsewhere.test", "GET", "/_matrix/federation/v1/version", nil, nil)
	if fedclient.StatusOf(err) != 401 || fedclient.CodeOf(err) != "M_UNAUTHORIZED" {
		t.Fatalf("misaddressed request: %v", err)
	}
	if err := c.Do(context.Background(), "dest.test", "GET", "/_matrix/federation/v1/version", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestACL(t *testing.T) {
	acl := func(ctx context.Context, origin, roomID string) bool {
		return serveracl.Allowed(json.RawMessage(`{"allow":["*"],"deny":["origin.test"]}`), origin) || roomID != "!acl:dest.test"
	}
	_, c, _, _ := setup(t, acl)
	ctx := context.Background()
	err := c.Do(ctx, "dest.test", "GET", "/x?room=%21acl:dest.test", nil, nil)
	if fedclient.StatusOf(err) != 403 || fedclient.CodeOf(err) != "M_FORBIDDEN" {
		t.Fatalf("denied origin: %v", err)
	}
	if err := c.Do(ctx, "dest.test", "GET", "/x?room=%21open:dest.test", nil, nil); err != nil {
		t.Fatalf("room without ACL: %v", err)
	}
	if fedauth.Allowed(context.Background(), "!open:dest.test") {
		t.Fatal("unauthenticated context allowed")
	}
	if !fedauth.Allowed(fedauth.WithOrigin(context.Background(), "x.test"), "!r:x") {
		t.Fatal("origin without ACL function denied")
	}
}
