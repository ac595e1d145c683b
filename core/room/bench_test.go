package room

import (
	"context"
	"testing"

	"hearth/core/roomversion"
)

// BenchmarkAcceptMessage is the receiving side of federation: a message
// event from another server, checked (signature, content hash, auth against
// the state before it and the current state) and stored by Accept.
func BenchmarkAcceptMessage(b *testing.B) {
	ctx := context.Background()
	ring := keyring{}
	a := newServer(b, "a.test", 1, ring)
	s := newServer(b, "b.test", 2, ring)
	alice := "@alice:a.test"
	evs := createPublicRoom(b, a, roomversion.MustLookup("11"), alice)
	federate(b, s, evs)
	roomID := evs[0].RoomID()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ev, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.message", Content: content(b, map[string]any{"msgtype": "m.text", "body": "hi"})})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := s.dag.Accept(ctx, ev)
		if err != nil || res.Outcome != Accepted {
			b.Fatalf("Accept = %v, %v", res.Outcome, err)
		}
	}
}
