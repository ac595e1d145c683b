//go:build !js

package badger

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth/persist"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), WithLogger(nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func set(s *Store, t *testing.T, key, value string) error {
	return s.Update(t.Context(), func(tx persist.Tx) error { return tx.Set([]byte(key), []byte(value)) })
}

// visible reports whether a new View sees key.
func visible(t *testing.T, s *Store, key string) bool {
	t.Helper()
	var found bool
	err := s.View(t.Context(), func(tx persist.Tx) error {
		_, err := tx.Get([]byte(key))
		found = err == nil
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return found
}

func TestNothingAckedOrVisibleBeforeSync(t *testing.T) {
	s := openTest(t)
	entered, release := make(chan struct{}), make(chan struct{})
	inner := s.sync
	s.sync = func(ts uint64, rec []byte) error {
		close(entered)
		<-release
		return inner(ts, rec)
	}
	done := make(chan error, 1)
	go func() { done <- set(s, t, "k", "v") }()
	<-entered
	// The group is committed to BadgerDB but not synced.
	if visible(t, s, "k") {
		t.Error("a View saw a write before it was synced")
	}
	select {
	case err := <-done:
		t.Fatalf("Update returned %v before its write was synced", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Update: %v", err)
	}
	if !visible(t, s, "k") {
		t.Error("a View did not see a synced write")
	}
}

func TestSyncFailureStopsWrites(t *testing.T) {
	s := openTest(t)
	if err := set(s, t, "before", "v"); err != nil {
		t.Fatalf("Update: %v", err)
	}
	errDisk := errors.New("disk on fire")
	s.sync = func(uint64, []byte) error { return errDisk }
	if err := set(s, t, "k", "v"); !errors.Is(err, errDisk) {
		t.Fatalf("Update with a failing sync = %v, want the sync error", err)
	}
	if visible(t, s, "k") {
		t.Error("a write whose sync failed is visible")
	}
	if !visible(t, s, "before") {
		t.Error("a write synced before the failure is gone")
	}
	if err := set(s, t, "after", "v"); !errors.Is(err, errDisk) {
		t.Errorf("Update after a failed sync = %v, want the sync error", err)
	}
}

// holdFirstSync makes the next sync of s wait until release is closed, and
// closes entered when it starts; syncs counts the syncs from now on.
func holdFirstSync(s *Store) (syncs *atomic.Int32, entered, release chan struct{}) {
	syncs = new(atomic.Int32)
	entered, release = make(chan struct{}), make(chan struct{})
	inner := s.sync
	s.sync = func(ts uint64, rec []byte) error {
		if syncs.Add(1) == 1 {
			close(entered)
			<-release
		}
		return inner(ts, rec)
	}
	return syncs, entered, release
}

func TestConcurrentUpdatesShareSyncs(t *testing.T) {
	s := openTest(t)
	syncs, entered, release := holdFirstSync(s)
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	wg.Go(func() { errs <- set(s, t, "first", "v") })
	<-entered
	// While the first group syncs, the others queue up and must then
	// commit together.
	for i := range n - 1 {
		wg.Go(func() { errs <- set(s, t, fmt.Sprint("k", i), "v") })
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	if got := syncs.Load(); got > 3 {
		t.Errorf("%d updates took %d syncs, want at most 3", n, got)
	}
	for i := range n - 1 {
		if !visible(t, s, fmt.Sprint("k", i)) {
			t.Fatalf("k%d missing", i)
		}
	}
}

// TestGroupWaitsForTheWritersItExpects checks the linger of group commit: a
// group with fewer members than the last one waits for more, so that
// writers taking turns share syncs, and stops waiting when none comes.
func TestGroupWaitsForTheWritersItExpects(t *testing.T) {
	s := openTest(t)
	// The linger's timer fires only when the test says so, or when it
	// ends, before the store is closed.
	timers := make(chan chan time.Time, 16)
	ended := make(chan struct{})
	t.Cleanup(func() { close(ended) })
	s.after = func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		timers <- c
		go func() {
			<-ended
			select {
			case c <- time.Now():
			default:
			}
		}()
		return c
	}
	syncs, entered, release := holdFirstSync(s)
	var ran atomic.Int32
	update := func(key string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- s.Update(t.Context(), func(tx persist.Tx) error {
				ran.Add(1)
				return tx.Set([]byte(key), []byte("v"))
			})
		}()
		return done
	}
	armed := func() chan time.Time {
		t.Helper()
		select {
		case c := <-timers:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("the group did not wait for another member")
			return nil
		}
	}
	wait := func(done chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an update waited for a member the group had no reason to expect")
		}
	}

	// A group of four: they arrive while the first group syncs.
	first := update("first")
	<-entered
	var four []chan error
	for i := range 4 {
		four = append(four, update(fmt.Sprint("four", i)))
	}
	for ran.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wait(first)
	for _, done := range four {
		wait(done)
	}
	if got := syncs.Load(); got != 2 {
		t.Fatalf("the first five updates took %d syncs, want 2", got)
	}

	// A lone update waits for more, and one that comes shares its sync.
	a := update("a")
	timer := armed()
	select {
	case err := <-a:
		t.Fatalf("a lone update after a group of four returned (%v) without waiting", err)
	default:
	}
	b := update("b")
	for ran.Load() < 7 {
		time.Sleep(time.Millisecond)
	}
	timer <- time.Now() // no one else comes
	wait(a)
	wait(b)
	if got := syncs.Load(); got != 3 {
		t.Fatalf("a and b took %d syncs, want 1", got-2)
	}

	// When no one comes, the group goes alone, and the next lone update
	// does not wait.
	c := update("c")
	armed() <- time.Now()
	wait(c)
	wait(update("d"))
	if got := syncs.Load(); got != 5 {
		t.Errorf("c and d took %d syncs, want 2", got-3)
	}
	if n := len(timers); n != 0 {
		t.Errorf("a lone update after a lone update waited (%d timers)", n)
	}
	for _, key := range []string{"a", "b", "c", "d"} {
		if !visible(t, s, key) {
			t.Errorf("%s missing", key)
		}
	}
}
