package notifications

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"hearth/core/event"
	"hearth/core/room"
	"hearth/persist"
)

// restart replaces the env's Service by a new one over the same store, as
// after a restart of the server.
func (e *env) restart() {
	e.t.Helper()
	e.svc.Close()
	svc, err := New(e.svc.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(svc.Close)
	e.svc = svc
}

func thread(root *event.PDU, body string) map[string]any {
	return map[string]any{"msgtype": "m.text", "body": body, "m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.ID()}}
}

func TestOneBatchSendersRead(t *testing.T) {
	e := newEnv(t)
	a := e.createRoom(bob)
	b := e.createRoom(bob, carol)
	root, _ := e.text(b, alice, "root")
	e.flush()

	// Everything in b is queued behind a1 and written in one batch.
	entered := e.rooms.block(a)
	e.text(a, alice, "a1")
	<-entered
	e.text(b, alice, "for bob and carol")
	e.send(b, alice, thread(root, "in the thread"))
	e.text(b, bob, "bob reads the main timeline")
	e.send(b, carol, thread(root, "carol reads the thread"))
	e.rooms.unblock()
	e.flush()
	for _, tc := range []struct {
		user string
		want [2]int
	}{
		{bob, [2]int{2, 0}},   // the thread's two: his main-timeline message read root and the first
		{carol, [2]int{3, 1}}, // root, the first (naming her) and bob's: her thread message read the thread's
		{alice, [2]int{2, 0}}, // bob's and carol's
	} {
		if got := e.counts(tc.user, b); got != tc.want {
			t.Errorf("%s: counts %v, want %v", tc.user, got, tc.want)
		}
	}
	list, _, err := e.svc.List(context.Background(), bob, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	var read []bool
	for _, n := range list {
		read = append(read, n.Read)
	}
	// Newest first: carol's, the thread's, the first, a1, root.
	if want := []bool{false, false, true, false, true}; !slices.Equal(read, want) {
		t.Fatalf("read flags %v, want %v", read, want)
	}
}

func TestCountsAfterRestart(t *testing.T) {
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnvOn(t, b.open(t))
			ctx := context.Background()
			r := e.createRoom(bob, carol)
			root, _ := e.text(r, alice, "root")
			_, tp := e.send(r, alice, thread(root, "bob: in the thread"))
			_, mp := e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "look", "m.mentions": map[string]any{"user_ids": []string{bob}}})
			if err := e.svc.MarkRead(ctx, bob, r, MainThread, mp-1); err != nil {
				t.Fatal(err)
			}
			e.flush()
			before := [2][2]int{e.counts(bob, r), e.counts(carol, r)}
			if before != [2][2]int{{2, 2}, {3, 0}} {
				t.Fatalf("counts before the restart %v", before)
			}
			e.restart()
			if after := [2][2]int{e.counts(bob, r), e.counts(carol, r)}; after != before {
				t.Fatalf("counts after the restart %v, before %v", after, before)
			}
			// The restarted Service goes on from the stored state.
			if err := e.svc.MarkRead(ctx, bob, r, root.ID(), tp); err != nil {
				t.Fatal(err)
			}
			e.text(r, alice, "more")
			if got := e.counts(bob, r); got != [2]int{2, 1} {
				t.Fatalf("bob after a threaded receipt and a message %v, want 2 1", got)
			}
			// A main-timeline message reads all but the thread's.
			e.text(r, carol, "carol reads")
			if got := e.counts(carol, r); got != [2]int{1, 0} {
				t.Fatalf("carol after sending %v, want 1 0", got)
			}
		})
	}
}

// feed writes batches of events at the given positions, as the worker
// would had they been observed in that order, and returns the positions
// that notify bob, newest first. Event i of evs goes to position i of a
// batch, cycling.
func feed(t *testing.T, e *env, evs []*event.PDU, batches [][]uint64) (all []uint64) {
	t.Helper()
	i := 0
	for _, positions := range batches {
		var batch []queued
		for _, p := range positions {
			batch = append(batch, queued{Added: room.Added{Event: evs[i%len(evs)], Pos: p}})
			i++
			all = append(all, p)
		}
		if n, err := e.svc.processBatch(context.Background(), batch); err != nil || n != len(batch) {
			t.Fatalf("processBatch: %d of %d, %v", n, len(batch), err)
		}
	}
	slices.Sort(all)
	slices.Reverse(all)
	return all
}

// twoRooms makes two rooms with bob and alice's messages in them, not
// observed.
func twoRooms(e *env, n int) []*event.PDU {
	e.manual = true
	rooms := []string{e.createRoom(bob), e.createRoom(bob)}
	var evs []*event.PDU
	for i := range n {
		ev, _ := e.text(rooms[i%2], alice, fmt.Sprint("message ", i))
		evs = append(evs, ev)
	}
	return evs
}

func TestListOverlappingChunks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches [][]uint64
	}{
		{"in order", [][]uint64{{1, 2, 3}, {4, 5}, {6}, {7, 8, 9, 10}}},
		{"slight overlaps", [][]uint64{{10, 12, 11}, {14, 13, 20}, {16, 15, 17}, {19, 18, 21}}},
		// A wide chunk holds the newest entry though others start
		// after it: stopping at the next chunk's end would miss it.
		{"a wide chunk", [][]uint64{{50, 60}, {70, 80}, {1, 100}, {30, 40}, {2, 3}}},
		{"one batch", [][]uint64{{9, 3, 7, 1, 5, 2, 8, 4, 6}}},
	} {
		for _, b := range testBackends {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				e := newEnvOn(t, b.open(t))
				evs := twoRooms(e, 6)
				want := feed(t, e, evs, tc.batches)
				for _, limit := range []int{1, 2, 3, 4, 7, 100} {
					var got []uint64
					var from uint64
					for pages := 0; ; pages++ {
						page, more, err := e.svc.List(context.Background(), bob, from, limit, false)
						if err != nil {
							t.Fatal(err)
						}
						if len(page) > limit || more && len(page) != limit || pages > len(want) {
							t.Fatalf("limit %d: page of %d, more %v", limit, len(page), more)
						}
						for _, n := range page {
							got = append(got, n.Pos)
							if n.RoomID != n.Event.RoomID() {
								t.Fatalf("entry at %d: room %s, event in %s", n.Pos, n.RoomID, n.Event.RoomID())
							}
						}
						if !more {
							break
						}
						from = page[len(page)-1].Pos
					}
					if !slices.Equal(got, want) {
						t.Fatalf("limit %d: pages gave %v, want %v", limit, got, want)
					}
				}
			})
		}
	}
}

func TestPruneBounds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"one at a time", slices.Repeat([]int{1}, 60)},
		{"growing", []int{1, 1, 30, 49, 70, 3, 1, 1}},
		{"one batch beyond twice MaxStored", []int{5, 120, 2, 2}},
		{"exactly MaxStored", []int{25, 25, 25, 25}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			evs := twoRooms(e, 4)
			var pos, total uint64
			largest := 0
			for _, size := range tc.sizes {
				positions := make([]uint64, size)
				for i := range positions {
					pos++
					positions[i] = pos
				}
				feed(t, e, evs, [][]uint64{positions})
				total += uint64(size)
				largest = max(largest, size)
				kept, n := listKeys(t, e.store, bob)
				st, err := e.svc.lists.load(nil, bob)
				if err != nil {
					t.Fatal(err)
				}
				k := uint64(len(kept))
				switch {
				case n != k || st.n != k:
					t.Fatalf("stored length %d, cached %d, %d entries", n, st.n, k)
				case k < min(total, 50):
					t.Fatalf("kept %d of %d, want at least 50", k, total)
				case k > 50+uint64(largest):
					t.Fatalf("kept %d, more than 50 and the largest batch %d", k, largest)
				case k >= 50+st.oldestN:
					t.Fatalf("kept %d, with an oldest chunk of %d that could go", k, st.oldestN)
				case kept[0] != total-k+1:
					t.Fatalf("kept %v, not the newest", kept)
				}
			}
			list, more, err := e.svc.List(context.Background(), bob, 0, 1000, false)
			if kept, _ := listKeys(t, e.store, bob); err != nil || more || len(list) != len(kept) {
				t.Fatalf("List %d entries, more %v, %v; %d stored", len(list), more, err, len(kept))
			}
		})
	}
}

func TestCorruptRecords(t *testing.T) {
	garbage := []byte{0xff, 0xff, 0xff}
	for _, tc := range []struct {
		name string
		key  func(roomID string, pos uint64) []byte
		// do reads or writes the record.
		do func(e *env, roomID string, ev *event.PDU, pos uint64) error
	}{{
		name: "counts",
		key:  func(r string, _ uint64) []byte { return countKey(bob, r) },
		do: func(e *env, r string, _ *event.PDU, _ uint64) error {
			_, _, err := e.svc.Counts(context.Background(), bob, r)
			return err
		},
	}, {
		name: "read marker",
		key:  func(r string, _ uint64) []byte { return readKey(bob, r, "") },
		do: func(e *env, r string, _ *event.PDU, pos uint64) error {
			return e.svc.MarkRead(context.Background(), bob, r, "", pos)
		},
	}, {
		name: "unread chunk",
		key:  func(r string, pos uint64) []byte { return unreadKey(bob, r, pos) },
		do: func(e *env, r string, _ *event.PDU, pos uint64) error {
			return e.svc.MarkRead(context.Background(), bob, r, "", pos)
		},
	}, {
		name: "list chunk",
		key:  func(_ string, pos uint64) []byte { return listKey(bob, pos, pos) },
		do: func(e *env, _ string, _ *event.PDU, _ uint64) error {
			_, _, err := e.svc.List(context.Background(), bob, 0, 10, false)
			return err
		},
	}, {
		name: "list state, read by List",
		key:  func(string, uint64) []byte { return listCountKey(bob) },
		do: func(e *env, _ string, _ *event.PDU, _ uint64) error {
			_, _, err := e.svc.List(context.Background(), bob, 0, 10, false)
			return err
		},
	}, {
		name: "list state, read by the evaluator",
		key:  func(string, uint64) []byte { return listCountKey(bob) },
		do: func(e *env, _ string, ev *event.PDU, pos uint64) error {
			_, err := e.svc.processBatch(context.Background(), []queued{{Added: room.Added{Event: ev, Pos: pos + 1}}})
			return err
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.manual = true
			r := e.createRoom(bob)
			ev, pos := e.text(r, alice, "hi")
			if err := e.store.Update(context.Background(), func(tx persist.Tx) error {
				return tx.Set(tc.key(r, pos), garbage)
			}); err != nil {
				t.Fatal(err)
			}
			if err := tc.do(e, r, ev, pos); !errors.Is(err, errCorrupt) {
				t.Fatalf("got %v, want a corrupt record error", err)
			}
		})
	}
}

// TestTruncatedChunks checks that every cut of a valid chunk, and some
// garbage, decode to errors rather than panics or wrong entries.
func TestTruncatedChunks(t *testing.T) {
	list := encodeListChunk([]listEntry{
		{pos: 7, roomID: "!r", eventID: "$e1", actions: `["notify"]`, ts: 1700000000000, highlight: true, thread: MainThread},
		{pos: 300, roomID: "!s", eventID: "$e2", actions: `["notify"]`, ts: -1, thread: "$root"},
	})
	unread := encodeUnreadChunk([]unreadEntry{{pos: 7, thread: MainThread, highlight: true}, {pos: 300, thread: "$root"}})
	for _, tc := range []struct {
		name   string
		raw    []byte
		decode func([]byte) (int, error)
	}{
		{"list", list, func(b []byte) (int, error) { es, err := decodeListChunk(b); return len(es), err }},
		{"unread", unread, func(b []byte) (int, error) { es, err := decodeUnreadChunk(b); return len(es), err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := tc.decode(tc.raw); err != nil || n != 2 {
				t.Fatalf("whole chunk: %d entries, %v", n, err)
			}
			bad := [][]byte{
				append(slices.Clone(tc.raw), 0),
				{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0},
				{1, 0, 7, 0, 0}, // a reference into an empty string table
			}
			for i := range len(tc.raw) {
				bad = append(bad, tc.raw[:i])
			}
			for _, b := range bad {
				if _, err := tc.decode(b); !errors.Is(err, errCorrupt) {
					t.Errorf("%x: %v, want a corrupt record error", b, err)
				}
			}
		})
	}
}
