package rooms

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/room"
	"hearth/core/txn"
)

func TestSendIsIdempotentPerDevice(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	path := "/rooms/" + esc(roomID) + "/send/m.room.message/"
	msg := map[string]any{"msgtype": "m.text", "body": "once"}
	first := hs.do("alice", "PUT", path+"txn1", msg).ok().obj()["event_id"].(string)
	if hs.txnAtAccept[first] != "txn1" {
		t.Errorf("the transaction was not recorded before the event became visible: %q", hs.txnAtAccept[first])
	}
	count := len(hs.added)
	for _, tc := range []struct {
		name, token, txn string
		same             bool
	}{
		{"retry", "alice", "txn1", true},
		{"retry with another body", "alice", "txn1", true},
		{"other transaction", "alice", "txn2", false},
		{"same transaction on another device", "alice2", "txn1", false},
	} {
		id := hs.do(tc.token, "PUT", path+tc.txn, msg).ok().obj()["event_id"].(string)
		if (id == first) != tc.same {
			t.Errorf("%s: event %s, first %s", tc.name, id, first)
		}
	}
	if got := len(hs.added) - count; got != 2 {
		t.Errorf("%d new events, want 2", got)
	}
	// The same transaction ID in another room is another transaction.
	other := hs.createRoom("alice", nil)
	if id := hs.do("alice", "PUT", "/rooms/"+esc(other)+"/send/m.room.message/txn1", msg).ok().obj()["event_id"]; id == first {
		t.Error("a transaction ID was shared across rooms")
	}
	// The sending device sees its transaction ID; others do not.
	ev := hs.do("alice", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(first), nil).ok().obj()
	if ev["unsigned"].(map[string]any)["transaction_id"] != "txn1" {
		t.Errorf("sender's device sees %v", ev["unsigned"])
	}
	ev = hs.do("alice2", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(first), nil).ok().obj()
	if _, ok := ev["unsigned"].(map[string]any)["transaction_id"]; ok {
		t.Errorf("another device sees %v", ev["unsigned"])
	}
	if id, ok := hs.h.Txns().TxnID(context.Background(), alice, "ALICEDEV", first); !ok || id != "txn1" {
		t.Errorf("TxnID = %q, %v", id, ok)
	}
}

func TestSendErrors(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	send := "/rooms/" + esc(roomID) + "/send/m.room.message/"
	for _, tc := range []struct {
		name, token, path string
		body              any
		status            int
		errcode           string
	}{
		{"non-member", "bob", send + "a", map[string]any{"body": "x"}, 403, "M_FORBIDDEN"},
		{"unknown room", "alice", "/rooms/" + esc("!nope:"+server) + "/send/m.room.message/a", map[string]any{}, 404, "M_NOT_FOUND"},
		{"not JSON", "alice", send + "b", "nope", 400, "M_NOT_JSON"},
		{"not an object", "alice", send + "c", "[1]", 400, "M_BAD_JSON"},
		{"float", "alice", send + "d", `{"x":1.5}`, 400, "M_BAD_JSON"},
		{"too large", "alice", send + "e", `{"body":"` + strings.Repeat("x", event.MaxPDUSize) + `"}`, 413, "M_TOO_LARGE"},
		{"redaction without redacts", "alice", "/rooms/" + esc(roomID) + "/send/m.room.redaction/f", map[string]any{}, 400, "M_BAD_JSON"},
		{"no token", "", send + "g", map[string]any{}, 401, "M_MISSING_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(hs.added)
			hs.do(tc.token, "PUT", tc.path, tc.body).want(tc.status, tc.errcode)
			if len(hs.added) != n {
				t.Error("a refused send added an event")
			}
		})
	}
}

func TestStateWrites(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat", "room_alias_name": "mine"})
	hs.join("bob", roomID)
	state := "/rooms/" + esc(roomID) + "/state/"
	first := hs.setState("alice", roomID, "m.room.topic", "", map[string]any{"topic": "one"})
	// Without a state key, with and without the trailing slash.
	for _, p := range []string{state + "m.room.topic", state + "m.room.topic/"} {
		if id := hs.do("alice", "PUT", p, map[string]any{"topic": "one"}).ok().obj()["event_id"]; id != first {
			t.Errorf("setting the same state again made %v, want %s", id, first)
		}
	}
	second := hs.do("alice", "PUT", state+"m.room.topic", map[string]any{"topic": "two"}).ok().obj()["event_id"]
	if second == first {
		t.Error("a new topic was not sent")
	}
	// State keys may hold slashes and odd characters.
	hs.setState("alice", roomID, "org.example.odd", "a/b c", map[string]any{"v": 1})
	if got := hs.stateContent("alice", roomID, "org.example.odd", "a/b c"); got["v"] != float64(1) {
		t.Errorf("odd state key content = %v", got)
	}
	for _, tc := range []struct {
		name, token, path string
		body              any
		status            int
		errcode           string
	}{
		{"power levels gate state", "bob", state + "m.room.name/", map[string]any{"name": "mine"}, 403, "M_FORBIDDEN"},
		{"power levels gate power levels", "bob", state + "m.room.power_levels/", map[string]any{"users": map[string]any{bob: 100}}, 403, "M_FORBIDDEN"},
		{"non-member", "carol", state + "org.example.x/", map[string]any{}, 403, "M_FORBIDDEN"},
		{"unknown room", "alice", "/rooms/" + esc("!nope:"+server) + "/state/m.room.name/", map[string]any{}, 404, "M_NOT_FOUND"},
		{"bad JSON", "alice", state + "m.room.name/", "{", 400, "M_NOT_JSON"},
		{"alias of another room", "alice", state + "m.room.canonical_alias/", map[string]any{"alias": "#other:" + server}, 400, "M_BAD_ALIAS"},
		{"malformed alias", "alice", state + "m.room.canonical_alias/", map[string]any{"alt_aliases": []string{"nope"}}, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(hs.added)
			hs.do(tc.token, "PUT", tc.path, tc.body).want(tc.status, tc.errcode)
			if len(hs.added) != n {
				t.Error("a refused request added an event")
			}
		})
	}
	hs.setState("alice", roomID, "m.room.canonical_alias", "", map[string]any{"alias": "#mine:" + server, "alt_aliases": []string{"#remote:elsewhere"}})
	// Raised power lets bob set the name.
	hs.setState("alice", roomID, "m.room.power_levels", "", map[string]any{"users": map[string]any{alice: 100, bob: 50}})
	hs.setState("bob", roomID, "m.room.name", "", map[string]any{"name": "bob's"})
}

func TestRedaction(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	hs.join("bob", roomID)
	hs.join("carol", roomID)
	bobsMsg := hs.sendMessage("bob", roomID, "secret")
	carolsMsg := hs.sendMessage("carol", roomID, "also secret")
	redact := func(token, eventID, txn string, body any) response {
		return hs.do(token, "PUT", "/rooms/"+esc(roomID)+"/redact/"+esc(eventID)+"/"+txn, body)
	}
	redact("carol", bobsMsg, "r1", map[string]any{"reason": "mine now"}).want(http.StatusForbidden, "M_FORBIDDEN")
	redact("dave", bobsMsg, "r1", nil).want(http.StatusForbidden, "M_FORBIDDEN")
	redact("bob", bobsMsg, "r1", "{").want(http.StatusBadRequest, "M_NOT_JSON")
	redact("bob", bobsMsg, "r1", map[string]any{"reason": 5}).want(http.StatusBadRequest, "M_BAD_JSON")
	hs.do("bob", "PUT", "/rooms/"+esc("!nope:"+server)+"/redact/"+esc(bobsMsg)+"/r1", nil).want(http.StatusNotFound, "M_NOT_FOUND")

	own := redact("bob", bobsMsg, "r1", map[string]any{"reason": "oops"}).ok().obj()["event_id"]
	n := len(hs.added)
	if again := redact("bob", bobsMsg, "r1", map[string]any{"reason": "oops"}).ok().obj()["event_id"]; again != own || len(hs.added) != n {
		t.Errorf("retried redaction gave %v (first %v), %d new events", again, own, len(hs.added)-n)
	}
	byAdmin := redact("alice", carolsMsg, "r2", nil).ok().obj()["event_id"]
	if hs.txnAtAccept[own.(string)] != "r1" || hs.txnAtAccept[byAdmin.(string)] != "r2" {
		t.Errorf("redaction transactions not recorded on acceptance: %v", hs.txnAtAccept)
	}

	for _, tc := range []struct {
		id, redaction any
	}{{bobsMsg, own}, {carolsMsg, byAdmin}} {
		ev := hs.do("carol", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(tc.id.(string)), nil).ok().obj()
		if len(ev["content"].(map[string]any)) != 0 {
			t.Errorf("redacted event content = %v", ev["content"])
		}
		because := ev["unsigned"].(map[string]any)["redacted_because"].(map[string]any)
		if because["event_id"] != tc.redaction {
			t.Errorf("redacted_because = %v, want %v", because["event_id"], tc.redaction)
		}
	}
	// /send with m.room.redaction works as /redact does.
	msg := hs.sendMessage("carol", roomID, "x")
	hs.do("bob", "PUT", "/rooms/"+esc(roomID)+"/send/m.room.redaction/r3", map[string]any{"redacts": msg}).want(http.StatusForbidden, "M_FORBIDDEN")
	hs.do("carol", "PUT", "/rooms/"+esc(roomID)+"/send/m.room.redaction/r3", map[string]any{"redacts": msg}).ok()
	ev := hs.do("bob", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(msg), nil).ok().obj()
	if _, ok := ev["unsigned"].(map[string]any)["redacted_because"]; !ok {
		t.Errorf("not redacted: %v", ev)
	}
}

// TestRedactionsAppliedWhenServed checks the rule applied when serving
// events: a redaction by a user of another server applies only when that
// user has the power to redact.
func TestRedactionsAppliedWhenServed(t *testing.T) {
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	mallory := "@mallory:" + remoteServer
	join := "join"
	hs.remoteEvent(roomID, room.Proto{Sender: mallory, Type: "m.room.member", StateKey: &mallory, Content: []byte(`{"membership":"` + join + `"}`)})
	keep := hs.sendMessage("alice", roomID, "keep me")
	hs.remoteEvent(roomID, room.Proto{Sender: mallory, Type: "m.room.redaction", Content: []byte(`{}`), Redacts: keep})
	ev := hs.do("alice", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(keep), nil).ok().obj()
	if ev["content"].(map[string]any)["body"] != "keep me" {
		t.Errorf("a powerless remote redaction applied: %v", ev)
	}
	// With the power to redact, the same kind of redaction applies.
	hs.setState("alice", roomID, "m.room.power_levels", "", map[string]any{"users": map[string]any{alice: 100, mallory: 50}})
	gone := hs.sendMessage("alice", roomID, "remove me")
	red := hs.remoteEvent(roomID, room.Proto{Sender: mallory, Type: "m.room.redaction", Content: []byte(`{}`), Redacts: gone})
	ev = hs.do("alice", "GET", "/rooms/"+esc(roomID)+"/event/"+esc(gone), nil).ok().obj()
	if len(ev["content"].(map[string]any)) != 0 || ev["unsigned"].(map[string]any)["redacted_because"].(map[string]any)["event_id"] != red.ID() {
		t.Errorf("a remote redaction with power did not apply: %v", ev)
	}
}

// TestSendWritesTransactionWithEvent checks that a send's transaction ID is
// stored by the transaction that stores its event: when that transaction
// fails after the transaction ID was written (here, in the DAG's Index
// hook, which runs after Proto.Also), neither the event nor the record
// exists, and the client's retry sends the event once.
func TestSendWritesTransactionWithEvent(t *testing.T) {
	ctx := context.Background()
	hs := newHarness(t)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	own := hs.sendMessage("alice", roomID, "to redact")
	for _, tc := range []struct {
		name, path string
		key        txn.Key
		body       any
	}{
		{"send", "/rooms/" + esc(roomID) + "/send/m.room.message/once",
			txn.Key{UserID: alice, DeviceID: "ALICEDEV", Scope: "send\x00" + roomID + "\x00m.room.message", TxnID: "once"},
			map[string]any{"msgtype": "m.text", "body": "hi"}},
		{"redact", "/rooms/" + esc(roomID) + "/redact/" + esc(own) + "/r1",
			txn.Key{UserID: alice, DeviceID: "ALICEDEV", Scope: "redact\x00" + roomID + "\x00" + own, TxnID: "r1"},
			map[string]any{"reason": "oops"}},
	} {
		n := len(hs.added)
		hs.indexErr = func(room.Added) error { return errors.New("disk full") }
		hs.do("alice", "PUT", tc.path, tc.body).want(http.StatusInternalServerError, "")
		hs.indexErr = nil
		if len(hs.added) != n {
			t.Fatalf("%s: a failed send added an event", tc.name)
		}
		if id, ok, err := hs.h.Txns().Get(ctx, tc.key); err != nil || ok {
			t.Fatalf("%s: a failed send left transaction record %q (%v)", tc.name, id, err)
		}
		first := hs.do("alice", "PUT", tc.path, tc.body).ok().obj()["event_id"].(string)
		if again := hs.do("alice", "PUT", tc.path, tc.body).ok().obj()["event_id"]; again != first {
			t.Errorf("%s: retry returned %v, first %s", tc.name, again, first)
		}
		if got := len(hs.added) - n; got != 1 {
			t.Errorf("%s: %d events added, want 1", tc.name, got)
		}
		if hs.txnAtAccept[first] != tc.key.TxnID {
			t.Errorf("%s: transaction at acceptance = %q, want %q", tc.name, hs.txnAtAccept[first], tc.key.TxnID)
		}
		if id, ok, err := hs.h.Txns().Get(ctx, tc.key); err != nil || !ok || id != first {
			t.Errorf("%s: transaction record = %q, %v, %v; want %s", tc.name, id, ok, err, first)
		}
	}
}
