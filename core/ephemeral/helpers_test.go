package ephemeral

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"hearth/core/accountdata"
	"hearth/core/event"
	"hearth/core/internal/apitest"
	"hearth/core/room"
	"hearth/persist"
	"hearth/persist/memory"
)

const (
	server = "a.test"
	alice  = "@alice:a.test"
	bob    = "@bob:a.test"
	carol  = "@carol:a.test"
	dave   = "@dave:a.test"
)

// markCall is one ReadMarker call.
type markCall struct {
	user, room, thread string
	pos                uint64
}

// env is a server with a room DAG and the ephemeral sources over it.
type env struct {
	t     *testing.T
	store persist.Store
	dag   *room.DAG
	ad    *accountdata.Store
	eph   *Ephemeral
	rooms *DAGRooms

	clk    *apitest.Clock
	mu     sync.Mutex
	woken  []string
	marks  []markCall
	timers []func()
}

func (e *env) MarkRead(_ context.Context, userID, roomID, thread string, pos uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.marks = append(e.marks, markCall{userID, roomID, thread, pos})
	return nil
}

func (e *env) clock() time.Time        { return e.clk.Now() }
func (e *env) advance(d time.Duration) { e.clk.Advance(d) }

// takeWoken returns and forgets the users woken so far, sorted and
// deduplicated.
func (e *env) takeWoken() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := slices.Compact(slices.Sorted(slices.Values(e.woken)))
	e.woken = nil
	return w
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, store: memory.New(), clk: apitest.NewClock()}
	var err error
	e.dag, err = room.New(ctx, room.Config{ServerName: server, Key: apitest.Key(t), Store: e.store, Now: e.clock, Rand: apitest.Seeded(1)})
	if err != nil {
		t.Fatal(err)
	}
	if e.ad, err = accountdata.New(ctx, accountdata.Config{Store: e.store}); err != nil {
		t.Fatal(err)
	}
	e.rooms = NewDAGRooms(e.dag, server)
	e.eph = e.open()
	return e
}

// open makes the sources over the env's store, as at a server start.
func (e *env) open() *Ephemeral {
	e.t.Helper()
	eph, err := New(context.Background(), Config{
		Store: e.store, Now: e.clock, Rooms: e.rooms, Events: e.dag, AccountData: e.ad, Read: e,
		Wake: func(users ...string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.woken = append(e.woken, users...)
		},
		AfterFunc: func(d time.Duration, f func()) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.timers = append(e.timers, f)
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return eph
}

func raw(t *testing.T, v any) json.RawMessage { t.Helper(); return apitest.JSON(t, v) }

func strp(s string) *string { return &s }

// createRoom makes a public room created by alice and joins members.
func (e *env) createRoom(members ...string) string {
	e.t.Helper()
	return apitest.CreateRoom(e.t, e.dag, alice, members...)
}

func (e *env) state(roomID, sender, typ, stateKey string, content any) *event.PDU {
	e.t.Helper()
	return apitest.SendState(e.t, e.dag, roomID, sender, typ, stateKey, content)
}

// message sends a message and returns its ID and stream position.
func (e *env) message(roomID, sender string) (string, uint64) {
	e.t.Helper()
	ctx := context.Background()
	ev, err := e.dag.Send(ctx, roomID, room.Proto{Sender: sender, Type: "m.room.message", Content: raw(e.t, map[string]any{"msgtype": "m.text", "body": "hi"})})
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := e.dag.Info(ctx, ev.ID())
	if err != nil {
		e.t.Fatal(err)
	}
	return ev.ID(), info.Pos
}
