package federation_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/roomversion"
	"hearth/core/serverkey"
	"hearth/core/signing"
	"hearth/transport"
	"hearth/transport/https"
)

// TestAdversarialPeer: a server of its own (its key served, its requests
// signed) pushes forged events into a room of a real node: an event of a
// user not in the room, one claiming another server's user, one signed
// with the wrong key and an oversized one. None reaches the room's state or
// timeline, and each is reported as an error in the transaction's answer.
func TestAdversarialPeer(t *testing.T) {
	a := startNode(t)
	alice := register(t, a, "alice")
	roomID := alice.createRoom("target", map[string]any{"room_version": "11"})
	v := roomversion.MustLookup("11")

	evilKey, _ := signing.GenerateKey(rand.Reader, "ed25519:evil")
	wrongKey, _ := signing.GenerateKey(rand.Reader, "ed25519:evil")
	var evilName string
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_matrix/key/v2/server" {
			http.NotFound(w, r)
			return
		}
		b, _ := serverkey.Response(evilName, evilKey, time.Now().Add(time.Hour).UnixMilli())
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	evil.StartTLS()
	defer evil.Close()
	evilName = evil.Listener.Addr().String()
	fc, err := fedclient.New(fedclient.Config{ServerName: evilName, Key: evilKey,
		Transports: transport.Single{Transport: https.New(https.Options{AllowPrivate: true, InsecureSkipVerify: true})}})
	if err != nil {
		t.Fatal(err)
	}

	before := alice.state(roomID)
	ids := map[string]string{}
	for _, ev := range before {
		if *ev.StateKey == "" || ev.Type == "m.room.member" {
			ids[ev.Type+"|"+*ev.StateKey] = ev.EventID
		}
	}
	var msgs struct {
		Chunk []clientEvent `json:"chunk"`
	}
	alice.must("GET", "/rooms/"+esc(roomID)+"/messages?dir=b&limit=1", nil, &msgs)
	prev := msgs.Chunk[0].EventID
	authIDs := []string{ids["m.room.create|"], ids["m.room.power_levels|"], ids["m.room.join_rules|"]}
	mallory := "@mallory:" + evilName
	build := func(b event.Builder, key signing.Key) json.RawMessage {
		t.Helper()
		b.RoomID, b.PrevEvents, b.Depth, b.OriginServerTS = roomID, []string{prev}, 100, time.Now().UnixMilli()
		pdu, err := event.Build(b, v, evilName, key, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return pdu.JSON()
	}
	text := func(s string) json.RawMessage {
		b, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": s})
		return b
	}
	aliceKey := alice.user
	forged := []json.RawMessage{
		// A message of a user who never joined: rejected by the auth rules.
		build(event.Builder{Sender: mallory, Type: "m.room.message", Content: text("intruder"), AuthEvents: authIDs}, evilKey),
		// A leave for alice, signed only by the evil server: alice's
		// server's signature is missing.
		build(event.Builder{Sender: alice.user, Type: "m.room.member", StateKey: &aliceKey,
			Content: json.RawMessage(`{"membership":"leave"}`), AuthEvents: append(authIDs, ids["m.room.member|"+alice.user])}, evilKey),
		// A power levels change signed with a key the server never
		// published.
		build(event.Builder{Sender: mallory, Type: "m.room.power_levels", StateKey: new(string),
			Content: json.RawMessage(`{"users":{"` + mallory + `":100}}`), AuthEvents: authIDs}, wrongKey),
	}
	// An event over the 64 KiB limit (which Build refuses to make).
	var big map[string]any
	json.Unmarshal(build(event.Builder{Sender: mallory, Type: "m.room.message", Content: text("small"), AuthEvents: authIDs}, evilKey), &big)
	big["content"] = map[string]string{"msgtype": "m.text", "body": strings.Repeat("x", 70000)}
	bigJSON, _ := json.Marshal(big)
	forged = append(forged, bigJSON)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := fc.SendTransaction(ctx, a.name, "evil1", forged, nil)
	if err != nil {
		t.Fatalf("transaction: %v", err)
	}
	for id, r := range res {
		if r.Error == "" {
			t.Errorf("forged event %s was accepted", id)
		}
	}
	if len(res) < 3 {
		t.Errorf("the answer names %d events, want at least the 3 parseable ones: %v", len(res), res)
	}
	after := alice.state(roomID)
	if !slices.EqualFunc(before, after, func(x, y clientEvent) bool { return x.EventID == y.EventID }) {
		t.Fatalf("state changed:\nbefore %v\nafter %v", before, after)
	}
	alice.must("GET", "/rooms/"+esc(roomID)+"/messages?dir=b&limit=5", nil, &msgs)
	if msgs.Chunk[0].EventID != prev {
		t.Fatalf("the timeline moved: newest is now %s %s from %s", msgs.Chunk[0].Type, msgs.Chunk[0].EventID, msgs.Chunk[0].Sender)
	}
}
