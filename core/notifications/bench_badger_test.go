//go:build !js

package notifications

import (
	"context"
	"sync"
	"testing"

	"hearth/persist/badger"
	"hearth/persist/kvtest"
)

// badgerEnv is an env over a fresh badger store.
func badgerEnv(b *testing.B) *env {
	store, err := badger.Open(b.TempDir(), badger.WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return newEnvOn(b, store, Config{})
}

// BenchmarkSend16Room33Badger sends 16 messages into a room of 33 local
// members over badger: the shape of cmd/bench's load. ns/op is per batch
// and is all the room DAG's: notifications read and write nothing when
// events arrive (nwrites/msg and nreads/msg count the Service's store
// operations, which stay 0). Compare with the old write-side
// BenchmarkBatch33Badger, which was the notification work alone.
func BenchmarkSend16Room33Badger(b *testing.B) {
	e := badgerEnv(b)
	ops := &kvtest.Counting{Store: e.svc.cfg.Store}
	e.svc.cfg.Store = ops
	r, members := room33(e)
	b.ReportAllocs()
	msgs := 0
	for b.Loop() {
		send16(e, r, members)
		msgs += 16
	}
	b.ReportMetric(float64(ops.Gets.Load()+ops.Steps.Load())/float64(msgs), "nreads/msg")
	b.ReportMetric(float64(ops.Writes.Load())/float64(msgs), "nwrites/msg")
}

// BenchmarkCountsAfter16Badger is the read side of the same load (see
// benchCountsAfter16).
func BenchmarkCountsAfter16Badger(b *testing.B) {
	benchCountsAfter16(b, badgerEnv(b))
}

// BenchmarkCounts500RoomsBadger is a user's first sync after a restart:
// Counts, with nothing cached, in each of 500 rooms (of 3 members) with 10
// unread messages. ns/op is for all 500 rooms.
func BenchmarkCounts500RoomsBadger(b *testing.B) {
	e := badgerEnv(b)
	rooms := make([]string, 500)
	for i := range rooms {
		rooms[i] = e.createRoom(bob, carol)
	}
	var wg sync.WaitGroup
	for _, r := range rooms {
		wg.Go(func() {
			for range 10 {
				e.text(r, alice, "hello")
			}
		})
	}
	wg.Wait()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.restart()
		for _, r := range rooms {
			if n, _, err := e.svc.Counts(ctx, bob, r); err != nil || n != 10 {
				b.Fatalf("counts %d %v", n, err)
			}
		}
	}
}
