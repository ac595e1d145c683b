package syncapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/core/syncer"
	"hearth/persist/memory"
)

const (
	alice = "@alice:hs.test"
	bob   = "@bob:hs.test"
)

type tokens map[string]clientapi.Caller

func (t tokens) Authenticate(_ context.Context, token string) (clientapi.Caller, error) {
	c, ok := t[token]
	if !ok {
		return clientapi.Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unknown token")
	}
	return c, nil
}

type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

type server struct {
	mux    *http.ServeMux
	dag    *room.DAG
	roomID string
}

func newServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	key, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{3}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.UnixMilli(1_700_000_000_000) }
	store := memory.New()
	dag, err := room.New(ctx, room.Config{ServerName: "hs.test", Key: key, Store: store, Now: now, Rand: seeded{rand.NewChaCha8([32]byte{3})}})
	if err != nil {
		t.Fatal(err)
	}
	create, err := dag.CreateRoom(ctx, roomversion.MustLookup("11"), alice, json.RawMessage(`{"room_version":"11"}`))
	if err != nil {
		t.Fatal(err)
	}
	k := alice
	if _, err := dag.Send(ctx, create.RoomID(), room.Proto{Sender: alice, Type: "m.room.member", StateKey: &k, Content: json.RawMessage(`{"membership":"join"}`)}); err != nil {
		t.Fatal(err)
	}
	s, err := syncer.New(syncer.Config{DAG: dag, Store: store, ServerName: "hs.test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Syncer: s})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(clientapi.NewRouter(mux, tokens{
		"alice": {UserID: alice, DeviceID: "ADEV"},
		"bob":   {UserID: bob, DeviceID: "BDEV"},
	}))
	return &server{mux: mux, dag: dag, roomID: create.RoomID()}
}

// do sends a request with the access token of token ("" for none) and
// returns the status and the decoded body.
func (s *server) do(t *testing.T, method, target, token, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, target, rec.Body.String(), err)
	}
	return rec.Code, out
}

func filterPath(user string) string {
	return "/_matrix/client/v3/user/" + url.PathEscape(user) + "/filter"
}

func TestFilterEndpoints(t *testing.T) {
	s := newServer(t)
	body := `{"room":{"timeline":{"limit":5},"state":{"lazy_load_members":true}},"presence":{"not_types":["*"]}}`
	code, got := s.do(t, "POST", filterPath(alice), "alice", body)
	id, _ := got["filter_id"].(string)
	if code != 200 || id == "" || strings.HasPrefix(id, "{") {
		t.Fatalf("create = %d %v", code, got)
	}
	// Uploading the same filter again gives the same ID.
	if _, again := s.do(t, "POST", "/_matrix/client/r0/user/"+alice+"/filter", "alice", body); again["filter_id"] != id {
		t.Fatalf("same filter, new ID: %v vs %s", again, id)
	}
	code, stored := s.do(t, "GET", filterPath(alice)+"/"+id, "alice", "")
	var want map[string]any
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	if code != 200 || !jsonEqual(stored, want) {
		t.Fatalf("get = %d %v, want %v", code, stored, want)
	}

	tests := []struct {
		name, method, target, token, body string
		status                            int
		errcode                           string
	}{
		{"create for another user", "POST", filterPath(bob), "alice", `{}`, 403, "M_FORBIDDEN"},
		{"get another user's", "GET", filterPath(alice) + "/" + id, "bob", "", 403, "M_FORBIDDEN"},
		{"another user's filter ID", "GET", filterPath(bob) + "/" + id, "bob", "", 404, "M_NOT_FOUND"},
		{"unknown ID", "GET", filterPath(alice) + "/nope", "alice", "", 404, "M_NOT_FOUND"},
		{"not JSON", "POST", filterPath(alice), "alice", `{"room":`, 400, "M_NOT_JSON"},
		{"not an object", "POST", filterPath(alice), "alice", `[1]`, 400, "M_BAD_JSON"},
		{"wrong type", "POST", filterPath(alice), "alice", `{"room":{"timeline":{"limit":"ten"}}}`, 400, "M_BAD_JSON"},
		{"bad limit", "POST", filterPath(alice), "alice", `{"room":{"timeline":{"limit":0}}}`, 400, "M_INVALID_PARAM"},
		{"no token", "POST", filterPath(alice), "", `{}`, 401, "M_MISSING_TOKEN"},
		{"bad token", "GET", filterPath(alice) + "/" + id, "mallory", "", 401, "M_UNKNOWN_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, got := s.do(t, tc.method, tc.target, tc.token, tc.body)
			if code != tc.status || got["errcode"] != tc.errcode {
				t.Fatalf("%s %s = %d %v, want %d %s", tc.method, tc.target, code, got, tc.status, tc.errcode)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestSync(t *testing.T) {
	s := newServer(t)
	code, got := s.do(t, "GET", "/_matrix/client/v3/sync", "alice", "")
	if code != 200 {
		t.Fatalf("sync = %d %v", code, got)
	}
	for _, k := range []string{"next_batch", "rooms", "account_data", "presence", "to_device", "device_lists"} {
		if _, ok := got[k]; !ok {
			t.Fatalf("sync response lacks %s: %v", k, got)
		}
	}
	rooms := got["rooms"].(map[string]any)
	for _, k := range []string{"join", "invite", "leave", "knock"} {
		if _, ok := rooms[k].(map[string]any); !ok {
			t.Fatalf("rooms lacks %s: %v", k, rooms)
		}
	}
	jr, ok := rooms["join"].(map[string]any)[s.roomID].(map[string]any)
	if !ok {
		t.Fatalf("room missing: %v", rooms)
	}
	for _, k := range []string{"timeline", "state", "ephemeral", "account_data", "summary"} {
		if _, ok := jr[k]; !ok {
			t.Fatalf("joined room lacks %s: %v", k, jr)
		}
	}
	next := got["next_batch"].(string)

	// Incremental with a timeout: nothing new, the same token back.
	code, got = s.do(t, "GET", "/_matrix/client/v3/sync?timeout=1&since="+next, "alice", "")
	if code != 200 || got["next_batch"] != next || len(got["rooms"].(map[string]any)["join"].(map[string]any)) != 0 {
		t.Fatalf("empty incremental sync = %d %v", code, got)
	}

	// A stored filter and an inline one.
	_, created := s.do(t, "POST", filterPath(alice), "alice", `{"room":{"timeline":{"limit":1}}}`)
	for _, f := range []string{created["filter_id"].(string), url.QueryEscape(`{"room":{"timeline":{"limit":1}}}`)} {
		code, got = s.do(t, "GET", "/_matrix/client/v3/sync?filter="+f, "alice", "")
		if code != 200 {
			t.Fatalf("sync with filter %s = %d %v", f, code, got)
		}
		tl := got["rooms"].(map[string]any)["join"].(map[string]any)[s.roomID].(map[string]any)["timeline"].(map[string]any)
		if evs := tl["events"].([]any); len(evs) != 1 || tl["limited"] != true {
			t.Fatalf("filtered timeline = %v", tl)
		}
	}
}

// TestSyncBody checks the headers and the body of a /sync answer, which is
// written by syncer.Response.AppendJSON rather than encoding/json.
func TestSyncBody(t *testing.T) {
	s := newServer(t)
	req := httptest.NewRequest("GET", "/_matrix/client/v3/sync", nil)
	req.Header.Set("Authorization", "Bearer alice")
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Code != 200 || !json.Valid(body) {
		t.Fatalf("sync = %d %s", rec.Code, body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for %d bytes", cl, len(body))
	}
	var resp syncer.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if again := resp.AppendJSON(nil); !bytes.Equal(again, body) {
		t.Errorf("body does not survive decoding and encoding again:\n%s\n%s", body, again)
	}
}

func TestSyncErrors(t *testing.T) {
	s := newServer(t)
	_, created := s.do(t, "POST", filterPath(alice), "alice", `{}`)
	tests := []struct {
		name, query, token string
		status             int
		errcode            string
	}{
		{"no token", "", "", 401, "M_MISSING_TOKEN"},
		{"unknown token", "", "mallory", 401, "M_UNKNOWN_TOKEN"},
		{"garbage since", "since=hello", "alice", 400, "M_INVALID_PARAM"},
		{"short since", "since=s1_2", "alice", 400, "M_INVALID_PARAM"},
		{"negative timeout", "timeout=-5", "alice", 400, "M_INVALID_PARAM"},
		{"bad full_state", "full_state=yes", "alice", 400, "M_INVALID_PARAM"},
		{"bad set_presence", "set_presence=busy", "alice", 400, "M_INVALID_PARAM"},
		{"unknown filter ID", "filter=12345", "alice", 400, "M_INVALID_PARAM"},
		{"another user's filter", "filter=" + created["filter_id"].(string), "bob", 400, "M_INVALID_PARAM"},
		{"inline filter not JSON", "filter=" + url.QueryEscape(`{room`), "alice", 400, "M_NOT_JSON"},
		{"inline filter invalid", "filter=" + url.QueryEscape(`{"room":{"timeline":{"limit":-1}}}`), "alice", 400, "M_INVALID_PARAM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, got := s.do(t, "GET", "/_matrix/client/v3/sync?"+tc.query, tc.token, "")
			if code != tc.status || got["errcode"] != tc.errcode {
				t.Fatalf("sync?%s = %d %v, want %d %s", tc.query, code, got, tc.status, tc.errcode)
			}
		})
	}
}

func TestSyncOwnFilterOnly(t *testing.T) {
	s := newServer(t)
	_, created := s.do(t, "POST", filterPath(bob), "bob", `{"room":{"timeline":{"limit":1}}}`)
	if code, got := s.do(t, "GET", "/_matrix/client/v3/sync?filter="+created["filter_id"].(string), "bob", ""); code != 200 {
		t.Fatalf("bob's sync with his filter = %d %v", code, got)
	}
}

func TestNewNeedsSyncer(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a Syncer succeeded")
	}
}
