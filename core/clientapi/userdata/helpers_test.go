package userdata

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"hearth/core/accountdata"
	"hearth/core/clientapi"
	"hearth/core/ephemeral"
	"hearth/core/internal/apitest"
	"hearth/core/notifications"
	"hearth/core/notify"
	"hearth/core/room"
	"hearth/persist/memory"
)

const (
	server = "a.test"
	alice  = "@alice:a.test"
	bob    = "@bob:a.test"
	carol  = "@carol:a.test"
)

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

	clk *apitest.Clock
}

func (e *env) clock() time.Time        { return e.clk.Now() }
func (e *env) advance(d time.Duration) { e.clk.Advance(d) }

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, clk: apitest.NewClock(), ntf: notify.New()}
	store := memory.New()
	var err error
	e.dag, err = room.New(ctx, room.Config{ServerName: server, Key: apitest.Key(t), Store: store, Now: e.clock,
		Rand: apitest.Seeded(1)})
	if err != nil {
		t.Fatal(err)
	}
	if e.ad, err = accountdata.New(ctx, accountdata.Config{Store: store, Wake: e.ntf.Wake, Defaults: notifications.AccountDataDefaults}); err != nil {
		t.Fatal(err)
	}
	e.svc, err = notifications.New(notifications.Config{ServerName: server, Store: store, Rooms: e.dag, AccountData: e.ad,
		Logf: func(f string, args ...any) { t.Errorf(f, args...) }})
	if err != nil {
		t.Fatal(err)
	}
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

// createRoom makes a public room created by alice and joins members.
func (e *env) createRoom(members ...string) string {
	e.t.Helper()
	return apitest.CreateRoom(e.t, e.dag, alice, members...)
}

func (e *env) state(roomID, sender, typ, stateKey string, content any) {
	e.t.Helper()
	apitest.SendState(e.t, e.dag, roomID, sender, typ, stateKey, content)
}

func (e *env) send(roomID, sender string, content any) string {
	e.t.Helper()
	ev, err := e.dag.Send(context.Background(), roomID, room.Proto{Sender: sender, Type: "m.room.message", Content: raw(e.t, content)})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev.ID()
}

// counts returns the user's counts.
func (e *env) counts(user, roomID string) [2]int {
	e.t.Helper()
	n, h, err := e.svc.Counts(context.Background(), user, roomID)
	if err != nil {
		e.t.Fatal(err)
	}
	return [2]int{n, h}
}

// esc escapes an ID for a path segment.
func esc(s string) string { return apitest.Esc(s) }
