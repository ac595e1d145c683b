//go:build !js

package badger

import (
	"fmt"
	"testing"

	bdb "github.com/dgraph-io/badger/v4"

	"hearth/persist"
)

// keysIn returns the keys (without dataPrefix) that db holds at its newest
// version.
func keysIn(t *testing.T, db *bdb.DB) []string {
	t.Helper()
	txn := db.NewTransactionAt(db.MaxVersion(), false)
	defer txn.Discard()
	it := txn.NewIterator(bdb.IteratorOptions{Prefix: []byte{dataPrefix}})
	defer it.Close()
	var keys []string
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, string(it.Item().Key()[1:]))
	}
	return keys
}

// checkParts fails unless every key the store holds is in the database its
// prefix assigns it to, and that database only.
func checkParts(t *testing.T, s *Store, want map[string]string) {
	t.Helper()
	for _, db := range s.db.all() {
		for _, k := range keysIn(t, db) {
			if _, ok := want[k]; !ok {
				t.Errorf("%s holds %q, which the store does not", db.Opts().Dir, k)
				continue
			}
			owner := s.db.main
			if s.db.inValues(append([]byte{dataPrefix}, k...)) {
				owner = s.db.values
			}
			if owner != db {
				t.Errorf("%q is in %s, want %s", k, db.Opts().Dir, owner.Opts().Dir)
			}
		}
	}
}

func TestValueLogSplitsKeys(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, WithLogger(nil), WithValueLog("k1"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := writeWorkload(t, s, 300, "v")
	checkContents(t, s, want)
	checkParts(t, s, want)
	applyAll(t, s)
	var inValues int
	for k := range want {
		if k[:2] == "k1" {
			inValues++
		}
	}
	if got := len(keysIn(t, s.db.values)); got != inValues || got == 0 {
		t.Errorf("the value log's database holds %d keys, want %d", got, inValues)
	}
	// Iterations that start, end or lie inside the prefix, both ways.
	for _, r := range []struct{ start, end string }{{"k0", "k2"}, {"k05", "k15"}, {"k15", "k25"}, {"k10", "k11"}, {"", ""}} {
		for _, reverse := range []bool{false, true} {
			var got []string
			err := s.View(t.Context(), func(tx persist.Tx) error {
				opts := persist.IterOptions{Start: []byte(r.start), Reverse: reverse}
				if r.end != "" {
					opts.End = []byte(r.end)
				}
				it := tx.Iterate(opts)
				defer it.Close()
				for it.Next() {
					got = append(got, string(it.Key()))
				}
				return it.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			var wantKeys []string
			for i := range 300 {
				k := fmt.Sprintf("k%03d", i)
				if _, ok := want[k]; ok && k >= r.start && (r.end == "" || k < r.end) {
					wantKeys = append(wantKeys, k)
				}
			}
			if reverse {
				for i, j := 0, len(wantKeys)-1; i < j; i, j = i+1, j-1 {
					wantKeys[i], wantKeys[j] = wantKeys[j], wantKeys[i]
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(wantKeys) {
				t.Errorf("[%q, %q) reverse %v: got %d keys %v..., want %d", r.start, r.end, reverse, len(got), head(got), len(wantKeys))
			}
		}
	}
}

func head(keys []string) []string { return keys[:min(len(keys), 5)] }

// TestValueLogMovesExistingKeys opens a store written without WithValueLog
// with it: the keys under the prefix move to the value log's database and
// nothing is lost, including after a crash.
func TestValueLogMovesExistingKeys(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	// More keys than one move batch.
	want := writeWorkload(t, s, 2500, "v")
	crashed := losePower(t, s, dir)
	for _, d := range []string{dir, crashed} {
		s, err := Open(d, WithLogger(nil), WithValueLog("k1", "k2"))
		if err != nil {
			t.Fatal(err)
		}
		checkContents(t, s, want)
		checkParts(t, s, want)
		if n := len(keysIn(t, s.db.values)); n < 1000 {
			t.Errorf("%s: the value log's database holds %d keys, want more than 1000", d, n)
		}
		if err := s.Update(t.Context(), func(tx persist.Tx) error { return tx.Set([]byte("k1after"), []byte("x")) }); err != nil {
			t.Fatal(err)
		}
		// A process crash now: the memtables written since the opening
		// checkpoint, which synced them, are still on disk.
		again := copyDir(t, d)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		w := map[string]string{"k1after": "x"}
		for k, v := range want {
			w[k] = v
		}
		checkReopened(t, again, w, WithValueLog("k1", "k2"))
	}
}

func TestSpans(t *testing.T) {
	p := &parts{prefixes: [][]byte{[]byte("dk1"), []byte("dx")}}
	for _, c := range []struct {
		lower, upper string
		main, values bool
	}{
		{"d", "e", true, true},
		{"dk1", "dk2", false, true},
		{"dk10", "dk11", false, true},
		{"dk0", "dk1", true, false},
		{"dk2", "dk3", true, false},
		{"dk0", "dk15", true, true},
		{"dx", "dy", false, true},
		{"dw", "dx", true, false},
		{"dx\xff", "dy", false, true},
	} {
		main, values := p.spans([]byte(c.lower), []byte(c.upper))
		if main != c.main || values != c.values {
			t.Errorf("spans(%q, %q) = %v, %v; want %v, %v", c.lower, c.upper, main, values, c.main, c.values)
		}
	}
}
