package fedserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/fedclient"
	"hearth/core/internal/apitest"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/persist/memory"
	"hearth/transport"
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
	keys    keyring
	// signed serves the endpoints behind the real fedauth middleware,
	// with the room ACLs; clients of it sign their requests.
	signed http.Handler
}

// keyring holds the test servers' keys, for events and requests.
type keyring map[string]signing.Key

func (k keyring) VerifyKey(server, keyID string, _ int64) (ed25519.PublicKey, error) {
	key, ok := k[server]
	if !ok || key.ID != keyID {
		return nil, fmt.Errorf("no key %s for %s", keyID, server)
	}
	return key.Public(), nil
}

func (k keyring) RequestKey(_ context.Context, server, keyID string) (ed25519.PublicKey, error) {
	return k.VerifyKey(server, keyID, 0)
}

// serverKey makes a key for a test server and adds it to the ring.
func (k keyring) serverKey(t *testing.T, server string) signing.Key {
	t.Helper()
	key, err := signing.KeyFromSeed("ed25519:t", bytes.Repeat([]byte{byte(len(k) + 7)}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	k[server] = key
	return key
}

// handlerTransport carries requests to an in-process handler.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(_ string, req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// client returns a federation client of server (whose key is in the ring)
// talking to the env's signed handler.
func (e *testEnv) client(server string) *fedclient.Client {
	e.t.Helper()
	key, ok := e.keys[server]
	if !ok {
		key = e.keys.serverKey(e.t, server)
	}
	c, err := fedclient.New(fedclient.Config{ServerName: server, Key: key, Transports: transport.Single{Transport: handlerTransport{e.signed}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// remoteEvent builds an event of a remote user on the room's current
// extremities, signed by the user's server, with auth events chosen from
// the current state.
func (e *testEnv) remoteEvent(roomID, sender, typ string, stateKey *string, content any) *event.PDU {
	e.t.Helper()
	ctx := context.Background()
	server := sender[strings.IndexByte(sender, ':')+1:]
	key, ok := e.keys[server]
	if !ok {
		key = e.keys.serverKey(e.t, server)
	}
	fx, err := e.dag.Extremities(ctx, roomID)
	if err != nil {
		e.t.Fatal(err)
	}
	cur, err := e.dag.CurrentState(ctx, roomID)
	if err != nil {
		e.t.Fatal(err)
	}
	var auths []string
	want := []event.StateKey{room.StateKeyOf("m.room.create", ""), room.StateKeyOf("m.room.power_levels", ""), room.StateKeyOf("m.room.member", sender)}
	if typ == "m.room.member" {
		want = append(want, room.StateKeyOf("m.room.join_rules", ""))
	}
	for _, k := range want {
		if id, ok := cur[k]; ok {
			auths = append(auths, id)
		}
	}
	pdu, err := event.Build(event.Builder{RoomID: roomID, Sender: sender, Type: typ, StateKey: stateKey,
		Content: apitest.JSON(e.t, content), PrevEvents: fx, AuthEvents: auths, Depth: 1000, OriginServerTS: apitest.Epoch.UnixMilli()},
		roomversion.MustLookup("10"), server, key, apitest.Seeded(9))
	if err != nil {
		e.t.Fatal(err)
	}
	return pdu
}

// fakeDirectory is a room directory holding rooms in order.
type fakeDirectory struct{ rooms []string }

func (d *fakeDirectory) PublishedRooms(_ context.Context, limit int) ([]string, error) {
	return d.rooms[:min(limit, len(d.rooms))], nil
}

func newEnv(t *testing.T, modify func(*Config)) *testEnv {
	t.Helper()
	return newServerEnv(t, testServer, keyring{}, modify)
}

// newServerEnv is newEnv for the server name, whose key joins ring (which
// servers of one test share).
func newServerEnv(t *testing.T, name string, ring keyring, modify func(*Config)) *testEnv {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	key := apitest.Key(t)
	clock := apitest.NewClock()
	ring[name] = key
	dag, err := room.New(ctx, room.Config{ServerName: name, Key: key, Store: store, Now: clock.Now, Rand: apitest.Seeded(1), Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, dag: dag, dir: &fakeDirectory{}, creator: "@alice:" + name, keys: ring}
	cfg := Config{ServerName: name, Key: key, DAG: dag, Store: store, Now: clock.Now, Directory: env.dir, EventKeys: ring}
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
	signed := http.NewServeMux()
	env.h.Register(signed, fedauth.Middleware(fedauth.Config{ServerName: name, Keys: ring, ACL: env.h.ACL}))
	env.signed = signed
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
