package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"hearth/persist"
)

// randomBytes returns n pseudo-random bytes determined by seed.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}).Read(b)
	return b
}

const mib = 1 << 20

func testLargeValues(t *testing.T, s persist.Store) {
	sizes := []int{mib - 1, mib, mib + 1, 2*mib + 3, 4 * mib}
	want := map[string]string{}
	for i, n := range sizes {
		k := fmt.Sprintf("large/%d", i)
		v := randomBytes(uint64(i), n)
		update(t, s, func(tx persist.Tx) error { return tx.Set([]byte(k), v) })
		want[k] = string(v)
	}
	// Two large values in one transaction.
	pair := map[string]string{
		"large/pair/a": string(randomBytes(100, 2*mib)),
		"large/pair/b": string(randomBytes(101, 2*mib)),
	}
	put(t, s, pair)
	for k, v := range pair {
		want[k] = v
	}
	wantContents(t, s, want)
	view(t, s, func(tx persist.Tx) error {
		pairs, err := scan(tx, persist.IterOptions{Prefix: []byte("large/"), Reverse: true})
		if err != nil {
			return err
		}
		if len(pairs) != len(want) {
			t.Errorf("reverse iteration found %d large values, want %d", len(pairs), len(want))
		}
		for _, p := range pairs {
			if p.v != want[p.k] {
				t.Errorf("reverse iteration: value of %q differs (%d bytes, want %d)", p.k, len(p.v), len(want[p.k]))
			}
		}
		return nil
	})
	// Replace and delete large values.
	update(t, s, func(tx persist.Tx) error {
		if err := tx.Set([]byte("large/0"), []byte("small")); err != nil {
			return err
		}
		return tx.Delete([]byte("large/4"))
	})
	want["large/0"] = "small"
	delete(want, "large/4")
	wantContents(t, s, want)
}

func testBatch(t *testing.T, s persist.Store) {
	put(t, s, map[string]string{"keep": "1", "gone": "2"})

	// Nothing is visible before Commit, and Discard drops everything.
	b := s.NewBatch(t.Context())
	for i := range 10 {
		if err := b.Set(fmt.Appendf(nil, "discarded/%d", i), []byte("x")); err != nil {
			t.Fatalf("Batch.Set: %v", err)
		}
	}
	if err := b.Delete([]byte("keep")); err != nil {
		t.Fatalf("Batch.Delete: %v", err)
	}
	wantContents(t, s, map[string]string{"keep": "1", "gone": "2"})
	b.Discard()
	if err := b.Set([]byte("late"), nil); !errors.Is(err, persist.ErrTxDone) {
		t.Errorf("Set after Discard = %v, want ErrTxDone", err)
	}
	if err := b.Commit(); !errors.Is(err, persist.ErrTxDone) {
		t.Errorf("Commit after Discard = %v, want ErrTxDone", err)
	}
	wantContents(t, s, map[string]string{"keep": "1", "gone": "2"})

	// A committed batch applies everything, in order.
	const n = 5000
	want := map[string]string{"keep": "1"}
	b = s.NewBatch(t.Context())
	key, val := make([]byte, 0, 32), make([]byte, 0, 32)
	for i := range n {
		// Reuse the buffers: the batch must copy them.
		key = fmt.Appendf(key[:0], "batch/%05d", i)
		val = fmt.Appendf(val[:0], "value %d", i)
		if err := b.Set(key, val); err != nil {
			t.Fatalf("Batch.Set: %v", err)
		}
		want[string(key)] = string(val)
	}
	for i := 0; i < n; i += 3 {
		if err := b.Delete(fmt.Appendf(nil, "batch/%05d", i)); err != nil {
			t.Fatalf("Batch.Delete: %v", err)
		}
		delete(want, fmt.Sprintf("batch/%05d", i))
	}
	if err := b.Set([]byte("batch/00001"), []byte("last write wins")); err != nil {
		t.Fatalf("Batch.Set: %v", err)
	}
	want["batch/00001"] = "last write wins"
	if err := b.Delete([]byte("gone")); err != nil {
		t.Fatalf("Batch.Delete: %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Batch.Commit: %v", err)
	}
	if err := b.Set([]byte("late"), nil); !errors.Is(err, persist.ErrTxDone) {
		t.Errorf("Set after Commit = %v, want ErrTxDone", err)
	}
	b.Discard() // does nothing after Commit
	wantContents(t, s, want)
}

// testLargeBatch writes more than a single transaction may hold on the
// durable backends.
func testLargeBatch(t *testing.T, s persist.Store) {
	const values = 24
	b := s.NewBatch(t.Context())
	for i := range values {
		if err := b.Set(fmt.Appendf(nil, "lb/%02d", i), randomBytes(uint64(1000+i), mib)); err != nil {
			t.Fatalf("Batch.Set %d: %v", i, err)
		}
	}
	// Many small writes too.
	for i := range 200000 {
		if err := b.Set(fmt.Appendf(nil, "lb/small/%06d", i), nil); err != nil {
			t.Fatalf("Batch.Set small %d: %v", i, err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Batch.Commit: %v", err)
	}
	view(t, s, func(tx persist.Tx) error {
		for i := range values {
			v, err := tx.Get(fmt.Appendf(nil, "lb/%02d", i))
			if err != nil {
				return err
			}
			if !bytes.Equal(v, randomBytes(uint64(1000+i), mib)) {
				t.Errorf("value %d differs after the batch", i)
			}
		}
		it := tx.Iterate(persist.IterOptions{Prefix: []byte("lb/small/"), KeysOnly: true})
		defer it.Close()
		count := 0
		for it.Next() {
			if want := fmt.Sprintf("lb/small/%06d", count); string(it.Key()) != want {
				return fmt.Errorf("small key %d is %q, want %q", count, it.Key(), want)
			}
			count++
		}
		if count != 200000 {
			t.Errorf("found %d small keys, want 200000", count)
		}
		return it.Err()
	})
}
