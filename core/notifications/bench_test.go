package notifications

import (
	"context"
	"fmt"
	"testing"

	"hearth/core/event"
	"hearth/core/room"
)

// bench510 makes a room of 510 local members, each with the default push
// rules, and one message in it.
func bench510(b *testing.B) (*env, *event.PDU, uint64) {
	e := newEnv(b)
	e.manual = true
	members := make([]string, 0, 510)
	for i := range 510 {
		members = append(members, fmt.Sprintf("@u%d:%s", i, server))
	}
	r := e.createRoom(members...)
	ev, pos := e.text(r, alice, "hello everyone")
	return e, ev, pos
}

// BenchmarkProcess510 evaluates and writes one message in a room of 510
// local members: the work behind every message in a large room when
// messages arrive one at a time. Each iteration records the message at a
// new position, so the members' lists grow and are pruned as in use.
func BenchmarkProcess510(b *testing.B) {
	e, ev, pos := bench510(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		pos++
		if _, err := e.svc.processBatch(ctx, []queued{{Added: room.Added{Event: ev, Pos: pos}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatch510 evaluates and writes 8 messages in a room of 510 local
// members as one batch, as the worker does when messages arrive faster
// than it writes; ns/op is per batch.
func BenchmarkBatch510(b *testing.B) {
	e, ev, pos := bench510(b)
	ctx := context.Background()
	batch := make([]queued, 8)
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			pos++
			batch[i] = queued{Added: room.Added{Event: ev, Pos: pos}}
		}
		if _, err := e.svc.processBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
