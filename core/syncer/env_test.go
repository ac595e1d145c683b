package syncer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/notify"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/persist/memory"
)

const server = "hs.test"

const (
	alice = "@alice:hs.test"
	bob   = "@bob:hs.test"
	carol = "@carol:hs.test"
	dave  = "@dave:hs.test"
)

// seeded is a deterministic randomness source.
type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

// env is a server with one room DAG and a Syncer over it.
type env struct {
	dag    *room.DAG
	notify *notify.Notifier
	sync   *Syncer
	mu     sync.Mutex
	now    time.Time
	// woken collects every user woken by OnAccepted, for the tests of
	// long polling.
	wakeAll []string
}

// newEnv builds an env; configure, when set, adjusts the Syncer's Config.
func newEnv(t testing.TB, configure func(*Config)) *env {
	t.Helper()
	key, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{7}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{notify: notify.New(), now: time.UnixMilli(1_700_000_000_000), wakeAll: []string{alice, bob, carol, dave}}
	store := memory.New()
	e.dag, err = room.New(context.Background(), room.Config{
		ServerName: server,
		Key:        key,
		Store:      store,
		Now:        e.clock,
		Rand:       seeded{rand.NewChaCha8([32]byte{7})},
		// As the server wires it: wake the local users of the room.
		OnAccepted: func(room.Added) { e.notify.Wake(e.wakeAll...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DAG: e.dag, Store: store, ServerName: server, Now: e.clock, Notifier: e.notify}
	if configure != nil {
		configure(&cfg)
	}
	if e.sync, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// clock advances a millisecond per call, so events have distinct times.
func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(time.Millisecond)
	return e.now
}

func strp(s string) *string { return &s }

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// createRoom makes a public room created by creator, with a name when
// name is not empty, and returns its ID.
func (e *env) createRoom(t testing.TB, creator, name string) string {
	t.Helper()
	ctx := context.Background()
	create, err := e.dag.CreateRoom(ctx, roomversion.MustLookup("11"), creator, mustJSON(t, map[string]any{"room_version": "11"}))
	if err != nil {
		t.Fatal(err)
	}
	id := create.RoomID()
	e.member(t, id, creator, creator, "join")
	e.state(t, id, creator, "m.room.power_levels", "", map[string]any{"users": map[string]any{creator: 100}})
	e.state(t, id, creator, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
	e.state(t, id, creator, "m.room.history_visibility", "", map[string]any{"history_visibility": "shared"})
	if name != "" {
		e.state(t, id, creator, "m.room.name", "", map[string]any{"name": name})
	}
	return id
}

func (e *env) send(t testing.TB, roomID string, p room.Proto) *event.PDU {
	t.Helper()
	ev, err := e.dag.Send(context.Background(), roomID, p)
	if err != nil {
		t.Fatalf("send %s in %s: %v", p.Type, roomID, err)
	}
	return ev
}

func (e *env) state(t testing.TB, roomID, sender, typ, key string, content any) *event.PDU {
	t.Helper()
	return e.send(t, roomID, room.Proto{Sender: sender, Type: typ, StateKey: strp(key), Content: mustJSON(t, content)})
}

func (e *env) member(t testing.TB, roomID, sender, target, membership string) *event.PDU {
	t.Helper()
	return e.state(t, roomID, sender, "m.room.member", target, map[string]any{"membership": membership})
}

func (e *env) message(t testing.TB, roomID, sender, body string) *event.PDU {
	t.Helper()
	return e.send(t, roomID, room.Proto{Sender: sender, Type: "m.room.message", Content: mustJSON(t, map[string]any{"msgtype": "m.text", "body": body})})
}

// do runs a sync and fails the test on error.
func (e *env) do(t testing.TB, req Request) *Response {
	t.Helper()
	resp, err := e.sync.Sync(context.Background(), req)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return resp
}

// since parses a response's next_batch for the next request.
func since(t testing.TB, resp *Response) *Token {
	t.Helper()
	tok, err := ParseToken(resp.NextBatch)
	if err != nil {
		t.Fatal(err)
	}
	return &tok
}

// ev is the parts of a client event the tests look at.
type ev struct {
	Type     string          `json:"type"`
	StateKey *string         `json:"state_key"`
	Sender   string          `json:"sender"`
	EventID  string          `json:"event_id"`
	RoomID   string          `json:"room_id"`
	Content  json.RawMessage `json:"content"`
	Unsigned map[string]any  `json:"unsigned"`
}

func decode(t testing.TB, raws []json.RawMessage) []ev {
	t.Helper()
	out := make([]ev, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatalf("event %s: %v", raw, err)
		}
	}
	return out
}

// ids returns the event IDs of raw events.
func ids(t testing.TB, raws []json.RawMessage) []string {
	var out []string
	for _, e := range decode(t, raws) {
		out = append(out, e.EventID)
	}
	return out
}

// keys returns "type|state_key" of raw state events.
func keys(t testing.TB, raws []json.RawMessage) []string {
	var out []string
	for _, e := range decode(t, raws) {
		k := e.Type
		if e.StateKey != nil {
			k += "|" + *e.StateKey
		}
		out = append(out, k)
	}
	return out
}

func pduIDs(evs ...*event.PDU) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID()
	}
	return out
}

func roomProto(sender, typ string, content map[string]any, redacts string) room.Proto {
	raw, _ := json.Marshal(content)
	return room.Proto{Sender: sender, Type: typ, Content: raw, Redacts: redacts}
}
