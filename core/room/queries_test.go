package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
	"hearth/persist"
	"hearth/persist/kvtest"
)

func TestMembershipIndexAndTimeline(t *testing.T) {
	ctx := context.Background()
	ring := keyring{}
	a := newServer(t, "a.test", 1, ring)
	var mu sync.Mutex
	var hooked []uint64
	a.dag.cfg.OnAccepted = func(ad Added) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, ad.Pos)
	}
	alice, carol := "@alice:a.test", "@carol:a.test"
	start, _ := a.dag.Position()
	evs := createPublicRoom(t, a, roomversion.MustLookup("11"), alice)
	roomID := evs[0].RoomID()

	m, err := a.dag.MembershipOf(ctx, alice, roomID)
	if err != nil || m.Membership != "join" || m.EventID != evs[1].ID() {
		t.Fatalf("alice's membership = %+v, %v", m, err)
	}
	if m, _ := a.dag.MembershipOf(ctx, carol, roomID); m.Membership != "" {
		t.Fatalf("carol has membership %+v before joining", m)
	}
	mid, _ := a.dag.Position()
	join, err := a.dag.Send(ctx, roomID, Proto{Sender: carol, Type: "m.room.member", StateKey: strp(carol), Content: content(t, map[string]any{"membership": "join"})})
	if err != nil {
		t.Fatal(err)
	}
	leave, err := a.dag.Send(ctx, roomID, Proto{Sender: carol, Type: "m.room.member", StateKey: strp(carol), Content: content(t, map[string]any{"membership": "leave"})})
	if err != nil {
		t.Fatal(err)
	}
	end, _ := a.dag.Position()
	rooms, err := a.dag.Rooms(ctx, carol)
	if err != nil || rooms[roomID].Membership != "leave" || rooms[roomID].EventID != leave.ID() {
		t.Fatalf("carol's rooms = %+v, %v", rooms, err)
	}
	changed, err := a.dag.MembershipChanges(ctx, carol, mid, end)
	if err != nil || !slices.Equal(changed, []string{roomID}) {
		t.Fatalf("carol's changes (%d, %d] = %v, %v", mid, end, changed, err)
	}
	if changed, _ := a.dag.MembershipChanges(ctx, carol, start, mid); len(changed) != 0 {
		t.Fatalf("carol's changes before she joined: %v", changed)
	}
	if changed, _ := a.dag.MembershipChanges(ctx, alice, mid, end); len(changed) != 0 {
		t.Fatalf("alice's membership did not change, got %v", changed)
	}

	// Forwards from the start: every event, oldest first.
	all, err := a.dag.Timeline(ctx, roomID, start, 0, false, 100)
	if err != nil || len(all) != 7 {
		t.Fatalf("forward timeline has %d events, %v", len(all), err)
	}
	if all[0].Event.ID() != evs[0].ID() || all[6].Event.ID() != leave.ID() {
		t.Fatalf("forward timeline order wrong: first %s last %s", all[0].Event.ID(), all[6].Event.ID())
	}
	// Backwards from the end, two at a time.
	page, err := a.dag.Timeline(ctx, roomID, 0, 0, true, 2)
	if err != nil || len(page) != 2 || page[0].Event.ID() != leave.ID() || page[1].Event.ID() != join.ID() {
		t.Fatalf("newest page = %v, %v", page, err)
	}
	next, _ := a.dag.Timeline(ctx, roomID, page[1].Pos, 0, true, 2)
	if len(next) != 2 || next[0].Event.ID() != evs[4].ID() {
		t.Fatalf("second page starts at %v", next)
	}
	// A bounded forward window.
	window, _ := a.dag.Timeline(ctx, roomID, all[1].Pos, all[3].Pos, false, 100)
	if len(window) != 2 || window[0].Pos != all[2].Pos || window[1].Pos != all[3].Pos {
		t.Fatalf("window (%d, %d] = %v", all[1].Pos, all[3].Pos, window)
	}
	if last, _ := a.dag.LastPos(ctx, roomID); last != all[6].Pos {
		t.Fatalf("LastPos %d, want %d", last, all[6].Pos)
	}
	s, err := a.dag.StateAt(ctx, roomID, all[5].Pos)
	if err != nil || s[StateKeyOf("m.room.member", carol)] != join.ID() {
		t.Fatalf("state at carol's join: %v, %v", s, err)
	}

	mu.Lock()
	if len(hooked) != 7 || !slices.IsSorted(hooked) {
		t.Fatalf("OnAccepted saw positions %v", hooked)
	}
	mu.Unlock()

	// A redaction marks its target.
	red, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.redaction", Content: content(t, map[string]any{"redacts": evs[4].ID()}), Redacts: evs[4].ID()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.dag.Info(ctx, evs[4].ID())
	if err != nil || info.RedactedBy != red.ID() || !info.InTimeline {
		t.Fatalf("Info of redacted message = %+v, %v", info, err)
	}
}

func TestAlsoAndIndexWriteWithTheEvent(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	var indexed []uint64
	s.dag.cfg.Index = func(tx persist.Tx, a Added) error {
		indexed = append(indexed, a.Pos)
		return tx.Set([]byte("test/index/"+a.Event.ID()), []byte("x"))
	}
	evs := createPublicRoom(t, s, roomversion.MustLookup("11"), "@alice:a.test")
	roomID := evs[0].RoomID()
	if len(indexed) != 5 {
		t.Fatalf("Index saw %d events, want 5", len(indexed))
	}
	msg := Proto{Sender: "@alice:a.test", Type: "m.room.message", Content: content(t, map[string]any{"body": "x"})}
	msg.Also = func(tx persist.Tx, ev *event.PDU) error {
		return tx.Set([]byte("test/txn/"+ev.ID()), []byte("t1"))
	}
	ev, err := s.dag.Send(ctx, roomID, msg)
	if err != nil {
		t.Fatal(err)
	}
	s.dag.cfg.Store.View(ctx, func(tx persist.Tx) error {
		for _, k := range []string{"test/txn/" + ev.ID(), "test/index/" + ev.ID()} {
			if _, err := tx.Get([]byte(k)); err != nil {
				t.Errorf("%s not written with the event: %v", k, err)
			}
		}
		return nil
	})
	// A failing Also aborts the send: nothing stored. (The abandoned
	// stream position is skipped, not reused.)
	pos, _ := s.dag.Position()
	msg.Also = func(persist.Tx, *event.PDU) error { return errors.New("refused") }
	if _, err := s.dag.Send(ctx, roomID, msg); err == nil {
		t.Fatal("Send succeeded although Also failed")
	}
	if evs, _ := s.dag.Timeline(ctx, roomID, pos, 0, false, 10); len(evs) != 0 {
		t.Fatalf("an aborted send reached the timeline: %v", evs)
	}
	if fx, _ := s.dag.Extremities(ctx, roomID); len(fx) != 1 || fx[0] != ev.ID() {
		t.Fatalf("extremities after an aborted send: %v", fx)
	}
}

func TestConcurrentSendsShareCommitsAndChain(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	alice := "@alice:a.test"
	evs := createPublicRoom(t, s, roomversion.MustLookup("11"), alice)
	roomID := evs[0].RoomID()
	start, _ := s.dag.Position()

	const senders, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for i := range senders {
		wg.Go(func() {
			for j := range each {
				p := Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": fmt.Sprint(i, "/", j)})}
				if j == 3 && i == 0 {
					// One send whose own write fails must not fail the
					// others in its batch.
					p.Also = func(persist.Tx, *event.PDU) error { return errors.New("refused") }
					if _, err := s.dag.Send(ctx, roomID, p); err == nil {
						errs <- errors.New("a send with a failing Also succeeded")
					}
					continue
				}
				if _, err := s.dag.Send(ctx, roomID, p); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.dag.Timeline(ctx, roomID, start, 0, false, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != senders*each-1 {
		t.Fatalf("timeline has %d new events, want %d", len(got), senders*each-1)
	}
	// The events form one chain: each follows the one before it.
	prev := evs[len(evs)-1].ID()
	for i, te := range got {
		if p := te.Event.PrevEvents(); len(p) != 1 || p[0] != prev {
			t.Fatalf("event %d has prev_events %v, want [%s]", i, p, prev)
		}
		prev = te.Event.ID()
	}
	if fx, _ := s.dag.Extremities(ctx, roomID); len(fx) != 1 || fx[0] != prev {
		t.Fatalf("extremities %v, want [%s]", fx, prev)
	}
	// Everything is durable: a DAG reopened over the store continues the
	// chain.
	reopened, err := New(ctx, s.dag.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := reopened.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": "after"})})
	if err != nil || ev.PrevEvents()[0] != prev {
		t.Fatalf("send after reopen: %v, prev %v", err, ev.PrevEvents())
	}
}

// TestSentEventsStayCached checks that an event just sent is read back
// (as /sync and the notification counts do next) without a store read.
func TestSentEventsStayCached(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	counter := &kvtest.Counting{Store: s.dag.cfg.Store}
	s.dag.cfg.Store = counter
	alice := "@alice:a.test"
	evs := createPublicRoom(t, s, roomversion.MustLookup("11"), alice)
	ev, err := s.dag.Send(ctx, evs[0].RoomID(), Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": "hi"})})
	if err != nil {
		t.Fatal(err)
	}
	before := counter.Gets.Load()
	got, err := s.dag.Event(ctx, ev.ID())
	if err != nil || got.ID() != ev.ID() {
		t.Fatalf("Event = %v, %v", got, err)
	}
	if n := counter.Gets.Load() - before; n != 0 {
		t.Fatalf("reading the event just sent took %d store reads", n)
	}
}
