package notifications

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"hearth/persist"
)

// instantBound makes the Service's waits run out at once, counting how
// often one starts.
func instantBound(e *env) *atomic.Int64 {
	var calls atomic.Int64
	e.svc.cfg.AfterFunc = func(_ time.Duration, f func()) {
		calls.Add(1)
		go f()
	}
	return &calls
}

func (e *env) flush() {
	e.t.Helper()
	if err := e.svc.Flush(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func TestCountsDoNotWaitForOtherRooms(t *testing.T) {
	e := newEnv(t)
	a := e.createRoom(bob)
	b := e.createRoom(bob)
	e.text(b, alice, "b1")
	e.flush()
	calls := instantBound(e)

	entered := e.rooms.block(a)
	e.text(a, alice, "a1")
	<-entered
	// Room b has nothing pending: no wait at all, whatever a's backlog.
	if got := e.counts(bob, b); got != [2]int{1, 0} {
		t.Fatalf("counts in b %v, want 1 0", got)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("Counts for a caught-up room waited (%d bounded waits)", n)
	}
	// b's next event is queued behind a's blocked one: Counts waits only
	// for the bound, then answers the counts as they are.
	e.text(b, alice, "b2")
	if got := e.counts(bob, b); got != [2]int{1, 0} {
		t.Fatalf("stale counts in b %v, want 1 0", got)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d bounded waits, want 1", n)
	}
	// With the worker stalled since, the next reader does not wait again.
	if got := e.counts(carol, b); got != [2]int{0, 0} {
		t.Fatalf("carol %v", got)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("waited again on a stalled worker: %d bounded waits", n)
	}
	select {
	case u := <-e.woken:
		t.Fatalf("woke %v before anything was evaluated", u)
	default:
	}

	e.rooms.unblock()
	e.flush()
	woken := map[string]bool{}
	for len(e.woken) > 0 {
		for _, u := range <-e.woken {
			woken[u] = true
		}
	}
	if !woken[bob] || !woken[carol] {
		t.Fatalf("woken %v, want bob and carol, answered stale counts", woken)
	}
	if got := e.counts(bob, b); got != [2]int{2, 0} {
		t.Fatalf("counts in b after catching up %v, want 2 0", got)
	}
	if got := e.counts(bob, a); got != [2]int{1, 0} {
		t.Fatalf("counts in a %v, want 1 0", got)
	}
}

func TestBatchIsOneUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.createRoom(bob)
	b := e.createRoom(bob, carol)
	e.flush()

	entered := e.rooms.block(a)
	e.text(a, alice, "a1")
	<-entered
	var positions []uint64
	for range 20 {
		_, p := e.text(b, alice, "b")
		positions = append(positions, p)
	}
	// A receipt stored before the batch is evaluated still counts.
	if err := e.svc.MarkRead(ctx, carol, b, "", positions[14]); err != nil {
		t.Fatal(err)
	}
	before := e.updates.n.Load()
	e.rooms.unblock()
	e.flush()
	// a1 alone, then the 20 events queued behind it together.
	if n := e.updates.n.Load() - before; n != 2 {
		t.Fatalf("%d Updates for 21 events in two batches, want 2", n)
	}
	if got := e.counts(bob, b); got != [2]int{20, 0} {
		t.Fatalf("bob %v, want 20 0", got)
	}
	if got := e.counts(carol, b); got != [2]int{5, 0} {
		t.Fatalf("carol %v, want 5 0", got)
	}
	if err := e.svc.MarkRead(ctx, bob, b, "", positions[19]); err != nil {
		t.Fatal(err)
	}
	if got := e.counts(bob, b); got != [2]int{0, 0} {
		t.Fatalf("bob after reading all %v", got)
	}
	// Bob's own message reads a, and counts nothing for him.
	e.text(a, bob, "reply")
	if got := e.counts(bob, a); got != [2]int{0, 0} {
		t.Fatalf("bob in a after replying %v", got)
	}
	if got := e.counts(alice, a); got != [2]int{1, 0} {
		t.Fatalf("alice in a %v, want 1 0", got)
	}
}

// listKeys returns the positions of the user's stored list entries, in
// ascending order, and the stored length.
func listKeys(t *testing.T, store persist.Store, userID string) (positions []uint64, n uint64) {
	t.Helper()
	err := store.View(context.Background(), func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: listPrefix(userID)})
		defer it.Close()
		for it.Next() {
			entries, err := decodeListChunk(it.Value())
			if err != nil {
				return err
			}
			for _, e := range entries {
				positions = append(positions, e.pos)
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		st, err := readListState(tx, userID)
		n = st.n
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(positions)
	return positions, n
}

func TestPruneKeepsNewest(t *testing.T) {
	e := newEnv(t)
	a := e.createRoom(bob)
	b := e.createRoom(bob)
	e.flush()
	var sent []uint64
	// Some one at a time, some in one batch of more than MaxStored.
	for range 30 {
		_, p := e.text(a, alice, "one")
		sent = append(sent, p)
		e.flush()
	}
	entered := e.rooms.block(a)
	_, p := e.text(a, alice, "blocked")
	sent = append(sent, p)
	<-entered
	for range 70 {
		_, p := e.text(b, alice, "many")
		sent = append(sent, p)
	}
	e.rooms.unblock()
	e.flush()
	// Pruning drops whole batches: it keeps the newest 50 and at most
	// one batch (here up to 70) more.
	var kept int
	check := func(stage string) {
		t.Helper()
		got, n := listKeys(t, e.store, bob)
		kept = len(got)
		want := sent[len(sent)-kept:]
		if kept < 50 || kept > 50+70 || !slices.Equal(got, want) || n != uint64(kept) {
			t.Fatalf("%s: kept %v (stored length %d), want the newest 50 to 120 of %v", stage, got, n, sent)
		}
	}
	check("after a batch")

	// A new Service over the same store knows only the stored length.
	e.svc.Close()
	svc, err := New(Config{ServerName: server, Store: e.store, Rooms: e.dag, AccountData: e.ad, Now: e.svc.cfg.Now, MaxStored: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	e.svc = svc
	for range 7 {
		_, p := e.text(b, alice, "after restart")
		sent = append(sent, p)
	}
	e.flush()
	check("after a restart")
	list, _, err := e.svc.List(context.Background(), bob, 0, 1000, false)
	if err != nil || len(list) != kept || list[0].Pos != sent[len(sent)-1] {
		t.Fatalf("List %d entries, %v", len(list), err)
	}
}
