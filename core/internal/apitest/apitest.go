// Package apitest holds the scaffolding that core packages' tests share: a
// seeded random source, a settable clock, a fixed signing key, a fake
// client-server authenticator and helpers that drive handlers with
// httptest. Only _test.go files import it.
package apitest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
)

// Epoch is the time test clocks start at (2023-11-14T22:13:20Z).
var Epoch = time.UnixMilli(1_700_000_000_000)

// Seeded returns a deterministic random source: a ChaCha8 stream whose
// seed is the byte seed followed by zeros, so that every run of a test sees
// the same IDs.
func Seeded(seed byte) *Rand { return &Rand{r: rand.NewChaCha8([32]byte{seed})} }

// Rand is a deterministic io.Reader for Config.Rand.
type Rand struct{ r *rand.ChaCha8 }

// Read fills p from the ChaCha8 stream.
func (s *Rand) Read(p []byte) (int, error) { return s.r.Read(p) }

// Key returns the fixed ed25519 signing key "ed25519:test" (seed of ones).
func Key(t testing.TB) signing.Key {
	t.Helper()
	key, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{1}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Clock is a settable clock, safe for concurrent use. The zero value
// starts at the zero time; NewClock starts at Epoch.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at Epoch.
func NewClock() *Clock { return &Clock{now: Epoch} }

// Now returns the clock's time (for Config.Now).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Tokens is a clientapi.Authenticator that accepts "Bearer <localpart>" as
// the user @<localpart>:<Tokens> with device "DEV<localpart>", and refuses
// an empty token or one holding ':' or '@' with 401 M_UNKNOWN_TOKEN.
type Tokens string

// Authenticate implements clientapi.Authenticator.
func (server Tokens) Authenticate(_ context.Context, token string) (clientapi.Caller, error) {
	if token == "" || strings.ContainsAny(token, ":@") {
		return clientapi.Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unknown token")
	}
	return clientapi.Caller{UserID: "@" + token + ":" + string(server), DeviceID: "DEV" + token}, nil
}

// JSON marshals v, failing the test if it cannot.
func JSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Do sends a request to h under the client-server API prefix
// /_matrix/client/v3, as user (a localpart given as the bearer token, ""
// for none), with body (nil for none, a string as is, anything else as
// JSON), and returns the status and the decoded JSON object body.
func Do(t testing.TB, h http.Handler, user, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return DoPrefix(t, h, "/_matrix/client/v3", user, method, path, body)
}

// DoPrefix is Do under another path prefix.
func DoPrefix(t testing.TB, h http.Handler, prefix, user, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		rd = strings.NewReader(string(JSON(t, b)))
	}
	req := httptest.NewRequest(method, prefix+path, rd)
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+user)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object", method, path, rec.Body.String())
	}
	return rec.Code, out
}

// Expect is Do that also checks the status and, when errcode is not "",
// the errcode, failing the test otherwise; it returns the body.
func Expect(t testing.TB, h http.Handler, user, method, path string, body any, status int, errcode string) map[string]any {
	t.Helper()
	got, out := Do(t, h, user, method, path, body)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d (%v)", method, path, got, status, out)
	}
	if errcode != "" && out["errcode"] != errcode {
		t.Fatalf("%s %s: errcode %v, want %s", method, path, out["errcode"], errcode)
	}
	return out
}

// Esc escapes a Matrix ID for a path segment.
func Esc(s string) string {
	return strings.NewReplacer("!", "%21", ":", "%3A", "$", "%24", "@", "%40", "/", "%2F").Replace(s)
}

// CreateRoom makes a public room of the default version in dag, created by
// creator with power level 100, joins members, and returns its ID.
func CreateRoom(t testing.TB, dag *room.DAG, creator string, members ...string) string {
	t.Helper()
	create, err := dag.CreateRoom(context.Background(), roomversion.MustLookup(roomversion.Default), creator,
		JSON(t, map[string]any{"room_version": roomversion.Default}))
	if err != nil {
		t.Fatal(err)
	}
	roomID := create.RoomID()
	SendState(t, dag, roomID, creator, "m.room.member", creator, map[string]any{"membership": "join"})
	SendState(t, dag, roomID, creator, "m.room.power_levels", "", map[string]any{"users": map[string]int{creator: 100}})
	SendState(t, dag, roomID, creator, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
	for _, m := range members {
		SendState(t, dag, roomID, m, "m.room.member", m, map[string]any{"membership": "join"})
	}
	return roomID
}

// SendState sends a state event with content (encoded as JSON) to a room in
// dag and returns it.
func SendState(t testing.TB, dag *room.DAG, roomID, sender, typ, stateKey string, content any) *event.PDU {
	t.Helper()
	ev, err := dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: typ, StateKey: &stateKey, Content: JSON(t, content)})
	if err != nil {
		t.Fatalf("send %s: %v", typ, err)
	}
	return ev
}
