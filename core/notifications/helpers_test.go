package notifications

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"hearth/core/accountdata"
	"hearth/core/event"
	"hearth/core/internal/apitest"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/persist"
	"hearth/persist/kvtest"
	"hearth/persist/memory"
)

const (
	server = "a.test"
	alice  = "@alice:a.test"
	bob    = "@bob:a.test"
	carol  = "@carol:a.test"
)

// env is a server with a room DAG and a Service reading it.
type env struct {
	t     testing.TB
	store persist.Store
	// updates counts the Service's transactions.
	updates *kvtest.Counting
	dag     *room.DAG
	ad      *accountdata.Store
	svc     *Service
	now     time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, memory.New(), Config{})
}

// newEnvOn is newEnv over a given store, with cfg's bounds.
func newEnvOn(t testing.TB, store persist.Store, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, store: store, now: apitest.Epoch}
	var err error
	now := func() time.Time { return e.now }
	e.dag, err = room.New(ctx, room.Config{
		ServerName: server, Key: apitest.Key(t), Store: e.store, Now: now,
		Rand: apitest.Seeded(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ad, err = accountdata.New(ctx, accountdata.Config{Store: e.store, Defaults: AccountDataDefaults})
	if err != nil {
		t.Fatal(err)
	}
	e.updates = &kvtest.Counting{Store: e.store}
	cfg.ServerName, cfg.Store, cfg.Rooms, cfg.AccountData = server, e.updates, e.dag, e.ad
	cfg.Logf = func(f string, args ...any) { t.Errorf(f, args...) }
	if e.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// restart replaces the Service by a new one over the same store, with
// nothing cached.
func (e *env) restart() {
	e.t.Helper()
	svc, err := New(e.svc.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

func raw(t testing.TB, v any) json.RawMessage { t.Helper(); return apitest.JSON(t, v) }

func strp(s string) *string { return &s }

// createRoom makes a public room with alice as creator (power 100) and
// joins the other users.
func (e *env) createRoom(members ...string) string {
	e.t.Helper()
	ctx := context.Background()
	create, err := e.dag.CreateRoom(ctx, roomversion.MustLookup(roomversion.Default), alice, raw(e.t, map[string]any{"room_version": roomversion.Default}))
	if err != nil {
		e.t.Fatal(err)
	}
	roomID := create.RoomID()
	e.state(roomID, alice, "m.room.member", alice, map[string]any{"membership": "join", "displayname": "Alice"})
	e.state(roomID, alice, "m.room.power_levels", "", map[string]any{"users": map[string]int{alice: 100}})
	e.state(roomID, alice, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
	for _, m := range members {
		e.state(roomID, m, "m.room.member", m, map[string]any{"membership": "join"})
	}
	return roomID
}

func (e *env) state(roomID, sender, typ, stateKey string, content any) *event.PDU {
	e.t.Helper()
	ev, err := e.dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: typ, StateKey: strp(stateKey), Content: raw(e.t, content)})
	if err != nil {
		e.t.Fatalf("send %s: %v", typ, err)
	}
	return ev
}

func (e *env) send(roomID, sender string, content any) (*event.PDU, uint64) {
	e.t.Helper()
	ctx := context.Background()
	ev, err := e.dag.Send(ctx, roomID, room.Proto{Sender: sender, Type: "m.room.message", Content: raw(e.t, content)})
	if err != nil {
		e.t.Fatalf("send: %v", err)
	}
	info, err := e.dag.Info(ctx, ev.ID())
	if err != nil {
		e.t.Fatal(err)
	}
	return ev, info.Pos
}

func (e *env) text(roomID, sender, body string) (*event.PDU, uint64) {
	e.t.Helper()
	return e.send(roomID, sender, map[string]any{"msgtype": "m.text", "body": body})
}

func (e *env) counts(user, roomID string) [2]int {
	e.t.Helper()
	n, h, err := e.svc.Counts(context.Background(), user, roomID)
	if err != nil {
		e.t.Fatal(err)
	}
	return [2]int{n, h}
}

func roomProto(sender, typ string, content json.RawMessage) room.Proto {
	return room.Proto{Sender: sender, Type: typ, Content: content}
}
