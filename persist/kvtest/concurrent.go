package kvtest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"hearth/persist"
)

func testSnapshotIsolation(t *testing.T, s persist.Store) {
	put(t, s, map[string]string{"k": "old", "p/1": "1", "p/2": "2", "p/3": "3"})
	started, release := make(chan struct{}), make(chan struct{})
	viewErr := make(chan error, 1)
	go func() {
		viewErr <- s.View(t.Context(), func(tx persist.Tx) error {
			if v, err := tx.Get([]byte("k")); err != nil || string(v) != "old" {
				return fmt.Errorf("first read: Get(k) = %q, %v", v, err)
			}
			close(started)
			<-release
			// The update below committed meanwhile (unless the backend
			// runs one transaction at a time); this snapshot must not
			// show any of it.
			if v, err := tx.Get([]byte("k")); err != nil || string(v) != "old" {
				return fmt.Errorf("second read: Get(k) = %q, %v; want old", v, err)
			}
			pairs, err := scan(tx, persist.IterOptions{Prefix: []byte("p/")})
			if err != nil {
				return err
			}
			if got := fmt.Sprint(keysOf(pairs)); got != "[p/1 p/2 p/3]" {
				return fmt.Errorf("second read: keys %s, want [p/1 p/2 p/3]", got)
			}
			return nil
		})
	}()
	select {
	case <-started:
	case err := <-viewErr:
		t.Fatalf("View: %v", err)
	}
	updated := make(chan error, 1)
	go func() {
		updated <- s.Update(t.Context(), func(tx persist.Tx) error {
			for _, op := range []error{
				tx.Set([]byte("k"), []byte("new")),
				tx.Delete([]byte("p/1")),
				tx.Set([]byte("p/4"), []byte("4")),
			} {
				if op != nil {
					return op
				}
			}
			return nil
		})
	}()
	// A backend that runs one transaction at a time delays the update
	// until the view ends; do not wait for it forever.
	var updateDone bool
	select {
	case err := <-updated:
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		updateDone = true
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-viewErr; err != nil {
		t.Errorf("View: %v", err)
	}
	if !updateDone {
		if err := <-updated; err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	wantContents(t, s, map[string]string{"k": "new", "p/2": "2", "p/3": "3", "p/4": "4"})
}

func testConcurrentIncrements(t *testing.T, s persist.Store) {
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			own := []byte(fmt.Sprintf("counter/%d", w))
			for range rounds {
				// Read-modify-write of a shared and an own counter;
				// a lost update shows up in the final sums.
				err := s.Update(t.Context(), func(tx persist.Tx) error {
					for _, k := range [][]byte{[]byte("counter/shared"), own} {
						n := 0
						v, err := tx.Get(k)
						switch {
						case errors.Is(err, persist.ErrNotFound):
						case err != nil:
							return err
						default:
							if n, err = strconv.Atoi(string(v)); err != nil {
								return err
							}
						}
						if err := tx.Set(k, strconv.AppendInt(nil, int64(n+1), 10)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Update: %v", err)
	}
	want := map[string]string{"counter/shared": strconv.Itoa(workers * rounds)}
	for w := range workers {
		want[fmt.Sprintf("counter/%d", w)] = strconv.Itoa(rounds)
	}
	wantContents(t, s, want)
}

func testNoPartialWrites(t *testing.T, s persist.Store) {
	const keys, updates = 10, 100
	write := func(tx persist.Tx, i int) error {
		v := []byte(strconv.Itoa(i))
		for k := range keys {
			if err := tx.Set(fmt.Appendf(nil, "np/%02d", k), v); err != nil {
				return err
			}
		}
		// Move a marker key, so the number of keys stays constant only if
		// the delete and the insert are seen together.
		if i > 0 {
			if err := tx.Delete(fmt.Appendf(nil, "np/marker/%03d", i-1)); err != nil {
				return err
			}
		}
		return tx.Set(fmt.Appendf(nil, "np/marker/%03d", i), v)
	}
	update(t, s, func(tx persist.Tx) error { return write(tx, 0) })

	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 2 {
		wg.Go(func() {
			for {
				err := s.View(t.Context(), func(tx persist.Tx) error {
					pairs, err := scan(tx, persist.IterOptions{Prefix: []byte("np/")})
					if err != nil {
						return err
					}
					if len(pairs) != keys+1 {
						return fmt.Errorf("saw %d keys, want %d: %q", len(pairs), keys+1, pairs)
					}
					for _, p := range pairs {
						if p.v != pairs[0].v {
							return fmt.Errorf("saw a partial write: %q", pairs)
						}
					}
					// Gets see the same snapshot as the iteration.
					v, err := tx.Get([]byte("np/05"))
					if err != nil || string(v) != pairs[0].v {
						return fmt.Errorf("Get(np/05) = %q, %v; iteration saw %q", v, err, pairs[0].v)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	for i := 1; i <= updates; i++ {
		if err := s.Update(t.Context(), func(tx persist.Tx) error { return write(tx, i) }); err != nil {
			errs <- err
			break
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := map[string]string{fmt.Sprintf("np/marker/%03d", updates): strconv.Itoa(updates)}
	for k := range keys {
		want[fmt.Sprintf("np/%02d", k)] = strconv.Itoa(updates)
	}
	wantContents(t, s, want)
}

// testConcurrentAtomicity runs succeeding, failing and panicking
// transactions concurrently, so that backends that commit concurrent
// transactions together must roll back each failure on its own.
func testConcurrentAtomicity(t *testing.T, s persist.Store) {
	const workers, rounds, keys = 8, 24, 4
	value := func(w, i, k int) []byte {
		return randomBytes(uint64(w<<16|i<<4|k), 32<<10)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				err := func() (err error) {
					defer func() {
						if r := recover(); r != nil && r != "kvtest panic" {
							err = fmt.Errorf("recovered %v, want the callback's panic", r)
						}
					}()
					err = s.Update(t.Context(), func(tx persist.Tx) error {
						for k := range keys {
							if err := tx.Set(fmt.Appendf(nil, "ca/%d/%02d/%d", w, i, k), value(w, i, k)); err != nil {
								return err
							}
						}
						// Count successful rounds in a key every round reads.
						ck := fmt.Appendf(nil, "ca/count/%d", w)
						n := 0
						if v, err := tx.Get(ck); err == nil {
							n, _ = strconv.Atoi(string(v))
						} else if !errors.Is(err, persist.ErrNotFound) {
							return err
						}
						if err := tx.Set(ck, strconv.AppendInt(nil, int64(n+1), 10)); err != nil {
							return err
						}
						switch i % 4 {
						case 1:
							return errAbort
						case 3:
							panic("kvtest panic")
						}
						return nil
					})
					if i%4 == 1 && errors.Is(err, errAbort) {
						return nil
					}
					return err
				}()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Update: %v", err)
	}
	want := map[string]string{}
	for w := range workers {
		ok := 0
		for i := range rounds {
			if i%4 == 1 || i%4 == 3 {
				continue
			}
			ok++
			for k := range keys {
				want[fmt.Sprintf("ca/%d/%02d/%d", w, i, k)] = string(value(w, i, k))
			}
		}
		want[fmt.Sprintf("ca/count/%d", w)] = strconv.Itoa(ok)
	}
	wantContents(t, s, want)
}
