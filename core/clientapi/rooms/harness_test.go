package rooms

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"hearth/core/auth"
	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/signing"
	"hearth/persist"
	"hearth/persist/memory"
)

const server = "hs.test"

// Test users: the access token of each is its localpart.
const (
	alice = "@alice:" + server
	bob   = "@bob:" + server
	carol = "@carol:" + server
	dave  = "@dave:" + server
	guest = "@guest:" + server
)

// fakeAuth maps access tokens to callers.
type fakeAuth map[string]clientapi.Caller

func (f fakeAuth) Authenticate(_ context.Context, token string) (clientapi.Caller, error) {
	c, ok := f[token]
	if !ok {
		return clientapi.Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unknown token")
	}
	return c, nil
}

// fakeProfiles is a Profiles over a map.
type fakeProfiles map[string][2]string

func (f fakeProfiles) Profile(_ context.Context, userID string) (string, string, error) {
	p := f[userID]
	return p[0], p[1], nil
}

type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

// harness is a server with the room endpoints over a real DAG on a memory
// store.
type harness struct {
	t     testing.TB
	h     *Handlers
	dag   *room.DAG
	mux   *http.ServeMux
	now   time.Time
	auth  fakeAuth
	cfg   Config
	added []room.Added
	txn   int
	// remoteKey signs the events of remoteServer's users.
	remoteKey signing.Key
	// txnAtAccept maps events to the transaction ID that was recorded for
	// them by the time the DAG's OnAccepted hook returned.
	txnAtAccept map[string]string
	// indexErr, when set, runs before Handlers.Index in the DAG's Index
	// hook; an error it returns aborts the event.
	indexErr func(room.Added) error
}

// remoteServer is another server whose users' events the tests inject.
const remoteServer = "remote.test"

// keyring is an event.KeyLookup over fixed keys.
type keyring map[string]signing.Key

func (k keyring) VerifyKey(serverName, keyID string, _ int64) (ed25519.PublicKey, error) {
	key, ok := k[serverName]
	if !ok || key.ID != keyID {
		return nil, fmt.Errorf("no key %s for %s", keyID, serverName)
	}
	return key.Public(), nil
}

// remoteEvent builds an event of a remoteServer user on the room's forward
// extremities and has the DAG accept it, as federation would.
func (hs *harness) remoteEvent(roomID string, p room.Proto) *event.PDU {
	hs.t.Helper()
	ctx := context.Background()
	v, err := hs.dag.Version(ctx, roomID)
	if err != nil {
		hs.t.Fatal(err)
	}
	prevs, err := hs.dag.Extremities(ctx, roomID)
	if err != nil {
		hs.t.Fatal(err)
	}
	depth := int64(0)
	for _, id := range prevs {
		ev, err := hs.dag.Event(ctx, id)
		if err != nil {
			hs.t.Fatal(err)
		}
		depth = max(depth, ev.Depth())
	}
	s, err := hs.dag.CurrentState(ctx, roomID)
	if err != nil {
		hs.t.Fatal(err)
	}
	needed, err := auth.NeededKeys(v, p.Type, p.Sender, p.StateKey, p.Content)
	if err != nil {
		hs.t.Fatal(err)
	}
	var authIDs []string
	for _, k := range needed {
		if id, ok := s[k]; ok {
			authIDs = append(authIDs, id)
		}
	}
	hs.now = hs.now.Add(time.Millisecond)
	pdu, err := event.Build(event.Builder{
		RoomID: roomID, Sender: p.Sender, Type: p.Type, StateKey: p.StateKey, Content: p.Content,
		PrevEvents: prevs, AuthEvents: authIDs, Depth: depth + 1, OriginServerTS: hs.now.UnixMilli(), Redacts: p.Redacts,
	}, v, remoteServer, hs.remoteKey, seeded{rand.NewChaCha8([32]byte{11})})
	if err != nil {
		hs.t.Fatal(err)
	}
	res, err := hs.dag.Accept(ctx, pdu)
	if err != nil || res.Outcome != room.Accepted {
		hs.t.Fatalf("Accept(%s) = %v (%v), %v", p.Type, res.Outcome, res.Reason, err)
	}
	return pdu
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, func(*Config) {})
}

func newHarnessWith(t testing.TB, configure func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	key, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{3}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, now: time.UnixMilli(1_700_000_000_000), txnAtAccept: map[string]string{}}
	now := func() time.Time {
		hs.now = hs.now.Add(time.Millisecond)
		return hs.now
	}
	store := memory.New()
	hs.remoteKey, err = signing.KeyFromSeed("ed25519:remote", bytes.Repeat([]byte{4}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	hs.dag, err = room.New(ctx, room.Config{
		ServerName: server, Key: key, Store: store, Now: now,
		Keys: keyring{remoteServer: hs.remoteKey},
		Rand: seeded{rand.NewChaCha8([32]byte{9})},
		Index: func(tx persist.Tx, a room.Added) error {
			if hs.indexErr != nil {
				if err := hs.indexErr(a); err != nil {
					return err
				}
			}
			if hs.h == nil {
				return nil
			}
			return hs.h.Index(tx, a)
		},
		OnAccepted: func(a room.Added) {
			hs.added = append(hs.added, a)
			if hs.h != nil {
				if rec, ok, err := hs.h.txns.Sender(ctx, a.Event.ID()); err == nil && ok {
					hs.txnAtAccept[a.Event.ID()] = rec.TxnID
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs.cfg = Config{
		DAG: hs.dag, Store: store, ServerName: server, Now: now,
		Rand:     seeded{rand.NewChaCha8([32]byte{10})},
		Profiles: fakeProfiles{alice: {"Alice", "mxc://hs.test/alice"}, bob: {"Bob", ""}},
	}
	configure(&hs.cfg)
	hs.h, err = New(hs.cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.auth = fakeAuth{}
	for _, u := range []string{alice, bob, carol, dave, guest} {
		local := strings.TrimPrefix(strings.Split(u, ":")[0], "@")
		hs.auth[local] = clientapi.Caller{UserID: u, DeviceID: strings.ToUpper(local) + "DEV", AccessToken: local, IsGuest: u == guest}
	}
	hs.auth["alice2"] = clientapi.Caller{UserID: alice, DeviceID: "ALICEOTHER", AccessToken: "alice2"}
	hs.mux = http.NewServeMux()
	hs.h.Register(clientapi.NewRouter(hs.mux, hs.auth))
	return hs
}

// response is a recorded HTTP response.
type response struct {
	t      testing.TB
	status int
	body   []byte
}

// obj decodes the body as an object.
func (r response) obj() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("response %s is not an object: %v", r.body, err)
	}
	return m
}

// errcode returns the body's errcode, "" if none.
func (r response) errcode() string {
	var m struct {
		Errcode string `json:"errcode"`
	}
	json.Unmarshal(r.body, &m)
	return m.Errcode
}

// want fails the test unless the status (and, for errors, errcode) match.
func (r response) want(status int, errcode string) response {
	r.t.Helper()
	if r.status != status || (errcode != "" && r.errcode() != errcode) {
		r.t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, errcode)
	}
	return r
}

// ok fails the test unless the status is 200.
func (r response) ok() response {
	r.t.Helper()
	return r.want(http.StatusOK, "")
}

// do makes a request as token (a localpart; "" for none) to path under
// /_matrix/client/v3 (or a full path starting with /_matrix). body is sent
// as JSON unless it is a string, which is sent as is.
func (hs *harness) do(token, method, path string, body any) response {
	hs.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			hs.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	if !strings.HasPrefix(path, "/_matrix") {
		path = "/_matrix/client/v3" + path
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	hs.mux.ServeHTTP(rec, req)
	return response{t: hs.t, status: rec.Code, body: rec.Body.Bytes()}
}

// createRoom creates a room as token and returns its ID.
func (hs *harness) createRoom(token string, body map[string]any) string {
	hs.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return hs.do(token, "POST", "/createRoom", body).ok().obj()["room_id"].(string)
}

// join joins token's user to roomID.
func (hs *harness) join(token, roomID string) {
	hs.t.Helper()
	hs.do(token, "POST", "/rooms/"+esc(roomID)+"/join", map[string]any{}).ok()
}

// sendMessage sends a text message and returns its event ID.
func (hs *harness) sendMessage(token, roomID, body string) string {
	hs.t.Helper()
	hs.txn++
	return hs.do(token, "PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/t%d", esc(roomID), hs.txn),
		map[string]any{"msgtype": "m.text", "body": body}).ok().obj()["event_id"].(string)
}

// setState sets a state event as token and returns its event ID.
func (hs *harness) setState(token, roomID, eventType, stateKey string, content any) string {
	hs.t.Helper()
	return hs.do(token, "PUT", "/rooms/"+esc(roomID)+"/state/"+esc(eventType)+"/"+esc(stateKey), content).ok().obj()["event_id"].(string)
}

// esc escapes a path segment.
func esc(s string) string { return url.PathEscape(s) }

// currentMembership returns user's membership in roomID per the DAG.
func (hs *harness) currentMembership(user, roomID string) string {
	hs.t.Helper()
	m, err := hs.dag.MembershipOf(context.Background(), user, roomID)
	if err != nil {
		hs.t.Fatal(err)
	}
	return m.Membership
}

// stateContent returns the content of a state event of roomID as alice
// sees it.
func (hs *harness) stateContent(token, roomID, eventType, stateKey string) map[string]any {
	hs.t.Helper()
	return hs.do(token, "GET", "/rooms/"+esc(roomID)+"/state/"+esc(eventType)+"/"+esc(stateKey), nil).ok().obj()
}

// bodies returns the content.body of each event in a chunk.
func bodies(chunk any) []string {
	var out []string
	for _, e := range chunk.([]any) {
		ev := e.(map[string]any)
		content, _ := ev["content"].(map[string]any)
		if b, ok := content["body"].(string); ok {
			out = append(out, b)
		}
	}
	return out
}

// eventIDs returns the event_id of each event in a chunk.
func eventIDs(chunk any) []string {
	var out []string
	for _, e := range chunk.([]any) {
		out = append(out, e.(map[string]any)["event_id"].(string))
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
