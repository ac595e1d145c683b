//go:build !js

package badger

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoSpaceRefusesWrites: on a (nearly) full filesystem Update fails with
// ErrNoSpace instead of letting BadgerDB write into memory-mapped pages the
// kernel cannot back (SIGBUS); the database stays as it was and takes
// writes again once space is free.
func TestNoSpaceRefusesWrites(t *testing.T) {
	s := openTest(t)
	s.spaceRecheck = 0 // the disk fills between two commits
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
	s.spaceRecheck = 0
	for i := 0; i < 50; i++ {
		if err := set(s, t, string(rune('a'+i%26))+string(rune('a'+i/26)), string(make([]byte, 4096))); err != nil {
			t.Fatal(err)
		}
	}
	applyAll(t, s)
	mem := memTableBytes(s.dirs[0])
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

// TestSpaceCheckReusesStatfs: while the last statfs, less what the store
// wrote since, leaves a wide margin, commits do not ask again; as the disk
// fills they do, and no commit is let through that the disk could not take.
func TestSpaceCheckReusesStatfs(t *testing.T) {
	s := openTest(t)
	s.spaceRecheck = time.Hour
	value := string(make([]byte, 64<<10))
	// The disk has room for the margin and about 20 such writes (each
	// counted twice: log and value log).
	margin := s.reserve + 2*s.memTableSize
	var calls, written atomic.Int64
	initial := margin + 20*2*int64(len(value))
	s.freeSpace = func() (int64, error) {
		calls.Add(1)
		return initial - 2*written.Load(), nil
	}
	write := func(i int) error {
		err := set(s, t, fmt.Sprint("k", i), value)
		if err == nil {
			written.Add(int64(len(value)))
		}
		return err
	}
	for i := range 5 {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("5 commits well within the margin called statfs %d times, want 1", n)
	}
	// Past the 20th write the margin is used up: each commit asks.
	calls.Store(0)
	for i := 5; i < 40; i++ {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n < 40-20 {
		t.Fatalf("35 commits, 20 of them past the margin, called statfs %d times, want at least 20", n)
	}
	calls.Store(0)
	written.Store(0)
	s.spaceRecheck = 0 // every statfs is too old
	for i := range 3 {
		if err := set(s, t, fmt.Sprint("old", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("with every statfs too old, 3 commits called it %d times, want 3", n)
	}
}

func TestStatfsFree(t *testing.T) {
	n, err := statfsFree(t.TempDir())
	if err != nil || n <= 0 {
		t.Fatalf("statfsFree = %d, %v", n, err)
	}
}
