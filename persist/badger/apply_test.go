//go:build !js

package badger

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"

	"hearth/persist"
	"hearth/persist/internal/tree"
)

// onWriter runs fn on the store's writer goroutine, which owns the state of
// applies, inside an Update that writes nothing.
func onWriter(t *testing.T, s *Store, fn func()) {
	t.Helper()
	err := s.Update(t.Context(), func(persist.Tx) error {
		fn()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// applyAll applies every group the store has acknowledged to BadgerDB.
func applyAll(t *testing.T, s *Store) {
	t.Helper()
	var err error
	onWriter(t, s, func() { err = s.applyAll() })
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// TestViewKeepsItsSnapshotAcrossApply checks that a View reads the same
// data before and after the writes after its snapshot are applied to
// BadgerDB, and that a View opened afterwards reads the new data.
func TestViewKeepsItsSnapshotAcrossApply(t *testing.T) {
	s, err := Open(t.TempDir(), WithLogger(nil), WithApplyAt(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, kv := range [][2]string{{"a", "1"}, {"b", "1"}, {"c", "1"}} {
		if err := set(s, t, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	read := func(tx persist.Tx) string {
		var b strings.Builder
		it := tx.Iterate(persist.IterOptions{})
		defer it.Close()
		for it.Next() {
			fmt.Fprintf(&b, "%s=%s ", it.Key(), it.Value())
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		v, err := tx.Get([]byte("b"))
		fmt.Fprintf(&b, "get b=%s %v", v, err)
		return b.String()
	}
	var before, during string
	var applied, written uint64
	err = s.View(t.Context(), func(tx persist.Tx) error {
		before = read(tx)
		if err := set(s, t, "b", "2"); err != nil {
			return err
		}
		if err := s.Update(t.Context(), func(tx persist.Tx) error { return tx.Delete([]byte("c")) }); err != nil {
			return err
		}
		// Those two groups are synced: apply them, and all before.
		applyAll(t, s)
		onWriter(t, s, func() { applied, written = s.applied, s.writeTs })
		during = read(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "a=1 b=1 c=1 get b=1 <nil>"; before != want {
		t.Errorf("View read %q, want %q", before, want)
	}
	if during != before {
		t.Errorf("after an apply the View read %q, before it %q", during, before)
	}
	if applied != written-1 { // all but the empty group that read them
		t.Fatalf("BadgerDB holds the groups up to %d, want %d", applied, written-1)
	}
	var after string
	if err := s.View(t.Context(), func(tx persist.Tx) error { after = read(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := "a=1 b=2 get b=2 <nil>"; after != want {
		t.Errorf("a new View read %q, want %q", after, want)
	}
}

// TestAppliesGatherGroups checks that groups reach BadgerDB together, in
// commits of at least applyAt bytes, not one commit each, and that Close
// applies what is left.
func TestAppliesGatherGroups(t *testing.T) {
	dir := t.TempDir()
	const applyAt = 8 << 10
	s, err := Open(dir, WithLogger(nil), WithApplyAt(applyAt))
	if err != nil {
		t.Fatal(err)
	}
	var applies, groups atomic.Int64
	s.applyBatch = func(batch *tree.Tree[entry], base, ts uint64) error {
		applies.Add(1)
		groups.Add(int64(ts - base))
		return s.apply(batch, base, ts)
	}
	value := strings.Repeat("v", 1000)
	want := map[string]string{}
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i)
		if err := set(s, t, k, value); err != nil {
			t.Fatal(err)
		}
		want[k] = value
	}
	if n := applies.Load(); n < 5 || n > 13 {
		t.Errorf("100 groups of 1 KiB took %d applies of 8 KiB, want about 12", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := groups.Load(); n != 100 {
		t.Errorf("the applies covered %d groups, want 100", n)
	}
	// BadgerDB holds everything: after a clean close nothing is replayed.
	checkReopened(t, dir, want)
}

// TestApplyFailureStopsWrites checks that when BadgerDB fails to take
// applied groups, the writes already acknowledged stay readable and come
// back at the next Open, while new writes fail.
func TestApplyFailureStopsWrites(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, WithLogger(nil), WithApplyAt(1))
	if err != nil {
		t.Fatal(err)
	}
	errBadger := errors.New("badger on fire")
	s.applyBatch = func(*tree.Tree[entry], uint64, uint64) error { return errBadger }
	if err := set(s, t, "a", "v"); err != nil {
		t.Fatalf("Update before the failure: %v", err)
	}
	want := map[string]string{"a": "v"}
	err = nil
	// Once synced, the group is applied, which fails; the updates from
	// the moment the writer learns it fail.
	for i := 0; i < 100 && err == nil; i++ {
		k := fmt.Sprint("late", i)
		if err = set(s, t, k, "v"); err == nil {
			want[k] = "v"
		}
	}
	if !errors.Is(err, errBadger) {
		t.Fatalf("Update after a failed apply = %v, want the apply's error", err)
	}
	checkContents(t, s, want)
	if err := s.Close(); err != nil {
		t.Errorf("Close after a failed apply: %v", err)
	}
	checkReopened(t, dir, want)
}

// TestAppliesSplitWhatOneTransactionCannotHold checks that groups gathered
// beyond what BadgerDB takes in one transaction, and a journal record
// written with larger limits, reach BadgerDB in several.
func TestAppliesSplitWhatOneTransactionCannotHold(t *testing.T) {
	small := []Option{WithMemTableSize(4 << 20), WithValueLog("v")}
	dir := t.TempDir()
	s, err := Open(dir, append([]Option{WithLogger(nil), WithApplyAt(1 << 40)}, small...)...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	value := strings.Repeat("x", 100)
	for g := range 40 {
		err := s.Update(t.Context(), func(tx persist.Tx) error {
			for i := range 200 {
				for _, p := range []string{"m", "v"} {
					k := fmt.Sprintf("%s%02d-%03d", p, g, i)
					if err := tx.Set([]byte(k), []byte(value)); err != nil {
						return err
					}
					want[k] = value
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var raw, limit int64
	onWriter(t, s, func() { raw, limit = s.sinceUsed.raw, s.lim.size })
	if raw < 2*limit {
		t.Fatalf("the groups hold %d bytes, want more than twice a transaction's %d", raw, limit)
	}
	applyAll(t, s)
	checkContents(t, s, want)

	// A record as large, staged as a crashed process would leave it.
	big := map[string]string{}
	for i := range 16000 {
		big[fmt.Sprintf("vbig-%05d", i)] = value
	}
	stageLost(t, s, big)
	maps.Copy(want, big)
	crashed := copyDir(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkReopened(t, crashed, want, small...)
}
