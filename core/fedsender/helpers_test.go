package fedsender

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/persist"
	"hearth/persist/memory"
)

const (
	self  = "a.test"
	alice = "@alice:a.test"
	bob   = "@bob:b.test"
	carol = "@carol:c.test"
)

type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

// sent is one transaction the fake client received.
type sent struct {
	dest, id   string
	pdus, edus []json.RawMessage
	ok         bool
}

// fakeClient records transactions and fails while fail says so.
type fakeClient struct {
	mu    sync.Mutex
	fail  func(dest string) error
	txns  []sent
	calls chan struct{}
}

func newFakeClient() *fakeClient { return &fakeClient{calls: make(chan struct{}, 1000)} }

func (c *fakeClient) SendTransaction(_ context.Context, dest, id string, pdus, edus []json.RawMessage) (map[string]fedclient.PDUResult, error) {
	c.mu.Lock()
	var err error
	if c.fail != nil {
		err = c.fail(dest)
	}
	c.txns = append(c.txns, sent{dest, id, pdus, edus, err == nil})
	c.mu.Unlock()
	c.calls <- struct{}{}
	return nil, err
}

func (c *fakeClient) setFail(f func(string) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = f
}

func (c *fakeClient) all() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sent(nil), c.txns...)
}

// delivered returns the PDUs and EDUs of successful transactions to dest,
// in order.
func (c *fakeClient) delivered(dest string) (pdus, edus []string) {
	for _, t := range c.all() {
		if t.dest != dest || !t.ok {
			continue
		}
		for _, p := range t.pdus {
			pdus = append(pdus, string(p))
		}
		for _, e := range t.edus {
			edus = append(edus, string(e))
		}
	}
	return pdus, edus
}

var errDown = errors.New("down")

// timer is one AfterFunc call.
type timer struct {
	d time.Duration
	f func()
}

// env is a store, a clock and a fake client shared by the senders of a
// test (several, to test restarts).
type env struct {
	t      *testing.T
	store  persist.Store
	client *fakeClient
	timers chan timer
	mu     sync.Mutex
	now    time.Time
}

func newEnv(t *testing.T) *env {
	return &env{t: t, store: memory.New(), client: newFakeClient(), timers: make(chan timer, 1000), now: time.UnixMilli(1_700_000_000_000)}
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

func (e *env) config() Config {
	return Config{
		ServerName: self, Store: e.store, Client: e.client, Now: e.clock,
		AfterFunc:  func(d time.Duration, f func()) { e.timers <- timer{d, f} },
		MinBackoff: time.Second, MaxBackoff: 8 * time.Second,
	}
}

func (e *env) open(cfg Config) *Sender {
	e.t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// nextTimer waits for the next retry timer.
func (e *env) nextTimer() timer {
	e.t.Helper()
	select {
	case tm := <-e.timers:
		return tm
	case <-time.After(5 * time.Second):
		e.t.Fatal("no retry timer was set")
		return timer{}
	}
}

// waitCall waits for the next transaction attempt.
func (e *env) waitCall() {
	e.t.Helper()
	select {
	case <-e.client.calls:
	case <-time.After(5 * time.Second):
		e.t.Fatal("no transaction was sent")
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// queued counts the durable queue entries of dest.
func (e *env) queued(dest string) int {
	e.t.Helper()
	n := 0
	err := e.store.View(context.Background(), func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: queuePrefix(dest), KeysOnly: true})
		defer it.Close()
		for it.Next() {
			n++
		}
		return it.Err()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// newDAG makes a room DAG over the env's store; hooks, when set, receive
// its Index and OnAccepted calls.
func (e *env) newDAG(hooks **Sender) *room.DAG {
	e.t.Helper()
	key, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{1}, ed25519.SeedSize))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := room.Config{ServerName: self, Key: key, Store: e.store, Now: e.clock, Rand: seeded{rand.NewChaCha8([32]byte{1})}}
	if hooks != nil {
		cfg.Index = func(tx persist.Tx, a room.Added) error {
			if *hooks == nil {
				return nil
			}
			return (*hooks).Index(tx, a)
		}
		cfg.OnAccepted = func(a room.Added) {
			if *hooks != nil {
				(*hooks).Accepted(a)
			}
		}
	}
	dag, err := room.New(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return dag
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
func createRoom(t *testing.T, dag *room.DAG, members ...string) string {
	t.Helper()
	ctx := context.Background()
	create, err := dag.CreateRoom(ctx, roomversion.MustLookup(roomversion.Default), alice, raw(t, map[string]any{"room_version": roomversion.Default}))
	if err != nil {
		t.Fatal(err)
	}
	r := create.RoomID()
	sendState(t, dag, r, alice, "m.room.member", alice, map[string]any{"membership": "join"})
	sendState(t, dag, r, alice, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
	for _, m := range members {
		sendState(t, dag, r, m, "m.room.member", m, map[string]any{"membership": "join"})
	}
	return r
}

func sendState(t *testing.T, dag *room.DAG, roomID, sender, typ, stateKey string, content any) *event.PDU {
	t.Helper()
	ev, err := dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: typ, StateKey: strp(stateKey), Content: raw(t, content)})
	if err != nil {
		t.Fatalf("send %s: %v", typ, err)
	}
	return ev
}

func message(t *testing.T, dag *room.DAG, roomID, sender string, i int) *event.PDU {
	t.Helper()
	ev, err := dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: "m.room.message", Content: raw(t, map[string]any{"msgtype": "m.text", "body": i})})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
