package profile

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/internal/apitest"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/persist/memory"
)

const (
	server = "a.test"
	alice  = "@alice:a.test"
	bob    = "@bob:a.test"
	carol  = "@carol:a.test"
	dave   = "@dave:a.test"
	remote = "@rita:b.test"
)

// remoteProfiles knows rita on b.test and fails for c.test.
type remoteProfiles struct{}

func (remoteProfiles) RemoteProfile(_ context.Context, userID, field string) (accounts.Profile, error) {
	switch {
	case userID == remote:
		return accounts.Profile{DisplayName: "Rita", AvatarURL: "mxc://b.test/rita"}, nil
	case strings.HasSuffix(userID, ":c.test"):
		return accounts.Profile{}, context.DeadlineExceeded
	}
	return accounts.Profile{}, ErrNotFound
}

// publicRooms is a fixed room directory.
type publicRooms struct{ ids []string }

func (p *publicRooms) PublishedRooms(_ context.Context, limit int) ([]string, error) {
	return p.ids[:min(limit, len(p.ids))], nil
}

// logBuffer collects log output safely.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is the handlers over a real DAG and real accounts on one memory
// store.
type env struct {
	t      *testing.T
	mux    *http.ServeMux
	dag    *room.DAG
	acc    *accounts.Accounts
	public *publicRooms
	logs   *logBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	now := func() time.Time { return apitest.Epoch }
	store := memory.New()
	e := &env{t: t, public: &publicRooms{}, logs: &logBuffer{}}
	var err error
	e.dag, err = room.New(ctx, room.Config{ServerName: server, Key: apitest.Key(t), Store: store, Now: now,
		Rand: apitest.Seeded(1)})
	if err != nil {
		t.Fatal(err)
	}
	e.acc, err = accounts.New(accounts.Config{ServerName: server, Store: store, Now: now,
		Rand: apitest.Seeded(2), BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		if _, err := e.acc.CreateUser(ctx, accounts.NewUser{Localpart: u, Password: "pw"}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := New(Config{ServerName: server, Accounts: e.acc, DAG: e.dag, RemoteProfiles: remoteProfiles{},
		PublicRooms: e.public, Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	h.Register(clientapi.NewRouter(e.mux, apitest.Tokens(server)))
	return e
}

// do makes a request as user (a localpart, "" for none) and returns the
// status and the decoded body.
func (e *env) do(user, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	return apitest.Do(e.t, e.mux, user, method, path, body)
}

// expect makes a request and checks its status and, for errors, errcode.
func (e *env) expect(user, method, path string, body any, status int, errcode string) map[string]any {
	e.t.Helper()
	return apitest.Expect(e.t, e.mux, user, method, path, body, status, errcode)
}

func raw(t *testing.T, v any) json.RawMessage { t.Helper(); return apitest.JSON(t, v) }

// createRoom makes a public room created by creator and joins members,
// each with their display name in the member event as clients set it.
func (e *env) createRoom(creator string, members ...string) string {
	e.t.Helper()
	ctx := context.Background()
	create, err := e.dag.CreateRoom(ctx, roomversion.MustLookup(roomversion.Default), creator, raw(e.t, map[string]any{"room_version": roomversion.Default}))
	if err != nil {
		e.t.Fatal(err)
	}
	r := create.RoomID()
	e.join(r, creator, nil)
	e.state(r, creator, "m.room.power_levels", "", map[string]any{"users": map[string]int{creator: 100}})
	e.state(r, creator, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
	for _, m := range members {
		e.join(r, m, nil)
	}
	return r
}

// join joins user to roomID with their current global profile and extra
// content.
func (e *env) join(roomID, user string, extra map[string]any) {
	e.t.Helper()
	content := map[string]any{"membership": "join"}
	if p, err := e.acc.Profile(context.Background(), user); err == nil {
		if p.DisplayName != "" {
			content["displayname"] = p.DisplayName
		}
		if p.AvatarURL != "" {
			content["avatar_url"] = p.AvatarURL
		}
	}
	for k, v := range extra {
		content[k] = v
	}
	e.state(roomID, user, "m.room.member", user, content)
}

func (e *env) state(roomID, sender, typ, stateKey string, content any) {
	e.t.Helper()
	if _, err := e.dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: typ, StateKey: &stateKey, Content: raw(e.t, content)}); err != nil {
		e.t.Fatalf("send %s: %v", typ, err)
	}
}

// member returns the content of user's current member event in roomID and
// its event.
func (e *env) member(roomID, user string) (map[string]any, *event.PDU) {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.dag.CurrentState(ctx, roomID)
	if err != nil {
		e.t.Fatal(err)
	}
	k := room.StateKeyOf("m.room.member", user)
	evs, err := e.dag.StateEvents(ctx, room.State{k: s[k]})
	if err != nil {
		e.t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(evs[k].Content(), &c); err != nil {
		e.t.Fatal(err)
	}
	return c, evs[k]
}

// esc escapes an ID for a path segment.
func esc(s string) string { return apitest.Esc(s) }

func newMux(h *Handlers) *http.ServeMux {
	mux := http.NewServeMux()
	h.Register(clientapi.NewRouter(mux, apitest.Tokens(server)))
	return mux
}

// doPrefix is do under another API prefix.
func (e *env) doPrefix(prefix, user, method, path string) (int, map[string]any) {
	e.t.Helper()
	return apitest.DoPrefix(e.t, e.mux, prefix, user, method, path, nil)
}
