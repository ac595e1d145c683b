//go:build !js

package notifications

import (
	"context"
	"testing"

	"hearth/persist"
	"hearth/persist/badger"
)

// BenchmarkMarkReadBadger is one user in a busy room on badger: another
// member's message adds an unread chunk, then the user's own message moves
// their read marker past it (markRead), each in its own transaction as the
// evaluator does. The deleted chunks stay in badger's memtable as
// tombstones, so a walk from the start of the user's unread range gets
// slower with every message; starting it at the old marker keeps it flat.
func BenchmarkMarkReadBadger(b *testing.B) {
	store, err := badger.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	const user, roomID = "@u:example.org", "!r:example.org"
	var pos uint64
	step := func() {
		pos++
		if err := store.Update(ctx, func(tx persist.Tx) error {
			t := newTxState(tx)
			if err := t.notify(user, roomID, MainThread, pos, false); err != nil {
				return err
			}
			return t.flush()
		}); err != nil {
			b.Fatal(err)
		}
		pos++
		if err := store.Update(ctx, func(tx persist.Tx) error {
			t := newTxState(tx)
			if err := t.markRead(user, roomID, "", pos); err != nil {
				return err
			}
			return t.flush()
		}); err != nil {
			b.Fatal(err)
		}
	}
	for range 5000 { // the state of a server some seconds into a load
		step()
	}
	b.ResetTimer()
	for b.Loop() {
		step()
	}
}

// TestMarkReadStartsAtOldMarker checks that markRead, which walks only the
// entries after the thread's old marker, still drops every entry it covers:
// a threaded marker leaves other threads' entries for a later unthreaded
// one, and entries between two markers go with the second.
func TestMarkReadStartsAtOldMarker(t *testing.T) {
	store, err := badger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	const user, roomID = "@u:example.org", "!r:example.org"
	update := func(fn func(tx persist.Tx) error) {
		t.Helper()
		if err := store.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	add := func(pos uint64, thread string) {
		update(func(tx persist.Tx) error {
			t := newTxState(tx)
			if err := t.notify(user, roomID, thread, pos, false); err != nil {
				return err
			}
			return t.flush()
		})
	}
	markRead := func(tx persist.Tx, user, roomID, thread string, pos uint64) error {
		t := newTxState(tx)
		if err := t.markRead(user, roomID, thread, pos); err != nil {
			return err
		}
		return t.flush()
	}
	want := func(n int64) {
		t.Helper()
		var got int64
		if err := store.View(ctx, func(tx persist.Tx) (err error) {
			got, _, err = counts(tx, user, roomID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Fatalf("unread = %d, want %d", got, n)
		}
	}
	add(3, "$a")
	add(4, "$b")
	add(5, MainThread)
	update(func(tx persist.Tx) error { return markRead(tx, user, roomID, "$b", 6) })
	want(2) // $a at 3 and the main timeline's 5 remain
	update(func(tx persist.Tx) error { return markRead(tx, user, roomID, "", 4) })
	want(1) // 5 remains
	add(7, "$b")
	add(8, "$a")
	update(func(tx persist.Tx) error { return markRead(tx, user, roomID, "", 7) })
	want(1) // 5 and 7 dropped, $a at 8 remains
	update(func(tx persist.Tx) error { return markRead(tx, user, roomID, "$a", 8) })
	want(0)
}
