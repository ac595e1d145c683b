package userdata

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

	"hearth/core/accountdata"
	"hearth/core/clientapi"
	"hearth/core/ephemeral"
	"hearth/core/matrixerr"
	"hearth/core/notifications"
	"hearth/core/notify"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/persist/memory"
)

const (
	server = "a.test"
	alice  = "@alice:a.test"
	bob    = "@bob:a.test"
	carol  = "@carol:a.test"
)

type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

// tokens authenticates "Bearer <localpart>" as that user.
type tokens struct{}

func (tokens) Authenticate(_ context.Context, token string) (clientapi.Caller, error) {
	if token == "" || strings.ContainsAny(token, ":@") {
		return clientapi.Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unknown token")
	}
	return clientapi.Caller{UserID: "@" + token + ":" + server, DeviceID: "DEV" + token}, nil
}

// env is a server with every store this package serves, wired as the
// homeserver wires them.
type env struct {
	t   *testing.T
	mux *http.ServeMux
	dag *room.DAG
	ad  *accountdata.Store
	eph *ephemeral.Ephemeral
	svc *notifications.Service
	ntf *notify.Notifier

	mu  sync.Mutex
	now time.Time
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, now: time.UnixMilli(1_700_000_000_000), ntf: notify.New()}
	store := memory.New()
	key, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{1}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	e.dag, err = room.New(ctx, room.Config{ServerName: server, Key: key, Store: store, Now: e.clock,
		Rand:       seeded{rand.NewChaCha8([32]byte{1})},
		OnAccepted: func(a room.Added) { e.svc.Observe(context.Background(), a.Event, a.Pos) }})
	if err != nil {
		t.Fatal(err)
	}
	if e.ad, err = accountdata.New(ctx, accountdata.Config{Store: store, Wake: e.ntf.Wake, Defaults: notifications.AccountDataDefaults}); err != nil {
		t.Fatal(err)
	}
	e.svc, err = notifications.New(notifications.Config{ServerName: server, Store: store, Rooms: e.dag, AccountData: e.ad, Now: e.clock,
		Logf: func(f string, args ...any) { t.Errorf(f, args...) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	e.eph, err = ephemeral.New(ctx, ephemeral.Config{Store: store, Now: e.clock, Wake: e.ntf.Wake,
		Rooms: ephemeral.NewDAGRooms(e.dag, server), Events: e.dag, AccountData: e.ad, Read: e.svc})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{AccountData: e.ad, Ephemeral: e.eph, Notifications: e.svc, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	h.Register(clientapi.NewRouter(e.mux, tokens{}))
	return e
}

// do makes a request as user (a localpart, "" for none) and returns the
// status and the decoded body.
func (e *env) do(user, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	req := httptest.NewRequest(method, "/_matrix/client/v3"+path, rd)
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+user)
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		e.t.Fatalf("%s %s: body %q is not a JSON object", method, path, rec.Body.String())
	}
	return rec.Code, out
}

// expect makes a request and checks its status and, for errors, errcode.
func (e *env) expect(user, method, path string, body any, status int, errcode string) map[string]any {
	e.t.Helper()
	got, out := e.do(user, method, path, body)
	if got != status {
		e.t.Fatalf("%s %s: status %d, want %d (%v)", method, path, got, status, out)
	}
	if errcode != "" && out["errcode"] != errcode {
		e.t.Fatalf("%s %s: errcode %v, want %s", method, path, out["errcode"], errcode)
	}
	return out
}

func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strp(s string) *string { return &s }

// createRoom makes a public room created by alice and joins members.
func (e *env) createRoom(members ...string) string {
	e.t.Helper()
	ctx := context.Background()
	create, err := e.dag.CreateRoom(ctx, roomversion.MustLookup(roomversion.Default), alice, raw(e.t, map[string]any{"room_version": roomversion.Default}))
	if err != nil {
		e.t.Fatal(err)
	}
	r := create.RoomID()
	e.state(r, alice, "m.room.member", alice, map[string]any{"membership": "join"})
	e.state(r, alice, "m.room.power_levels", "", map[string]any{"users": map[string]int{alice: 100}})
	e.state(r, alice, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
	for _, m := range members {
		e.state(r, m, "m.room.member", m, map[string]any{"membership": "join"})
	}
	return r
}

func (e *env) state(roomID, sender, typ, stateKey string, content any) {
	e.t.Helper()
	if _, err := e.dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: typ, StateKey: strp(stateKey), Content: raw(e.t, content)}); err != nil {
		e.t.Fatalf("send %s: %v", typ, err)
	}
}

func (e *env) send(roomID, sender string, content any) string {
	e.t.Helper()
	ev, err := e.dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: "m.room.message", Content: raw(e.t, content)})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev.ID()
}

func (e *env) counts(user, roomID string) [2]int {
	e.t.Helper()
	n, h, err := e.svc.Counts(context.Background(), user, roomID)
	if err != nil {
		e.t.Fatal(err)
	}
	return [2]int{n, h}
}

// esc escapes an ID for a path segment.
func esc(s string) string {
	r := strings.NewReplacer("!", "%21", ":", "%3A", "$", "%24", "@", "%40", "/", "%2F")
	return r.Replace(s)
}
