//go:build !js

package notifications

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"hearth/core/event"
	"hearth/core/room"
	"hearth/persist"
	"hearth/persist/badger"
)

// BenchmarkBatch33Badger evaluates and writes 16 messages, from 8 of its
// members, in a room of 33 local members as one batch over badger,
// transaction included: the shape of cmd/bench's load. ns/op is per batch;
// gets/msg and writes/msg count the store operations per message.
func BenchmarkBatch33Badger(b *testing.B) {
	store, err := badger.Open(b.TempDir(), badger.WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	e := newEnvOn(b, store)
	e.manual = true
	members := make([]string, 0, 32)
	for i := range 32 {
		members = append(members, fmt.Sprintf("@u%d:%s", i, server))
	}
	r := e.createRoom(members...)
	evs := make([]*event.PDU, 16)
	var pos uint64
	for i := range evs {
		evs[i], pos = e.text(r, members[i%8], "hello everyone")
	}
	ops := &opCountingStore{Store: e.svc.cfg.Store}
	e.svc.cfg.Store = ops
	ctx := context.Background()
	batch := make([]queued, len(evs))
	b.ReportAllocs()
	msgs := 0
	for b.Loop() {
		for i, ev := range evs {
			pos++
			batch[i] = queued{Added: room.Added{Event: ev, Pos: pos}}
		}
		if _, err := e.svc.processBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		msgs += len(batch)
	}
	b.ReportMetric(float64(ops.gets.Load()+ops.iters.Load())/float64(msgs), "reads/msg")
	b.ReportMetric(float64(ops.writes.Load())/float64(msgs), "writes/msg")
}

// opCountingStore counts the reads (Get, iterator steps) and writes (Set,
// Delete) of the transactions run through it.
type opCountingStore struct {
	persist.Store
	gets, iters, writes atomic.Int64
}

func (c *opCountingStore) View(ctx context.Context, fn func(tx persist.Tx) error) error {
	return c.Store.View(ctx, func(tx persist.Tx) error { return fn(&opCountingTx{tx, c}) })
}

func (c *opCountingStore) Update(ctx context.Context, fn func(tx persist.Tx) error) error {
	return c.Store.Update(ctx, func(tx persist.Tx) error { return fn(&opCountingTx{tx, c}) })
}

type opCountingTx struct {
	persist.Tx
	c *opCountingStore
}

func (t *opCountingTx) Get(key []byte) ([]byte, error) { t.c.gets.Add(1); return t.Tx.Get(key) }
func (t *opCountingTx) Set(key, value []byte) error    { t.c.writes.Add(1); return t.Tx.Set(key, value) }
func (t *opCountingTx) Delete(key []byte) error        { t.c.writes.Add(1); return t.Tx.Delete(key) }
func (t *opCountingTx) Iterate(o persist.IterOptions) persist.Iterator {
	return &opCountingIter{t.Tx.Iterate(o), t.c}
}

type opCountingIter struct {
	persist.Iterator
	c *opCountingStore
}

func (it *opCountingIter) Next() bool { it.c.iters.Add(1); return it.Iterator.Next() }
