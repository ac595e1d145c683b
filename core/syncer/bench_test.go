package syncer

import (
	"context"
	"testing"
)

// BenchmarkIncrementalSync1000Rooms is the send-to-sync path: a user in 1000
// rooms, one new message since the token.
func BenchmarkIncrementalSync1000Rooms(b *testing.B) {
	e := newEnv(b, nil)
	rooms := make([]string, 1000)
	for i := range rooms {
		rooms[i] = e.createRoom(b, alice, "")
		e.member(b, rooms[i], bob, bob, "join")
	}
	lazy := mustFilter(b, `{"room":{"state":{"lazy_load_members":true}}}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		tok := e.sync.Position()
		e.message(b, rooms[i%len(rooms)], alice, "ping")
		b.StartTimer()
		resp, err := e.sync.Sync(ctx, Request{UserID: bob, DeviceID: "DEV", Since: &tok, Filter: lazy})
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Rooms.Join) != 1 {
			b.Fatalf("%d rooms in the response", len(resp.Rooms.Join))
		}
	}
}

// BenchmarkInitialSync50Rooms is a first sync of a user in 50 rooms.
func BenchmarkInitialSync50Rooms(b *testing.B) {
	e := newEnv(b, nil)
	for range 50 {
		r := e.createRoom(b, alice, "")
		e.member(b, r, bob, bob, "join")
		for range 10 {
			e.message(b, r, alice, "hello")
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.sync.Sync(ctx, Request{UserID: bob}); err != nil {
			b.Fatal(err)
		}
	}
}
