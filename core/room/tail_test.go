package room

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/roomversion"
	"hearth/persist"
)

// sameTimeline reports how got differs from want, or nil.
func sameTimeline(got, want []TimelineEvent) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d events, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Pos != w.Pos || g.Event.ID() != w.Event.ID() || !bytes.Equal(g.Event.JSON(), w.Event.JSON()) {
			return fmt.Errorf("event %d is %s at %d, want %s at %d", i, g.Event.ID(), g.Pos, w.Event.ID(), w.Pos)
		}
	}
	return nil
}

// tailBounds returns a room's tail's floor and top, and whether it is known.
func tailBounds(d *DAG, roomID string) (floor, top uint64, known bool) {
	e := d.entry(roomID)
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tail.floor, e.tail.top, e.tail.known
}

// sendMessages sends n messages from sender to a room.
func sendMessages(t testing.TB, d *DAG, roomID, sender string, n int) {
	t.Helper()
	for i := range n {
		p := Proto{Sender: sender, Type: "m.room.message", Content: content(t, map[string]any{"body": fmt.Sprint(i)})}
		if _, err := d.Send(context.Background(), roomID, p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTimelineTailMatchesStore checks that Timeline answers every call as
// the store does, for a room with more events than its tail holds, and that
// calls about the newest events are answered by the tail.
func TestTimelineTailMatchesStore(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	alice := "@alice:a.test"
	v := roomversion.MustLookup("11")
	roomID := createPublicRoom(t, s, v, alice)[0].RoomID()
	other := createPublicRoom(t, s, v, alice)[0].RoomID()
	// Another room's events between this room's leave gaps in its
	// positions.
	for i := range 100 {
		sendMessages(t, s.dag, roomID, alice, 1)
		if i%3 == 0 {
			sendMessages(t, s.dag, other, alice, 1)
		}
	}

	all, err := s.dag.storeTimeline(ctx, roomID, 0, 0, false, 1000)
	if err != nil || len(all) != 105 {
		t.Fatalf("store timeline has %d events, %v", len(all), err)
	}
	ps := make([]uint64, len(all))
	for i, te := range all {
		ps[i] = te.Pos
	}
	n := len(ps)
	floor, top, known := tailBounds(s.dag, roomID)
	if !known || floor != ps[n-tailSize-1] || top != ps[n-1] {
		t.Fatalf("tail (%d, %d] known %v, want (%d, %d]", floor, top, known, ps[n-tailSize-1], ps[n-1])
	}

	tests := []struct {
		name       string
		from, to   uint64
		backwards  bool
		limit      int
		wantTail   bool
		wantEvents int
	}{
		{"newest page", 0, 0, true, 10, true, 10},
		{"sync window above a token", top + 1, ps[n-6] + 1, true, 11, true, 5},
		{"sync window from the watermark", top + 50, ps[n-3] + 1, true, 11, true, 2},
		{"nothing new", top + 1, top + 1, true, 11, true, 0},
		{"whole tail", 0, floor + 1, true, 200, true, tailSize},
		{"down to the floor", 0, floor, true, 200, false, tailSize + 1},
		{"open end beyond the tail", 0, 0, true, 200, false, n},
		{"straddling the floor", ps[n-60], ps[n-70], true, 100, false, 10},
		{"straddling the floor, limit above it", ps[n-60], ps[n-70], true, 3, true, 3},
		{"below the floor", floor, 0, true, 5, false, 5},
		{"from the first event", ps[0] + 1, 0, true, 5, false, 1},
		{"state at a position", ps[n-2] + 1, 0, true, 1, true, 1},
		{"forwards from the floor", floor, 0, false, 200, true, tailSize},
		{"forwards from below the floor", floor - 1, 0, false, 200, false, tailSize + 1},
		{"forwards from the start", 0, 0, false, 200, false, n},
		{"forwards window", ps[n-10], ps[n-5], false, 100, true, 5},
		{"forwards window, short limit", ps[n-10], ps[n-5], false, 2, true, 2},
		{"forwards from the top", top, 0, false, 10, true, 0},
		{"forwards beyond the top", top, top + 100, false, 10, true, 0},
		{"zero limit", 0, 0, true, 0, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := s.dag.storeTimeline(ctx, roomID, tc.from, tc.to, tc.backwards, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != tc.wantEvents {
				t.Fatalf("store answers %d events, the case expects %d", len(want), tc.wantEvents)
			}
			got, err := s.dag.Timeline(ctx, roomID, tc.from, tc.to, tc.backwards, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameTimeline(got, want); err != nil {
				t.Fatalf("Timeline(%d, %d, %v, %d): %v", tc.from, tc.to, tc.backwards, tc.limit, err)
			}
			fromTail, ok, err := s.dag.tailTimeline(ctx, roomID, tc.from, tc.to, tc.backwards, tc.limit)
			if err != nil || ok != tc.wantTail {
				t.Fatalf("tail answers: %v (%v), want %v", ok, err, tc.wantTail)
			}
			if ok {
				if err := sameTimeline(fromTail, want); err != nil {
					t.Fatalf("tail: %v", err)
				}
			}
		})
	}

	// Every combination of bounds around the tail's floor and top, the
	// room's first events and the other room's positions, on this DAG and
	// on one reopened over the same store, whose tail starts empty at the
	// room's LastPos.
	check := func(t *testing.T, d *DAG, ps []uint64) (served int) {
		t.Helper()
		n := len(ps)
		floor, top, _ := tailBounds(d, roomID)
		otherLast, err := d.LastPos(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		bounds := []uint64{0, 1, ps[0] - 1, ps[0], ps[0] + 1, ps[n/2], floor - 1, floor, floor + 1,
			ps[n-tailSize], ps[n-tailSize+1], ps[n-10], ps[n-10] + 1, otherLast - 1, otherLast,
			top - 1, top, top + 1, top + 50}
		for _, from := range bounds {
			for _, to := range bounds {
				for _, backwards := range []bool{false, true} {
					for _, limit := range []int{0, 1, 3, 11, tailSize, tailSize + 1, 500} {
						want, err := d.storeTimeline(ctx, roomID, from, to, backwards, limit)
						if err != nil {
							t.Fatal(err)
						}
						got, err := d.Timeline(ctx, roomID, from, to, backwards, limit)
						if err != nil {
							t.Fatal(err)
						}
						if err := sameTimeline(got, want); err != nil {
							t.Fatalf("Timeline(%d, %d, %v, %d) with tail (%d, %d]: %v", from, to, backwards, limit, floor, top, err)
						}
						if _, ok, _ := d.tailTimeline(ctx, roomID, from, to, backwards, limit); ok {
							served++
						}
					}
				}
			}
		}
		return served
	}
	if served := check(t, s.dag, ps); served == 0 {
		t.Fatal("the tail answered none of the calls")
	}

	reopened, err := New(ctx, s.dag.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sendMessages(t, reopened, roomID, alice, 3)
	floor, _, known = tailBounds(reopened, roomID)
	if !known || floor != ps[n-1] {
		t.Fatalf("reopened tail floor %d (known %v), want the LastPos before, %d", floor, known, ps[n-1])
	}
	all, err = reopened.storeTimeline(ctx, roomID, 0, 0, false, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ps = ps[:0]
	for _, te := range all {
		ps = append(ps, te.Pos)
	}
	if served := check(t, reopened, ps); served == 0 {
		t.Fatal("the reopened DAG's tail answered none of the calls")
	}
}

// TestTimelineTailRedacted checks that an event stored in its redacted form
// comes back redacted through the tail, whether or not it is still in the
// parsed-event cache, and that a redacted message comes back as the store
// has it, with Info naming the redaction.
func TestTimelineTailRedacted(t *testing.T) {
	ctx := context.Background()
	v := roomversion.MustLookup("10")
	ring := keyring{}
	a := newServer(t, "a.test", 1, ring)
	b := newServer(t, "b.test", 2, ring)
	alice := "@alice:a.test"
	evs := createPublicRoom(t, a, v, alice)
	roomID := evs[0].RoomID()
	federate(t, b, evs[:4])
	// A changed body: the signature still verifies, the content hash does
	// not, so b stores the event redacted.
	tampered := bytes.Replace(evs[4].JSON(), []byte(`"hello"`), []byte(`"evil!"`), 1)
	pdu, err := event.Parse(tampered, v)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := b.dag.Accept(ctx, pdu); err != nil || res.Outcome != Accepted {
		t.Fatalf("Accept = %v, %v", res, err)
	}
	want, err := b.dag.storeTimeline(ctx, roomID, 0, 0, true, 1)
	if err != nil || len(want) != 1 || want[0].Event.ID() != pdu.ID() {
		t.Fatalf("store's newest event: %v, %v", want, err)
	}
	for _, cached := range []bool{true, false} {
		if !cached {
			b.dag.events = newPDUCache(4096)
		}
		got, ok, err := b.dag.tailTimeline(ctx, roomID, 0, 0, true, 1)
		if err != nil || !ok {
			t.Fatalf("cached %v: tail answers %v, %v", cached, ok, err)
		}
		if err := sameTimeline(got, want); err != nil {
			t.Fatalf("cached %v: %v", cached, err)
		}
		if j := got[0].Event.JSON(); bytes.Contains(j, []byte("evil")) || bytes.Contains(j, []byte("hello")) {
			t.Fatalf("cached %v: the tail returned the event with its content: %s", cached, j)
		}
	}

	// A redaction changes no stored event: readers apply it by asking Info
	// (as /sync does), and the tail answers exactly as the store.
	red, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.redaction", Content: content(t, map[string]any{"redacts": evs[4].ID()}), Redacts: evs[4].ID()})
	if err != nil {
		t.Fatal(err)
	}
	want, err = a.dag.storeTimeline(ctx, roomID, 0, 0, true, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := a.dag.tailTimeline(ctx, roomID, 0, 0, true, 2)
	if err != nil || !ok {
		t.Fatalf("tail answers %v, %v", ok, err)
	}
	if err := sameTimeline(got, want); err != nil || got[1].Event.ID() != evs[4].ID() {
		t.Fatalf("after the redaction: %v, %v", got, err)
	}
	if info, err := a.dag.Info(ctx, got[1].Event.ID()); err != nil || info.RedactedBy != red.ID() {
		t.Fatalf("Info of the redacted message = %+v, %v", info, err)
	}
}

// TestTimelineTailAfterFailedCommit checks that a failed commit leaves
// nothing of its events in the tail: it forgets the tail, which the next
// commit starts again.
func TestTimelineTailAfterFailedCommit(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	alice := "@alice:a.test"
	roomID := createPublicRoom(t, s, roomversion.MustLookup("11"), alice)[0].RoomID()
	if floor, _, known := tailBounds(s.dag, roomID); !known || floor != 0 {
		t.Fatalf("a new room's tail has floor %d (known %v), want 0", floor, known)
	}
	p := Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": "x"})}
	p.Also = func(persist.Tx, *event.PDU) error { return errors.New("refused") }
	if _, err := s.dag.Send(ctx, roomID, p); err == nil {
		t.Fatal("Send succeeded although Also failed")
	}
	if _, _, known := tailBounds(s.dag, roomID); known {
		t.Fatal("the tail is still known after a failed commit")
	}
	sendMessages(t, s.dag, roomID, alice, 2)
	floor, top, known := tailBounds(s.dag, roomID)
	if !known || top-floor < 2 {
		t.Fatalf("tail (%d, %d] known %v after two sends", floor, top, known)
	}
	for _, limit := range []int{1, 2, 3, 10} {
		want, err := s.dag.storeTimeline(ctx, roomID, 0, 0, true, limit)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.dag.Timeline(ctx, roomID, 0, 0, true, limit)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameTimeline(got, want); err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
	}
}

// TestTimelineTailConcurrent sends to several rooms at once while readers
// ask for each room's timeline up to the watermark and up to its LastPos:
// no event at or below either may ever be missing.
func TestTimelineTailConcurrent(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	alice := "@alice:a.test"
	v := roomversion.MustLookup("11")
	const rooms, writers, each, readers = 4, 2, 60, 3
	// Sends to several rooms run at once: the test server's clock and
	// randomness need a lock.
	var mu sync.Mutex
	now, rand := s.dag.cfg.Now, s.dag.cfg.Rand
	s.dag.cfg.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now()
	}
	s.dag.cfg.Rand = lockedReader{&mu, rand}
	var roomIDs []string
	for range rooms {
		roomIDs = append(roomIDs, createPublicRoom(t, s, v, alice)[0].RoomID())
	}

	var writing sync.WaitGroup
	var sent sync.Map // event ID -> true
	for _, roomID := range roomIDs {
		for w := range writers {
			writing.Go(func() {
				for i := range each {
					p := Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": fmt.Sprint(w, "/", i)})}
					ev, err := s.dag.Send(ctx, roomID, p)
					if err != nil {
						t.Error(err)
						return
					}
					sent.Store(ev.ID(), true)
				}
			})
		}
	}
	done := make(chan struct{})
	go func() { writing.Wait(); close(done) }()

	var served atomic.Int64
	var reading sync.WaitGroup
	for range readers {
		reading.Go(func() {
			seen := make(map[string]uint64) // room -> position read up to
			for {
				// At least one pass, even if the writers finished first
				// (as they may where goroutines take turns, under js/wasm).
				for _, roomID := range roomIDs {
					if err := checkUpTo(ctx, s.dag, roomID, seen, &served); err != nil {
						t.Error(err)
						return
					}
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	reading.Wait()
	if t.Failed() {
		return
	}
	if served.Load() == 0 {
		t.Fatal("the tail answered none of the readers' calls")
	}
	n := 0
	for _, roomID := range roomIDs {
		all, err := s.dag.Timeline(ctx, roomID, 0, 0, false, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, te := range all {
			if _, ok := sent.Load(te.Event.ID()); ok {
				n++
			}
		}
	}
	if n != rooms*writers*each {
		t.Fatalf("the timelines hold %d of the %d events sent", n, rooms*writers*each)
	}
}

// lockedReader serialises reads of a reader.
type lockedReader struct {
	mu *sync.Mutex
	r  io.Reader
}

func (l lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// checkUpTo reads a room's timeline after seen[roomID] up to the watermark,
// forwards and backwards as /sync does, and its newest event at LastPos,
// and checks the answers against the store, which holds every event at or
// below the watermark once it is read. It counts in served the calls the
// tail answered.
func checkUpTo(ctx context.Context, d *DAG, roomID string, seen map[string]uint64, served *atomic.Int64) error {
	w, _ := d.Position()
	from := seen[roomID]
	type call struct {
		from, to  uint64
		backwards bool
		limit     int
	}
	for _, c := range []call{{from, w, false, 1000}, {w + 1, from + 1, true, 11}, {w + 1, from + 1, true, 1000}} {
		got, err := d.Timeline(ctx, roomID, c.from, c.to, c.backwards, c.limit)
		if err != nil {
			return err
		}
		fromTail, ok, err := d.tailTimeline(ctx, roomID, c.from, c.to, c.backwards, c.limit)
		if err != nil {
			return err
		}
		want, err := d.storeTimeline(ctx, roomID, c.from, c.to, c.backwards, c.limit)
		if err != nil {
			return err
		}
		if err := sameTimeline(got, want); err != nil {
			return fmt.Errorf("Timeline%+v up to watermark %d: %v", c, w, err)
		}
		if ok {
			served.Add(1)
			if err := sameTimeline(fromTail, want); err != nil {
				return fmt.Errorf("tail%+v up to watermark %d: %v", c, w, err)
			}
		}
	}
	seen[roomID] = w
	last, err := d.LastPos(ctx, roomID)
	if err != nil {
		return err
	}
	got, err := d.Timeline(ctx, roomID, last+1, 0, true, 1)
	if err != nil {
		return err
	}
	if len(got) != 1 || got[0].Pos != last {
		return fmt.Errorf("newest event at or below LastPos %d: %v", last, got)
	}
	return nil
}
