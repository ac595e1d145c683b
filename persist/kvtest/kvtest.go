// Package kvtest is the conformance suite for persist.Store
// implementations. Every backend's tests call Run, and durable backends also
// call RunDurable, so that all backends provably share the semantics the
// persist package documents.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"hearth/persist"
)

// Run runs the conformance suite against stores made by open, which must
// return a new, empty store each time it is called. The suite closes the
// stores itself.
func Run(t *testing.T, open func(t *testing.T) persist.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s persist.Store)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"Copies", testCopies},
		{"InvalidKeys", testInvalidKeys},
		{"ReadOnly", testReadOnly},
		{"Atomicity", testAtomicity},
		{"Panic", testPanic},
		{"FinishedTx", testFinishedTx},
		{"Context", testContext},
		{"Ordering", testOrdering},
		{"IterationBounds", testIterationBounds},
		{"ReadYourWrites", testReadYourWrites},
		{"IterateWhileDeleting", testIterateWhileDeleting},
		{"IteratorClose", testIteratorClose},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"NoPartialWrites", testNoPartialWrites},
		{"ConcurrentAtomicity", testConcurrentAtomicity},
		{"LargeValues", testLargeValues},
		{"Batch", testBatch},
		{"LargeBatch", testLargeBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			defer closeStore(t, s)
			tt.fn(t, s)
		})
	}
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

func closeStore(t *testing.T, s persist.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// errAbort is returned by transactions that must roll back.
var errAbort = errors.New("kvtest: abort")

func update(t *testing.T, s persist.Store, fn func(tx persist.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s persist.Store, fn func(tx persist.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// put writes the pairs of m in one transaction.
func put(t *testing.T, s persist.Store, m map[string]string) {
	t.Helper()
	update(t, s, func(tx persist.Tx) error {
		for k, v := range m {
			if err := tx.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// kv is one key-value pair, as strings for readable failure messages.
type kv struct{ k, v string }

// scan returns every pair opts selects.
func scan(tx persist.Tx, opts persist.IterOptions) ([]kv, error) {
	it := tx.Iterate(opts)
	defer it.Close()
	var out []kv
	for it.Next() {
		out = append(out, kv{string(it.Key()), string(it.Value())})
	}
	return out, it.Err()
}

// contents returns the whole store.
func contents(t *testing.T, s persist.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	view(t, s, func(tx persist.Tx) error {
		pairs, err := scan(tx, persist.IterOptions{})
		for _, p := range pairs {
			m[p.k] = p.v
		}
		return err
	})
	return m
}

// wantContents fails the test unless the store holds exactly want, both as
// seen by iteration and by Get.
func wantContents(t *testing.T, s persist.Store, want map[string]string) {
	t.Helper()
	got := contents(t, s)
	if !maps.Equal(got, want) {
		t.Fatalf("store holds %d pairs, want %d:\n%s", len(got), len(want), diff(got, want))
	}
	view(t, s, func(tx persist.Tx) error {
		for k, v := range want {
			got, err := tx.Get([]byte(k))
			if err != nil {
				return fmt.Errorf("Get(%q): %w", k, err)
			}
			if string(got) != v {
				return fmt.Errorf("Get(%q) = %s, want %s", k, short(string(got)), short(v))
			}
		}
		return nil
	})
}

func diff(got, want map[string]string) string {
	var b bytes.Buffer
	keys := slices.Sorted(maps.Keys(got))
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	n := 0
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		if gok == wok && g == w {
			continue
		}
		if n++; n > 10 {
			b.WriteString("...\n")
			break
		}
		switch {
		case !wok:
			fmt.Fprintf(&b, "unexpected %q = %s\n", k, short(g))
		case !gok:
			fmt.Fprintf(&b, "missing %q = %s\n", k, short(w))
		default:
			fmt.Fprintf(&b, "%q = %s, want %s\n", k, short(g), short(w))
		}
	}
	return b.String()
}

// short abbreviates long values in failure messages.
func short(v string) string {
	if len(v) > 40 {
		return fmt.Sprintf("%q...(%d bytes)", v[:40], len(v))
	}
	return fmt.Sprintf("%q", v)
}
