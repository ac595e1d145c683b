package kvtest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"hearth/persist"
)

func testGetSetDelete(t *testing.T, s persist.Store) {
	view(t, s, func(tx persist.Tx) error {
		if v, err := tx.Get([]byte("k")); !errors.Is(err, persist.ErrNotFound) {
			t.Errorf("Get of missing key = %q, %v; want ErrNotFound", v, err)
		}
		return nil
	})
	update(t, s, func(tx persist.Tx) error {
		if err := tx.Set([]byte("k"), []byte("v1")); err != nil {
			return err
		}
		if v, err := tx.Get([]byte("k")); err != nil || string(v) != "v1" {
			t.Errorf("Get in writing transaction = %q, %v; want v1", v, err)
		}
		if err := tx.Set([]byte("empty"), []byte{}); err != nil {
			return err
		}
		if err := tx.Set([]byte("nil"), nil); err != nil {
			return err
		}
		// Deleting a key that does not exist is not an error.
		return tx.Delete([]byte("never-set"))
	})
	wantContents(t, s, map[string]string{"k": "v1", "empty": "", "nil": ""})
	view(t, s, func(tx persist.Tx) error {
		for _, k := range []string{"empty", "nil"} {
			if v, err := tx.Get([]byte(k)); err != nil || len(v) != 0 {
				t.Errorf("Get(%q) = %q, %v; want an empty value", k, v, err)
			}
		}
		return nil
	})

	update(t, s, func(tx persist.Tx) error { return tx.Set([]byte("k"), []byte("v2")) })
	wantContents(t, s, map[string]string{"k": "v2", "empty": "", "nil": ""})

	update(t, s, func(tx persist.Tx) error {
		if err := tx.Delete([]byte("k")); err != nil {
			return err
		}
		if _, err := tx.Get([]byte("k")); !errors.Is(err, persist.ErrNotFound) {
			t.Errorf("Get after Delete in the same transaction: %v, want ErrNotFound", err)
		}
		return tx.Delete([]byte("empty"))
	})
	wantContents(t, s, map[string]string{"nil": ""})

	// Set, delete and set again within one transaction.
	update(t, s, func(tx persist.Tx) error {
		for _, step := range []func() error{
			func() error { return tx.Set([]byte("k"), []byte("a")) },
			func() error { return tx.Delete([]byte("k")) },
			func() error { return tx.Set([]byte("k"), []byte("b")) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	wantContents(t, s, map[string]string{"nil": "", "k": "b"})
}

func testCopies(t *testing.T, s persist.Store) {
	key, val := []byte("key"), []byte("value")
	update(t, s, func(tx persist.Tx) error {
		if err := tx.Set(key, val); err != nil {
			return err
		}
		// The transaction must have copied both.
		copy(key, "XXX")
		copy(val, "XXXXX")
		return nil
	})
	wantContents(t, s, map[string]string{"key": "value"})

	var kept, keptKey, keptVal []byte
	view(t, s, func(tx persist.Tx) error {
		v, err := tx.Get([]byte("key"))
		if err != nil {
			return err
		}
		copy(v, "MUTAT")
		kept, err = tx.Get([]byte("key"))
		if err != nil {
			return err
		}
		it := tx.Iterate(persist.IterOptions{})
		defer it.Close()
		if !it.Next() {
			t.Fatalf("iteration found no key: %v", it.Err())
		}
		keptKey, keptVal = it.Key(), it.Value()
		if it.Next() {
			t.Errorf("iteration found a second key %q", it.Key())
		}
		return it.Err()
	})
	if string(kept) != "value" {
		t.Errorf("modifying a value returned by Get changed the store: got %q", kept)
	}
	// Values read earlier stay intact after the transaction ends and
	// after later writes.
	update(t, s, func(tx persist.Tx) error { return tx.Set([]byte("key"), []byte("other")) })
	if string(keptKey) != "key" || string(keptVal) != "value" {
		t.Errorf("iterated pair changed to %q = %q after the transaction ended", keptKey, keptVal)
	}
	copy(keptVal, "XXXXX")
	wantContents(t, s, map[string]string{"key": "other"})
}

func testInvalidKeys(t *testing.T, s persist.Store) {
	tests := []struct {
		name string
		key  []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"too long", make([]byte, persist.MaxKeySize+1)},
	}
	for _, tt := range tests {
		update(t, s, func(tx persist.Tx) error {
			if err := tx.Set(tt.key, []byte("v")); !errors.Is(err, persist.ErrInvalidKey) {
				t.Errorf("Set(%s key) = %v, want ErrInvalidKey", tt.name, err)
			}
			if _, err := tx.Get(tt.key); !errors.Is(err, persist.ErrInvalidKey) {
				t.Errorf("Get(%s key) = %v, want ErrInvalidKey", tt.name, err)
			}
			if err := tx.Delete(tt.key); !errors.Is(err, persist.ErrInvalidKey) {
				t.Errorf("Delete(%s key) = %v, want ErrInvalidKey", tt.name, err)
			}
			return nil
		})
		b := s.NewBatch(t.Context())
		if err := b.Set(tt.key, []byte("v")); !errors.Is(err, persist.ErrInvalidKey) {
			t.Errorf("Batch.Set(%s key) = %v, want ErrInvalidKey", tt.name, err)
		}
		b.Discard()
	}
	// The longest valid key, full of 0xff, round-trips.
	long := []byte(strings.Repeat("\xff", persist.MaxKeySize))
	update(t, s, func(tx persist.Tx) error { return tx.Set(long, []byte("long")) })
	wantContents(t, s, map[string]string{string(long): "long"})
}

func testReadOnly(t *testing.T, s persist.Store) {
	put(t, s, map[string]string{"k": "v"})
	err := s.View(t.Context(), func(tx persist.Tx) error {
		if err := tx.Set([]byte("k"), []byte("changed")); !errors.Is(err, persist.ErrReadOnly) {
			t.Errorf("Set in View = %v, want ErrReadOnly", err)
		}
		if err := tx.Set([]byte("new"), []byte("v")); !errors.Is(err, persist.ErrReadOnly) {
			t.Errorf("Set in View = %v, want ErrReadOnly", err)
		}
		if err := tx.Delete([]byte("k")); !errors.Is(err, persist.ErrReadOnly) {
			t.Errorf("Delete in View = %v, want ErrReadOnly", err)
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("View returned %v, want the callback's error", err)
	}
	wantContents(t, s, map[string]string{"k": "v"})
}

func testAtomicity(t *testing.T, s persist.Store) {
	base := map[string]string{"a": "1", "b": "2", "c": "3"}
	put(t, s, base)
	tests := []struct {
		name  string
		write func(tx persist.Tx) error
	}{
		{"new keys", func(tx persist.Tx) error {
			for _, k := range []string{"d", "e", "f"} {
				if err := tx.Set([]byte(k), []byte("x")); err != nil {
					return err
				}
			}
			return nil
		}},
		{"overwrite", func(tx persist.Tx) error {
			return tx.Set([]byte("a"), []byte("overwritten"))
		}},
		{"delete", func(tx persist.Tx) error {
			if err := tx.Delete([]byte("b")); err != nil {
				return err
			}
			return tx.Delete([]byte("c"))
		}},
		{"mixed", func(tx persist.Tx) error {
			if err := tx.Delete([]byte("a")); err != nil {
				return err
			}
			if err := tx.Set([]byte("b"), []byte("x")); err != nil {
				return err
			}
			return tx.Set([]byte("z"), []byte("x"))
		}},
	}
	for _, tt := range tests {
		err := s.Update(t.Context(), func(tx persist.Tx) error {
			if err := tt.write(tx); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Errorf("%s: Update returned %v, want the callback's error", tt.name, err)
		}
		wantContents(t, s, base)
	}
}

func testPanic(t *testing.T, s persist.Store) {
	put(t, s, map[string]string{"a": "1"})
	func() {
		defer func() {
			if r := recover(); r != "kvtest panic" {
				t.Errorf("recovered %v, want the callback's panic", r)
			}
		}()
		_ = s.Update(t.Context(), func(tx persist.Tx) error {
			if err := tx.Set([]byte("a"), []byte("changed")); err != nil {
				return err
			}
			if err := tx.Set([]byte("b"), []byte("new")); err != nil {
				return err
			}
			panic("kvtest panic")
		})
		t.Error("Update returned after its callback panicked")
	}()
	wantContents(t, s, map[string]string{"a": "1"})
	// The store still works after a panic.
	put(t, s, map[string]string{"b": "2"})
	wantContents(t, s, map[string]string{"a": "1", "b": "2"})
}

func testFinishedTx(t *testing.T, s persist.Store) {
	put(t, s, map[string]string{"a": "1", "b": "2"})
	var leaked persist.Tx
	var it persist.Iterator
	update(t, s, func(tx persist.Tx) error {
		leaked = tx
		it = tx.Iterate(persist.IterOptions{})
		return nil
	})
	if _, err := leaked.Get([]byte("a")); !errors.Is(err, persist.ErrTxDone) {
		t.Errorf("Get after the transaction ended = %v, want ErrTxDone", err)
	}
	if err := leaked.Set([]byte("c"), []byte("3")); !errors.Is(err, persist.ErrTxDone) {
		t.Errorf("Set after the transaction ended = %v, want ErrTxDone", err)
	}
	if err := leaked.Delete([]byte("a")); !errors.Is(err, persist.ErrTxDone) {
		t.Errorf("Delete after the transaction ended = %v, want ErrTxDone", err)
	}
	if it.Next() {
		t.Errorf("Next on an iterator of an ended transaction returned %q", it.Key())
	}
	if !errors.Is(it.Err(), persist.ErrTxDone) {
		t.Errorf("Err on an iterator of an ended transaction = %v, want ErrTxDone", it.Err())
	}
	it.Close()
	late := leaked.Iterate(persist.IterOptions{})
	if late.Next() || !errors.Is(late.Err(), persist.ErrTxDone) {
		t.Errorf("iterator made after the transaction ended: Err = %v, want ErrTxDone", late.Err())
	}
	late.Close()
	wantContents(t, s, map[string]string{"a": "1", "b": "2"})
}

func testContext(t *testing.T, s persist.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	fn := func(tx persist.Tx) error {
		called = true
		return tx.Set([]byte("k"), []byte("v"))
	}
	if err := s.Update(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.View(ctx, func(tx persist.Tx) error { called = true; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("View with a canceled context = %v, want context.Canceled", err)
	}
	if called {
		t.Error("a callback ran although its context was canceled")
	}
	b := s.NewBatch(ctx)
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Errorf("Batch.Set: %v", err)
	}
	if err := b.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Batch.Commit with a canceled context = %v, want context.Canceled", err)
	}
	wantContents(t, s, map[string]string{})
}

func testClose(t *testing.T, s persist.Store) {
	put(t, s, map[string]string{"k": "v"})
	b := s.NewBatch(t.Context())
	if err := b.Set([]byte("b"), []byte("v")); err != nil {
		t.Fatalf("Batch.Set: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	ctx := t.Context()
	if err := s.View(ctx, func(persist.Tx) error { return nil }); !errors.Is(err, persist.ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
	if err := s.Update(ctx, func(persist.Tx) error { return nil }); !errors.Is(err, persist.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if err := b.Commit(); !errors.Is(err, persist.ErrClosed) {
		t.Errorf("Batch.Commit after Close = %v, want ErrClosed", err)
	}
}
