package kvtest

import (
	"fmt"
	"testing"

	"hearth/persist"
)

// RunDurable checks that a durable store keeps committed data across Close
// and reopening. open opens the store kept in dir, creating it if dir is
// empty; the suite closes the stores itself.
func RunDurable(t *testing.T, open func(t *testing.T, dir string) persist.Store) {
	t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
}

func testReopen(t *testing.T, open func(t *testing.T, dir string) persist.Store) {
	dir := t.TempDir()
	s := open(t, dir)
	want := map[string]string{}
	for i := range 1000 {
		want[fmt.Sprintf("k/%04d", i)] = fmt.Sprint(i)
	}
	put(t, s, want)
	update(t, s, func(tx persist.Tx) error {
		for i := 0; i < 1000; i += 2 {
			if err := tx.Delete(fmt.Appendf(nil, "k/%04d", i)); err != nil {
				return err
			}
			delete(want, fmt.Sprintf("k/%04d", i))
		}
		return nil
	})
	// A failed transaction leaves nothing behind, on disk either.
	if err := s.Update(t.Context(), func(tx persist.Tx) error {
		if err := tx.Set([]byte("k/0001"), []byte("rolled back")); err != nil {
			return err
		}
		return errAbort
	}); err == nil {
		t.Fatal("Update of a failing callback returned nil")
	}
	b := s.NewBatch(t.Context())
	for i := range 3 {
		k, v := fmt.Sprintf("big/%d", i), randomBytes(uint64(i), 2*mib)
		if err := b.Set([]byte(k), v); err != nil {
			t.Fatalf("Batch.Set: %v", err)
		}
		want[k] = string(v)
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Batch.Commit: %v", err)
	}
	closeStore(t, s)

	s = open(t, dir)
	wantContents(t, s, want)
	// Keep writing after reopening, then reopen again.
	put(t, s, map[string]string{"after": "reopen", "k/0001": "changed"})
	want["after"], want["k/0001"] = "reopen", "changed"
	closeStore(t, s)

	s = open(t, dir)
	defer closeStore(t, s)
	wantContents(t, s, want)
}
