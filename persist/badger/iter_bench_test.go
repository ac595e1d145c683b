//go:build !js

package badger_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"hearth/persist"
	"hearth/persist/badger"
)

// BenchmarkIterateRecentLog reads the last few entries of a change log, as
// presence in /sync does: each of 34 users' updates deletes their previous
// log entry and overwrites their record, which sorts right after the log.
// badger keeps the deleted entries and the records' old versions in its
// memtable, and an iterator whose badger prefix ended at the store's data
// prefix walked past the range's end through all of them.
func BenchmarkIterateRecentLog(b *testing.B) {
	store, err := badger.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	logKey := func(pos uint64) []byte { return binary.BigEndian.AppendUint64([]byte("p/s/"), pos) }
	last := map[int]uint64{}
	var pos uint64
	for range 5000 {
		pos++
		u := int(pos % 34)
		if err := store.Update(ctx, func(tx persist.Tx) error {
			if old := last[u]; old != 0 {
				if err := tx.Delete(logKey(old)); err != nil {
					return err
				}
			}
			if err := tx.Set(logKey(pos), []byte(fmt.Sprint(u))); err != nil {
				return err
			}
			return tx.Set([]byte(fmt.Sprintf("p/u/%d", u)), binary.BigEndian.AppendUint64(nil, pos))
		}); err != nil {
			b.Fatal(err)
		}
		last[u] = pos
	}
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := store.View(ctx, func(tx persist.Tx) error {
			it := tx.Iterate(persist.IterOptions{Start: logKey(pos - 9), End: logKey(pos + 1)})
			defer it.Close()
			for it.Next() {
				n++
			}
			return it.Err()
		}); err != nil {
			b.Fatal(err)
		}
		if n != 10 {
			b.Fatalf("read %d entries, want 10", n)
		}
	}
}
