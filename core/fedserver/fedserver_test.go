package fedserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"hearth/core/fedauth"
	"hearth/core/internal/apitest"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/persist/memory"
)

const (
	testServer = "hs.test"
	v1         = "/_matrix/federation/v1"
)

// testEnv is one server's federation handlers over a DAG, with a mux whose
// "authentication" takes the origin server from a Bearer header.
type testEnv struct {
	t       *testing.T
	dag     *room.DAG
	h       *Handlers
	mux     *http.ServeMux
	dir     *fakeDirectory
	creator string
}

// fakeDirectory is a room directory holding rooms in order.
type fakeDirectory struct{ rooms []string }

func (d *fakeDirectory) PublishedRooms(_ context.Context, limit int) ([]string, error) {
	return d.rooms[:min(limit, len(d.rooms))], nil
}

func newEnv(t *testing.T, modify func(*Config)) *testEnv {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	key := apitest.Key(t)
	clock := apitest.NewClock()
	dag, err := room.New(ctx, room.Config{ServerName: testServer, Key: key, Store: store, Now: clock.Now, Rand: apitest.Seeded(1)})
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, dag: dag, dir: &fakeDirectory{}, creator: "@alice:" + testServer}
	cfg := Config{ServerName: testServer, Key: key, DAG: dag, Store: store, Now: clock.Now, Directory: env.dir}
	if modify != nil {
		modify(&cfg)
	}
	if env.h, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	env.mux = http.NewServeMux()
	env.h.Register(env.mux, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			next.ServeHTTP(w, r.WithContext(fedauth.WithOrigin(r.Context(), origin)))
		})
	})
	return env
}

// room creates a room with the given state events (type → content, state
// key "") after the creator's join, and returns its ID.
func (e *testEnv) room(createContent map[string]any, state [][2]any) string {
	e.t.Helper()
	ctx := context.Background()
	v := roomversion.MustLookup("10")
	cc := map[string]any{"room_version": v.ID, "creator": e.creator}
	for k, val := range createContent {
		cc[k] = val
	}
	create, err := e.dag.CreateRoom(ctx, v, e.creator, apitest.JSON(e.t, cc))
	if err != nil {
		e.t.Fatal(err)
	}
	roomID := create.RoomID()
	e.send(roomID, "m.room.member", e.creator, map[string]any{"membership": "join"})
	e.send(roomID, "m.room.power_levels", "", map[string]any{"users": map[string]int{e.creator: 100}})
	for _, s := range state {
		typ, key := s[0].(string), ""
		if t, k, ok := strings.Cut(typ, "|"); ok {
			typ, key = t, k
		}
		e.send(roomID, typ, key, s[1])
	}
	return roomID
}

func (e *testEnv) send(roomID, typ, key string, content any) {
	e.t.Helper()
	if _, err := e.dag.Send(context.Background(), roomID, room.Proto{Sender: e.creator, Type: typ, StateKey: &key, Content: apitest.JSON(e.t, content)}); err != nil {
		e.t.Fatalf("send %s: %v", typ, err)
	}
}

// do makes a federation request from origin and returns the status and
// the JSON object answered.
func (e *testEnv) do(origin, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	return apitest.DoPrefix(e.t, e.mux, v1, origin, method, path, body)
}

// expect is do that checks the status and errcode ("" for success).
func (e *testEnv) expect(origin, method, path string, body any, status int, errcode string) map[string]any {
	e.t.Helper()
	got, out := e.do(origin, method, path, body)
	if got != status || errcode != "" && out["errcode"] != errcode {
		e.t.Fatalf("%s %s: %d %v, want %d %s", method, path, got, out, status, errcode)
	}
	return out
}

// chunkField lists one field of every entry of a list in a JSON answer.
func chunkField(out map[string]any, list, field string) []string {
	var got []string
	items, _ := out[list].([]any)
	for _, it := range items {
		s, _ := it.(map[string]any)[field].(string)
		got = append(got, s)
	}
	return got
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
