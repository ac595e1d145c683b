//go:build !js

package badger_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	bdb "github.com/dgraph-io/badger/v4"

	"hearth/persist"
	"hearth/persist/badger"
)

// The benchmarks write event-sized values under unique keys, each write a
// durable transaction of its own. The SyncWrites benchmarks do the same
// directly on BadgerDB with SyncWrites, the baseline group commit improves
// on.

const benchValueSize = 1 << 10

// writers are the numbers of concurrent writers the parallel benchmarks use.
var writers = []int{1, 16, 64, 256}

func benchKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("event/"), n)
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txn/s")
}

// runParallel runs op from n goroutines in total.
func runParallel(b *testing.B, n int, op func(key []byte) error) {
	var seq atomic.Uint64
	b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
	b.ResetTimer() // exclude opening the store
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(benchKey(seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

func openBench(b *testing.B) *badger.Store {
	s, err := badger.Open(b.TempDir(), badger.WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

func openSyncWrites(b *testing.B) *bdb.DB {
	db, err := bdb.Open(bdb.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

// BenchmarkUpdate measures one durable Update at a time.
func BenchmarkUpdate(b *testing.B) {
	s := openBench(b)
	value := make([]byte, benchValueSize)
	var n uint64
	for b.Loop() {
		n++
		if err := s.Update(b.Context(), func(tx persist.Tx) error { return tx.Set(benchKey(n), value) }); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkUpdateParallel measures durable Updates from many goroutines,
// which group commit coalesces.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, n := range writers {
		b.Run(fmt.Sprintf("writers=%d", n), func(b *testing.B) {
			s := openBench(b)
			value := make([]byte, benchValueSize)
			runParallel(b, n, func(key []byte) error {
				return s.Update(b.Context(), func(tx persist.Tx) error { return tx.Set(key, value) })
			})
		})
	}
}

// BenchmarkUpdateReadModifyWrite measures durable Updates from many
// goroutines that each read a shared counter and write it back along with
// an event, as appending to a room's timeline does.
func BenchmarkUpdateReadModifyWrite(b *testing.B) {
	s := openBench(b)
	value := make([]byte, benchValueSize)
	counter := []byte("counter")
	runParallel(b, 64, func(key []byte) error {
		return s.Update(b.Context(), func(tx persist.Tx) error {
			var n uint64
			if v, err := tx.Get(counter); err == nil {
				n = binary.BigEndian.Uint64(v)
			}
			if err := tx.Set(counter, binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
				return err
			}
			return tx.Set(key, value)
		})
	})
}

// BenchmarkSyncWrites is the baseline for BenchmarkUpdate: BadgerDB with
// SyncWrites, one transaction at a time.
func BenchmarkSyncWrites(b *testing.B) {
	db := openSyncWrites(b)
	value := make([]byte, benchValueSize)
	var n uint64
	for b.Loop() {
		n++
		if err := db.Update(func(txn *bdb.Txn) error { return txn.Set(benchKey(n), value) }); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkSyncWritesParallel is the baseline for BenchmarkUpdateParallel.
func BenchmarkSyncWritesParallel(b *testing.B) {
	for _, n := range writers {
		b.Run(fmt.Sprintf("writers=%d", n), func(b *testing.B) {
			db := openSyncWrites(b)
			value := make([]byte, benchValueSize)
			runParallel(b, n, func(key []byte) error {
				return db.Update(func(txn *bdb.Txn) error { return txn.Set(key, value) })
			})
		})
	}
}

// BenchmarkView measures a point read in a read-only transaction.
func BenchmarkView(b *testing.B) {
	s := openBench(b)
	key := []byte("key")
	if err := s.Update(b.Context(), func(tx persist.Tx) error { return tx.Set(key, make([]byte, benchValueSize)) }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.View(b.Context(), func(tx persist.Tx) error {
				_, err := tx.Get(key)
				return err
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
