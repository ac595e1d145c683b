package federation_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
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
// Then its user mallory joins and it sends events whose content was changed
// after signing (the node keeps only their redacted form: the tampered
// content is never shown, in the timeline or the state), events citing
// another room's auth events or power levels that do not allow them
// (rejected, the state unchanged), and, once alice has banned mallory, a
// join and messages of mallory's (refused or soft-failed: mallory stays
// banned and nothing shows in /messages).
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

	adv := &adversary{t: t, fc: fc, node: a.name, alice: alice, roomID: roomID, v: v, origin: evilName, key: evilKey, prev: prev, depth: 100}

	// Mallory joins the public room properly: the evil server's events
	// are now authorised by a member of its own, so what follows is
	// refused for what it is, not for mallory's absence.
	malloryKey := mallory
	joinID, joinErr := adv.send(event.Builder{Sender: mallory, Type: "m.room.member", StateKey: &malloryKey,
		Content: json.RawMessage(`{"membership":"join","displayname":"mallory"}`), AuthEvents: authIDs}, nil)
	if joinErr != "" {
		t.Fatalf("mallory's join was refused: %s", joinErr)
	}
	if m := adv.member(mallory); m.Membership != "join" {
		t.Fatalf("mallory is %q after joining, want join", m.Membership)
	}
	memberAuth := []string{ids["m.room.create|"], ids["m.room.power_levels|"], joinID}

	// Bad content hashes: the content is changed after signing. The spec
	// has such events stored in their redacted form; whatever the node
	// does, the tampered content must not be seen.
	tamper := func(content string) func(map[string]any) {
		return func(m map[string]any) {
			var c map[string]any
			json.Unmarshal([]byte(content), &c)
			m["content"] = c
		}
	}
	hashMsgID, _ := adv.send(event.Builder{Sender: mallory, Type: "m.room.message", Content: text("signed body"), AuthEvents: memberAuth},
		tamper(`{"msgtype":"m.text","body":"tampered body"}`))
	for _, ev := range adv.timeline() {
		if strings.Contains(string(ev.Content), "tampered") || strings.Contains(string(ev.Content), "signed body") {
			t.Errorf("the timeline shows the content of the event with a bad hash: %s %s", ev.EventID, ev.Content)
		}
		if ev.EventID == hashMsgID && string(ev.Content) != "{}" {
			t.Errorf("the event with a bad hash is shown with content %s, want its redacted form {}", ev.Content)
		}
	}
	hashMemberID, _ := adv.send(event.Builder{Sender: mallory, Type: "m.room.member", StateKey: &malloryKey,
		Content: json.RawMessage(`{"membership":"join","displayname":"mallory two"}`), AuthEvents: memberAuth},
		tamper(`{"membership":"join","displayname":"tampered name"}`))
	if m := adv.member(mallory); m.Displayname == "tampered name" || m.Displayname == "mallory two" {
		t.Errorf("the state shows mallory's member event of a bad hash with its displayname %q", m.Displayname)
	} else if m.id == hashMemberID && m.Membership != "join" {
		t.Errorf("mallory's redacted member event says %q, want join (membership survives redaction)", m.Membership)
	}
	for _, ev := range alice.state(roomID) {
		if strings.Contains(string(ev.Content), "tampered") {
			t.Errorf("the state shows tampered content: %s %s", ev.Type, ev.Content)
		}
	}
	stateBefore := alice.state(roomID)
	sameState := func(what string) {
		t.Helper()
		now := alice.state(roomID)
		if !slices.EqualFunc(stateBefore, now, func(x, y clientEvent) bool { return x.EventID == y.EventID }) {
			t.Errorf("%s changed the state:\nbefore %v\nafter %v", what, stateBefore, now)
		}
	}

	// Forged auth events: auth events of another room, and power levels
	// that do not allow the change.
	other := alice.createRoom("elsewhere", map[string]any{"room_version": "11"})
	otherIDs := map[string]string{}
	for _, ev := range alice.state(other) {
		otherIDs[ev.Type+"|"+*ev.StateKey] = ev.EventID
	}
	otherPL := `{"users":{"` + mallory + `":100},"state_default":0,"events_default":0}`
	forgedAuth := []struct {
		what string
		b    event.Builder
	}{
		{"a message citing another room's auth events", event.Builder{Sender: mallory, Type: "m.room.message", Content: text("cross-room auth"),
			AuthEvents: []string{otherIDs["m.room.create|"], otherIDs["m.room.power_levels|"], otherIDs["m.room.member|"+alice.user]}}},
		{"a topic citing another room's power levels", event.Builder{Sender: mallory, Type: "m.room.topic", StateKey: new(string),
			Content:    json.RawMessage(`{"topic":"cross-room power"}`),
			AuthEvents: []string{ids["m.room.create|"], otherIDs["m.room.power_levels|"], joinID}}},
		{"a topic mallory's power level does not allow", event.Builder{Sender: mallory, Type: "m.room.topic", StateKey: new(string),
			Content: json.RawMessage(`{"topic":"no power"}`), AuthEvents: memberAuth}},
		{"power levels mallory may not change", event.Builder{Sender: mallory, Type: "m.room.power_levels", StateKey: new(string),
			Content: json.RawMessage(otherPL), AuthEvents: memberAuth}},
	}
	for _, f := range forgedAuth {
		id, errText := adv.send(f.b, nil)
		if errText == "" {
			t.Errorf("%s (%s) was accepted", f.what, id)
		}
		for _, ev := range adv.timeline() {
			if ev.EventID == id {
				t.Errorf("%s (%s) is in the timeline", f.what, id)
			}
		}
		sameState(f.what)
	}

	// A member event of a banned user: alice bans mallory, then the evil
	// server sends mallory's join again and a message of mallory's.
	alice.must("POST", "/rooms/"+esc(roomID)+"/ban", map[string]any{"user_id": mallory, "reason": "adversary"}, nil)
	ban := adv.member(mallory)
	if ban.Membership != "ban" {
		t.Fatalf("mallory is %q after the ban, want ban", ban.Membership)
	}
	preBan := adv.prev
	adv.prev = ban.id
	banAuth := []string{ids["m.room.create|"], ids["m.room.power_levels|"], ban.id}
	if _, errText := adv.send(event.Builder{Sender: mallory, Type: "m.room.member", StateKey: &malloryKey,
		Content: json.RawMessage(`{"membership":"join"}`), AuthEvents: append(banAuth, ids["m.room.join_rules|"])}, nil); errText == "" {
		t.Errorf("the join of banned mallory was accepted")
	}
	if m := adv.member(mallory); m.Membership != "ban" || m.id != ban.id {
		t.Errorf("mallory is %q (%s) after the join, want still banned by %s", m.Membership, m.id, ban.id)
	}
	if _, errText := adv.send(event.Builder{Sender: mallory, Type: "m.room.message", Content: text("after the ban"), AuthEvents: banAuth}, nil); errText == "" {
		t.Errorf("mallory's message citing the ban was accepted")
	}
	// The same message from before the ban (its prev event and auth
	// events show mallory joined) passes at its place in the DAG but not
	// against the current state: soft-failed, it must not be shown.
	adv.prev = preBan
	adv.send(event.Builder{Sender: mallory, Type: "m.room.message", Content: text("ignoring the ban"), AuthEvents: memberAuth}, nil)
	for _, ev := range adv.timeline() {
		if b := ev.body(); b == "after the ban" || b == "ignoring the ban" {
			t.Errorf("the timeline shows mallory's message %q sent after the ban", b)
		}
	}
	if m := adv.member(mallory); m.Membership != "ban" {
		t.Errorf("mallory is %q at the end, want ban", m.Membership)
	}
}

// adversary sends events of its own making, one transaction each, into a
// room of a real node, chaining them after its last accepted one.
type adversary struct {
	t      *testing.T
	fc     *fedclient.Client
	node   string
	alice  *client
	roomID string
	v      *roomversion.Version
	origin string
	key    signing.Key
	prev   string
	depth  int64
	seq    int
}

// send builds and signs b, lets edit change the signed event's JSON (for
// tampering), sends it and returns its event ID and the error the node
// reported for it (empty when accepted). An accepted event becomes the
// prev event of the next.
func (a *adversary) send(b event.Builder, edit func(map[string]any)) (string, string) {
	a.t.Helper()
	a.depth++
	b.RoomID, b.PrevEvents, b.Depth, b.OriginServerTS = a.roomID, []string{a.prev}, a.depth, time.Now().UnixMilli()
	pdu, err := event.Build(b, a.v, a.origin, a.key, rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	raw := pdu.JSON()
	if edit != nil {
		var m map[string]any
		json.Unmarshal(raw, &m)
		edit(m)
		raw, _ = json.Marshal(m)
	}
	id, err := event.EventID(raw, a.v)
	if err != nil {
		a.t.Fatal(err)
	}
	a.seq++
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.fc.SendTransaction(ctx, a.node, fmt.Sprintf("adv%d", a.seq), []json.RawMessage{raw}, nil)
	if err != nil {
		a.t.Fatalf("transaction: %v", err)
	}
	r, ok := res[id]
	if !ok {
		a.t.Fatalf("the answer does not name %s: %v", id, res)
	}
	if r.Error == "" {
		a.prev = id
	}
	a.t.Logf("%s %s from %s: error %q", b.Type, id, b.Sender, r.Error)
	return id, r.Error
}

type memberState struct {
	id          string
	Membership  string `json:"membership"`
	Displayname string `json:"displayname"`
}

// member returns user's member event in the room's current state as alice
// sees it.
func (a *adversary) member(user string) memberState {
	a.t.Helper()
	for _, ev := range a.alice.state(a.roomID) {
		if ev.Type == "m.room.member" && *ev.StateKey == user {
			var m memberState
			json.Unmarshal(ev.Content, &m)
			m.id = ev.EventID
			return m
		}
	}
	return memberState{}
}

// timeline returns the room's newest events as alice's /messages shows
// them.
func (a *adversary) timeline() []clientEvent {
	a.t.Helper()
	var msgs struct {
		Chunk []clientEvent `json:"chunk"`
	}
	a.alice.must("GET", "/rooms/"+esc(a.roomID)+"/messages?dir=b&limit=50", nil, &msgs)
	return msgs.Chunk
}
