package notifications

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth/core/accountdata"
	"hearth/core/event"
	"hearth/core/internal/apitest"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/persist"
	"hearth/persist/memory"
)

const (
	server = "a.test"
	alice  = "@alice:a.test"
	bob    = "@bob:a.test"
	carol  = "@carol:a.test"
)

// env is a server with a room DAG whose accepted events feed a Service.
type env struct {
	t     testing.TB
	store persist.Store
	// updates counts the Service's transactions.
	updates *countingStore
	// rooms is what the Service reads of the DAG; gate blocks it.
	rooms *gatedRooms
	woken chan []string
	dag   *room.DAG
	ad    *accountdata.Store
	svc   *Service
	now   time.Time
	// manual stops the DAG from feeding the Service: tests then call
	// Observe themselves.
	manual bool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, memory.New())
}

// newEnvOn is newEnv over a given store.
func newEnvOn(t testing.TB, store persist.Store) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, store: store, now: apitest.Epoch}
	var err error
	now := func() time.Time { return e.now }
	e.dag, err = room.New(ctx, room.Config{
		ServerName: server, Key: apitest.Key(t), Store: e.store, Now: now,
		Rand: apitest.Seeded(1),
		OnAccepted: func(a room.Added) {
			if !e.manual {
				e.svc.Observe(context.Background(), a.Event, a.Pos)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ad, err = accountdata.New(ctx, accountdata.Config{Store: e.store, Defaults: AccountDataDefaults})
	if err != nil {
		t.Fatal(err)
	}
	e.updates = &countingStore{Store: e.store}
	e.rooms = &gatedRooms{Rooms: e.dag}
	e.woken = make(chan []string, 100)
	e.svc, err = New(Config{ServerName: server, Store: e.updates, Rooms: e.rooms, AccountData: e.ad, Now: now, MaxStored: 50,
		Logf: func(f string, args ...any) { t.Errorf(f, args...) },
		Wake: func(users ...string) {
			select {
			case e.woken <- users:
			default:
			}
		},
		// Generous, so that Counts in tests always sees its room's
		// events evaluated unless a test blocks the evaluation.
		AfterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		MaxWait:   time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	return e
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

// countingStore counts Update calls.
type countingStore struct {
	persist.Store
	n atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(tx persist.Tx) error) error {
	c.n.Add(1)
	return c.Store.Update(ctx, fn)
}

// gatedRooms passes reads on to the DAG, except that StateAfter of an
// event in the room blocked, if any, waits until release is closed.
type gatedRooms struct {
	Rooms
	mu      sync.Mutex
	blocked string
	release chan struct{}
	entered chan struct{} // closed when a blocked read starts
}

// block makes the evaluation of the room's events wait; the returned
// channel is closed once one does. unblock lets them go.
func (g *gatedRooms) block(roomID string) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked, g.release, g.entered = roomID, make(chan struct{}), make(chan struct{})
	return g.entered
}

func (g *gatedRooms) unblock() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.release)
	g.blocked = ""
}

func (g *gatedRooms) StateAfter(ctx context.Context, eventID string) (room.State, error) {
	g.mu.Lock()
	gated := g.blocked != ""
	g.mu.Unlock()
	if !gated {
		return g.Rooms.StateAfter(ctx, eventID)
	}
	info, err := g.Rooms.Info(ctx, eventID)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	blocked := g.blocked != "" && info.Event.RoomID() == g.blocked
	release, entered := g.release, g.entered
	if blocked {
		select {
		case <-entered:
		default:
			close(entered)
		}
	}
	g.mu.Unlock()
	if blocked {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Rooms.StateAfter(ctx, eventID)
}
