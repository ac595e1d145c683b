//go:build !js

package badger

import (
	"errors"
	"sync/atomic"
	"testing"
)

// TestNoSpaceRefusesWrites: on a (nearly) full filesystem Update fails with
// ErrNoSpace instead of letting BadgerDB write into memory-mapped pages the
// kernel cannot back (SIGBUS); the database stays as it was and takes
// writes again once space is free.
func TestNoSpaceRefusesWrites(t *testing.T) {
	s := openTest(t)
	var free atomic.Int64
	free.Store(1 << 40)
	s.freeSpace = func() (int64, error) { return free.Load(), nil }
	if err := set(s, t, "before", "v"); err != nil {
		t.Fatalf("Update with space: %v", err)
	}
	free.Store(s.reserve + 100)
	if err := set(s, t, "k", "a value that does not fit"); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Update on a full disk = %v, want ErrNoSpace", err)
	}
	if visible(t, s, "k") {
		t.Error("a refused write is visible")
	}
	if !visible(t, s, "before") {
		t.Error("a write made before the disk filled is gone")
	}
	free.Store(1 << 40)
	if err := set(s, t, "after", "v"); err != nil {
		t.Fatalf("Update once space is free again = %v; the store must not stop writing", err)
	}
	if !visible(t, s, "after") {
		t.Error("write after freeing space not visible")
	}
}

// TestNoSpaceCountsMemTables: near the limit the check counts the space of
// the memtables' logs, which a flush needs again for table files.
func TestNoSpaceCountsMemTables(t *testing.T) {
	s := openTest(t)
	for i := 0; i < 50; i++ {
		if err := set(s, t, string(rune('a'+i%26))+string(rune('a'+i/26)), string(make([]byte, 4096))); err != nil {
			t.Fatal(err)
		}
	}
	mem := memTableBytes(s.dir)
	if mem < 50*4096 {
		t.Fatalf("memTableBytes = %d after writing 200 KB", mem)
	}
	// Enough for the write and the reserve, not for flushing the memtable.
	s.freeSpace = func() (int64, error) { return s.reserve + 1<<10 + mem/2, nil }
	if err := set(s, t, "k", "v"); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Update without room to flush the memtable = %v, want ErrNoSpace", err)
	}
	s.freeSpace = func() (int64, error) { return s.reserve + 1<<10 + mem, nil }
	if err := set(s, t, "k", "v"); err != nil {
		t.Fatalf("Update with room to flush the memtable: %v", err)
	}
}

func TestStatfsFree(t *testing.T) {
	n, err := statfsFree(t.TempDir())
	if err != nil || n <= 0 {
		t.Fatalf("statfsFree = %d, %v", n, err)
	}
}
