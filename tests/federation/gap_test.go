package federation_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"hearth/core/fedclient"
	"hearth/transport"
	"hearth/transport/https"
)

// TestGapAcrossWithheldHistory: a server receives an event whose prev
// event it lacks from a peer that refuses get_missing_events but serves
// the room's state at the prev event. The event is accepted: it reaches the
// receiving user's timeline, and the state change it follows (which never
// arrived itself) is in the room's state there.
func TestGapAcrossWithheldHistory(t *testing.T) {
	a, b := startNode(t), startNode(t)
	alice := register(t, a, "alice")
	bob := register(t, b, "bob")
	roomID := alice.createRoom("gap", nil)
	if got := bob.join("#gap:" + a.name); got != roomID {
		t.Fatalf("joined %s, want %s", got, roomID)
	}
	// a can no longer push to b, and withholds its history.
	a.setCut(b.name, true)
	a.setRefused("/_matrix/federation/v1/get_missing_events/", true)
	alice.setState(roomID, "m.room.topic", "", map[string]string{"topic": "across the gap"})
	msgID := alice.say(roomID, "after the gap")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := transport.Single{Transport: https.New(https.Options{AllowPrivate: true, InsecureSkipVerify: true})}
	asB, err := fedclient.New(fedclient.Config{ServerName: b.name, Key: b.key, Transports: tr})
	if err != nil {
		t.Fatal(err)
	}
	asA, err := fedclient.New(fedclient.Config{ServerName: a.name, Key: a.key, Transports: tr})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := asB.GetEvent(ctx, a.name, msgID)
	if err != nil {
		t.Fatalf("fetching the message from a: %v", err)
	}
	// The message alone reaches b, as from a.
	res, err := asA.SendTransaction(ctx, b.name, "gap1", []json.RawMessage{raw}, nil)
	if err != nil {
		t.Fatalf("transaction: %v", err)
	}
	if r, ok := res[msgID]; !ok || r.Error != "" {
		t.Fatalf("b's answer for the message: %+v (all: %v)", r, res)
	}
	if !slices.Contains(bob.syncBodies(roomID), "after the gap") {
		t.Fatalf("bob's sync lacks the message: %q", bob.syncBodies(roomID))
	}
	if got := contentOf(bob.state(roomID), "m.room.topic", ""); got["topic"] != "across the gap" {
		t.Fatalf("bob's room topic is %v, want the one before the gap", got)
	}
}
