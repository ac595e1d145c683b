package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"hearth/persist"
)

// trickyKeys exercise byte-wise ordering: 0x00 and 0xff bytes, keys that
// are prefixes of others, and keys at the ends of the key space.
var trickyKeys = []string{
	"\x00", "\x00\x00", "\x00\xff", "\x01",
	"a", "a\x00", "a\x00\x00", "a\x01", "a\x7f", "a\x80", "a\xff", "a\xff\x00", "a\xff\xff",
	"ab", "abc", "abd", "b",
	"\xfe\xff", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff",
}

func testOrdering(t *testing.T, s persist.Store) {
	keys := slices.Clone(trickyKeys)
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	// Write in several transactions and in random order.
	for chunk := range slices.Chunk(keys, 5) {
		update(t, s, func(tx persist.Tx) error {
			for _, k := range chunk {
				if err := tx.Set([]byte(k), []byte("v"+k)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	want := slices.Clone(trickyKeys)
	slices.SortFunc(want, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	view(t, s, func(tx persist.Tx) error {
		for _, reverse := range []bool{false, true} {
			pairs, err := scan(tx, persist.IterOptions{Reverse: reverse})
			if err != nil {
				return err
			}
			w := slices.Clone(want)
			if reverse {
				slices.Reverse(w)
			}
			if got := keysOf(pairs); !slices.Equal(got, w) {
				t.Errorf("reverse=%v: keys in order %q, want %q", reverse, got, w)
			}
			for _, p := range pairs {
				if p.v != "v"+p.k {
					t.Errorf("key %q has value %q", p.k, p.v)
				}
			}
		}
		return nil
	})
}

func keysOf(pairs []kv) []string {
	ks := make([]string, len(pairs))
	for i, p := range pairs {
		ks[i] = p.k
	}
	return ks
}

// boundCases are the Prefix, Start and End values tried by
// testIterationBounds, chosen to fall on, between and around trickyKeys.
var (
	prefixCases = []string{"", "\x00", "a", "a\xff", "ab", "abc", "\xff", "\xff\xff", "c"}
	limitCases  = []string{"", "\x00", "\x00\x01", "a", "a\x00", "a\xff", "a\xff\xff", "ab", "abz", "b", "\xff", "\xff\xff", "\xff\xff\xff\xff"}
)

// expect returns the keys of model that opts selects, in iteration order.
func expect(model map[string]string, opts persist.IterOptions) []kv {
	var out []kv
	for _, k := range slices.Sorted(maps.Keys(model)) {
		b := []byte(k)
		if !bytes.HasPrefix(b, opts.Prefix) ||
			(len(opts.Start) > 0 && bytes.Compare(b, opts.Start) < 0) ||
			(len(opts.End) > 0 && bytes.Compare(b, opts.End) >= 0) {
			continue
		}
		v := model[k]
		if opts.KeysOnly {
			v = ""
		}
		out = append(out, kv{k, v})
	}
	if opts.Reverse {
		slices.Reverse(out)
	}
	return out
}

// checkBounds compares every combination of bound cases against model.
func checkBounds(t *testing.T, tx persist.Tx, mode string, model map[string]string) error {
	failures := 0
	for _, p := range prefixCases {
		for _, start := range limitCases {
			for _, end := range limitCases {
				for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					opts := persist.IterOptions{
						Prefix: []byte(p), Start: []byte(start), End: []byte(end),
						Reverse: flags[0], KeysOnly: flags[1],
					}
					got, err := scan(tx, opts)
					if err != nil {
						return fmt.Errorf("%s: %s: %w", mode, describe(opts), err)
					}
					if want := expect(model, opts); !slices.Equal(got, want) {
						t.Errorf("%s: %s:\n got %q\nwant %q", mode, describe(opts), got, want)
						if failures++; failures >= 10 {
							return errors.New("too many failures")
						}
					}
				}
			}
		}
	}
	return nil
}

func describe(o persist.IterOptions) string {
	return fmt.Sprintf("Prefix=%q Start=%q End=%q Reverse=%v KeysOnly=%v", o.Prefix, o.Start, o.End, o.Reverse, o.KeysOnly)
}

func testIterationBounds(t *testing.T, s persist.Store) {
	model := map[string]string{}
	for _, k := range trickyKeys {
		model[k] = "v" + k
	}
	put(t, s, model)
	view(t, s, func(tx persist.Tx) error { return checkBounds(t, tx, "View", model) })
	err := s.Update(t.Context(), func(tx persist.Tx) error {
		if err := checkBounds(t, tx, "Update without writes", model); err != nil {
			return err
		}
		// Writes the transaction makes itself must merge with the
		// committed keys in every range.
		changed := maps.Clone(model)
		for _, k := range []string{"\x00", "a\x00", "a\xff\xff", "abc", "\xff\xff\xff"} {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
			delete(changed, k)
		}
		for _, k := range []string{"\x00\x00\x00", "a", "a\xff\x01", "abcd", "\xff\xff\xff\xff", "c"} {
			if err := tx.Set([]byte(k), []byte("new"+k)); err != nil {
				return err
			}
			changed[k] = "new" + k
		}
		if err := checkBounds(t, tx, "Update with writes", changed); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update: %v", err)
	}
	wantContents(t, s, model)
}

func testReadYourWrites(t *testing.T, s persist.Store) {
	model := map[string]string{}
	for i := range 50 {
		model[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
	}
	put(t, s, model)
	update(t, s, func(tx persist.Tx) error {
		// Interleave writes and reads; each read must reflect every
		// earlier write.
		r := rand.New(rand.NewPCG(3, 4))
		for i := range 200 {
			k := fmt.Sprintf("k%02d", r.IntN(70))
			if r.IntN(3) == 0 {
				if err := tx.Delete([]byte(k)); err != nil {
					return err
				}
				delete(model, k)
			} else {
				v := fmt.Sprint("w", i)
				if err := tx.Set([]byte(k), []byte(v)); err != nil {
					return err
				}
				model[k] = v
			}
			got, err := tx.Get([]byte(k))
			if want, ok := model[k]; ok != (err == nil) || string(got) != want {
				t.Errorf("after write %d: Get(%q) = %q, %v; want %q", i, k, got, err, want)
			}
			if i%20 == 0 {
				for _, reverse := range []bool{false, true} {
					opts := persist.IterOptions{Prefix: []byte("k"), Reverse: reverse}
					pairs, err := scan(tx, opts)
					if err != nil {
						return err
					}
					if want := expect(model, opts); !slices.Equal(pairs, want) {
						t.Errorf("after write %d: iteration = %q, want %q", i, pairs, want)
					}
				}
			}
		}
		return nil
	})
	wantContents(t, s, model)
}

func testIterateWhileDeleting(t *testing.T, s persist.Store) {
	model := map[string]string{"other": "x", "q": "y"}
	for i := range 100 {
		model[fmt.Sprintf("p/%03d", i)] = strings.Repeat("v", i)
	}
	put(t, s, model)
	for _, reverse := range []bool{false, true} {
		visited := 0
		update(t, s, func(tx persist.Tx) error {
			it := tx.Iterate(persist.IterOptions{Prefix: []byte("p/"), Reverse: reverse})
			defer it.Close()
			for it.Next() {
				if err := tx.Delete(it.Key()); err != nil {
					return err
				}
				// Rewrite the key under another prefix, as a move.
				if err := tx.Set(append([]byte("r/"), it.Key()[2:]...), it.Value()); err != nil {
					return err
				}
				visited++
			}
			return it.Err()
		})
		if visited != 100 {
			t.Errorf("reverse=%v: visited %d keys while deleting, want 100", reverse, visited)
		}
		want := map[string]string{"other": "x", "q": "y"}
		for i := range 100 {
			want[fmt.Sprintf("r/%03d", i)] = strings.Repeat("v", i)
		}
		wantContents(t, s, want)
		// Move them back for the next round.
		update(t, s, func(tx persist.Tx) error {
			for i := range 100 {
				if err := tx.Delete(fmt.Appendf(nil, "r/%03d", i)); err != nil {
					return err
				}
				if err := tx.Set(fmt.Appendf(nil, "p/%03d", i), []byte(strings.Repeat("v", i))); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

func testIteratorClose(t *testing.T, s persist.Store) {
	put(t, s, map[string]string{"a": "1", "b": "2", "c": "3"})
	for _, write := range []bool{false, true} {
		run := view
		if write {
			run = update
		}
		run(t, s, func(tx persist.Tx) error {
			// Several iterators may be open at once.
			it1 := tx.Iterate(persist.IterOptions{})
			it2 := tx.Iterate(persist.IterOptions{Reverse: true})
			if !it1.Next() || string(it1.Key()) != "a" {
				t.Errorf("first iterator starts at %q, want a", it1.Key())
			}
			if !it2.Next() || string(it2.Key()) != "c" {
				t.Errorf("second iterator starts at %q, want c", it2.Key())
			}
			it1.Close()
			if it1.Next() {
				t.Error("Next after Close returned true")
			}
			if err := it1.Err(); err != nil {
				t.Errorf("Err after Close = %v, want nil", err)
			}
			it1.Close()
			if !it2.Next() || string(it2.Key()) != "b" {
				t.Errorf("second iterator continues at %q, want b", it2.Key())
			}
			// it2 is left open: the transaction must close it.
			return nil
		})
	}
	// An empty range yields nothing and no error.
	view(t, s, func(tx persist.Tx) error {
		for _, opts := range []persist.IterOptions{
			{Prefix: []byte("zz")},
			{Start: []byte("b"), End: []byte("b")},
			{Start: []byte("c"), End: []byte("a")},
			{Start: []byte("c"), End: []byte("a"), Reverse: true},
		} {
			pairs, err := scan(tx, opts)
			if err != nil || len(pairs) != 0 {
				t.Errorf("%s: got %q, %v; want nothing", describe(opts), pairs, err)
			}
		}
		return nil
	})
}
