package notifications

import (
	"context"
	"fmt"
	"testing"

	"hearth/core/room"
)

// BenchmarkProcess510 evaluates one message in a room of 510 local members,
// each with the default push rules: the work behind every message in a
// large room.
func BenchmarkProcess510(b *testing.B) {
	e := newEnv(b)
	e.manual = true
	members := make([]string, 0, 510)
	for i := range 510 {
		members = append(members, fmt.Sprintf("@u%d:%s", i, server))
	}
	r := e.createRoom(members...)
	ev, pos := e.text(r, alice, "hello everyone")
	ctx := context.Background()
	if err := e.svc.process(ctx, room.Added{Event: ev, Pos: pos}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.svc.process(ctx, room.Added{Event: ev, Pos: pos}); err != nil {
			b.Fatal(err)
		}
	}
}
