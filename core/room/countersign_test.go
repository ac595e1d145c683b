package room

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/persist/memory"
)

// An invite of another server's user is stored with the signature the
// Countersign hook adds (the invitee server's, which Dendrite requires);
// a hook error fails the send and stores nothing.
func TestCountersignLocalEvents(t *testing.T) {
	ctx := context.Background()
	bKey, err := signing.KeyFromSeed("ed25519:b", bytes.Repeat([]byte{2}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	refuse := false
	var seen []string
	s := newServer(t, "a.test", 1, keyring{})
	// The same server, reopened with a hook.
	s.dag, err = New(ctx, Config{
		ServerName: "a.test", Key: s.key, Store: memory.New(),
		Now:  func() time.Time { s.now = s.now.Add(time.Millisecond); return s.now },
		Rand: seededReader{rand.NewChaCha8([32]byte{1})}, Keys: keyring{"a.test": s.key},
		Countersign: func(ctx context.Context, pdu *event.PDU, before State) (*event.PDU, error) {
			seen = append(seen, pdu.Type())
			if pdu.Type() != "m.room.member" || pdu.Membership() != "invite" {
				return pdu, nil
			}
			if _, ok := before[StateKeyOf("m.room.member", "@alice:a.test")]; !ok {
				t.Errorf("Countersign: state before the invite lacks alice's membership: %v", before)
			}
			if refuse {
				return nil, errors.New("invitee's server refused")
			}
			raw, err := event.Sign(pdu.JSON(), pdu.Version(), "b.test", bKey)
			if err != nil {
				return nil, err
			}
			return event.Load(pdu.ID(), raw, pdu.Version())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := createPublicRoom(t, s, roomversion.MustLookup("10"), "@alice:a.test")
	roomID := evs[0].RoomID()
	if len(seen) != 4 { // every Send; CreateRoom's create event is not a Send
		t.Fatalf("Countersign saw %v, want the 4 sends", seen)
	}

	refuse = true
	pos, _ := s.dag.Position()
	invite := Proto{Sender: "@alice:a.test", Type: "m.room.member", StateKey: strp("@bob:b.test"),
		Content: content(t, map[string]any{"membership": "invite"})}
	if _, err := s.dag.Send(ctx, roomID, invite); err == nil {
		t.Fatal("Send of an invite the hook refused succeeded")
	}
	if after, _ := s.dag.Position(); after != pos {
		t.Fatalf("stream moved from %d to %d after a refused countersign", pos, after)
	}

	refuse = false
	ev, err := s.dag.Send(ctx, roomID, invite)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.dag.Event(ctx, ev.ID())
	if err != nil {
		t.Fatal(err)
	}
	sigs := stored.Signatures()
	if len(sigs["a.test"]) != 1 || len(sigs["b.test"]) != 1 {
		t.Fatalf("stored invite's signatures %v, want a.test's and b.test's", sigs)
	}
	st, err := s.dag.CurrentState(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	if st[StateKeyOf("m.room.member", "@bob:b.test")] != ev.ID() {
		t.Fatalf("bob's membership is %q, want the invite %s", st[StateKeyOf("m.room.member", "@bob:b.test")], ev.ID())
	}
}
