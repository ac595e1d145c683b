package notifications

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"hearth/persist"
)

// unreadOp is one step of a transaction's unread state: a notification
// (read false) or a read marker move (read true).
type unreadOp struct {
	read      bool
	room      string
	thread    string
	pos       uint64
	highlight bool
}

const (
	opUser = "@u:a.test"
	opRoom = "!r:a.test"
)

func hitAt(pos uint64, thread string) unreadOp {
	return unreadOp{room: opRoom, thread: thread, pos: pos}
}

func readAt(pos uint64, thread string) unreadOp {
	return unreadOp{read: true, room: opRoom, thread: thread, pos: pos}
}

// applyOps runs ops in one transaction through a txState, as the worker
// and MarkRead do.
func applyOps(t testing.TB, store persist.Store, ops []unreadOp) {
	t.Helper()
	err := store.Update(context.Background(), func(tx persist.Tx) error {
		st := newTxState(tx)
		for _, o := range ops {
			room := o.room
			if room == "" {
				room = opRoom
			}
			var err error
			if o.read {
				err = st.markRead(opUser, room, o.thread, o.pos)
			} else {
				err = st.notify(opUser, room, o.thread, o.pos, o.highlight)
			}
			if err != nil {
				return err
			}
		}
		return st.flush()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storedUnread returns the positions of the stored unread entries and the
// keys (largest positions) of their chunks, checking that every chunk is
// keyed by its largest position and that the counts match the entries.
func storedUnread(t testing.TB, store persist.Store, roomID string) (positions, keys []uint64) {
	t.Helper()
	err := store.View(context.Background(), func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: unreadPrefix(opUser, roomID)})
		defer it.Close()
		var hl int64
		for it.Next() {
			key, err := posSuffix(it.Key())
			if err != nil {
				return err
			}
			entries, err := decodeUnreadChunk(it.Value())
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("empty chunk at %d", key)
			}
			if _, hi := posRange(entries, func(e unreadEntry) uint64 { return e.pos }); hi != key {
				return fmt.Errorf("chunk at %d holds entries up to %d", key, hi)
			}
			keys = append(keys, key)
			for _, e := range entries {
				positions = append(positions, e.pos)
				hl += highlights(e)
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		n, h, err := counts(tx, opUser, roomID)
		if err != nil {
			return err
		}
		if n != int64(len(positions)) || h != hl {
			return fmt.Errorf("counts %d %d, stored entries %d with %d highlights", n, h, len(positions), hl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(positions)
	return positions, keys
}

func TestUnreadMarkers(t *testing.T) {
	hl := func(o unreadOp) unreadOp { o.highlight = true; return o }
	other := func(o unreadOp) unreadOp { o.room = "!other:a.test"; return o }
	for _, tc := range []struct {
		name    string
		batches [][]unreadOp
		unread  []uint64
		keys    []uint64
	}{{
		name: "unthreaded receipt across batches",
		batches: [][]unreadOp{
			{hitAt(1, MainThread), hl(hitAt(2, MainThread)), hitAt(3, "$t")},
			{readAt(2, "")},
		},
		unread: []uint64{3}, keys: []uint64{3},
	}, {
		name: "threaded receipt rewrites the chunk under its new largest position",
		batches: [][]unreadOp{
			{hitAt(1, MainThread), hitAt(2, "$t"), hitAt(3, MainThread), hitAt(4, "$t")},
			{readAt(4, "$t")},
		},
		unread: []uint64{1, 3}, keys: []uint64{3},
	}, {
		name: "threaded receipt reads the middle of a chunk",
		batches: [][]unreadOp{
			{hitAt(1, MainThread), hl(hitAt(2, "$t")), hitAt(3, MainThread)},
			{readAt(2, "$t")},
		},
		unread: []uint64{1, 3}, keys: []uint64{3},
	}, {
		name: "markers moved within the batch read its own entries",
		batches: [][]unreadOp{
			{hitAt(1, MainThread), hitAt(2, "$t"), readAt(1, MainThread), hitAt(3, MainThread), readAt(3, "$t")},
		},
		unread: []uint64{3}, keys: []uint64{3},
	}, {
		name: "an unthreaded move within the batch reads every thread",
		batches: [][]unreadOp{
			{hitAt(1, "$a"), hitAt(2, "$b"), hitAt(3, MainThread), readAt(2, ""), hitAt(4, "$a")},
		},
		unread: []uint64{3, 4}, keys: []uint64{4},
	}, {
		name: "a hit the user has read past is not unread",
		batches: [][]unreadOp{
			{readAt(5, "")},
			{hitAt(3, MainThread), hitAt(6, MainThread), readAt(9, "$t"), hitAt(7, "$t")},
		},
		unread: []uint64{6}, keys: []uint64{6},
	}, {
		name: "a marker behind the current one changes nothing",
		batches: [][]unreadOp{
			{hitAt(5, MainThread)},
			{readAt(7, "")},
			{readAt(3, ""), hitAt(8, MainThread)},
			{readAt(6, "")},
		},
		unread: []uint64{8}, keys: []uint64{8},
	}, {
		name: "a threaded marker, then an unthreaded one behind it",
		batches: [][]unreadOp{
			{hitAt(1, "$a"), hitAt(2, "$b"), hitAt(3, MainThread)},
			{readAt(10, "$b")},
			{readAt(2, "")},
		},
		unread: []uint64{3}, keys: []uint64{3},
	}, {
		name: "several chunks: the walk drops whole and partial ones",
		batches: [][]unreadOp{
			{hitAt(1, MainThread), hitAt(2, MainThread)},
			{hitAt(3, MainThread), hitAt(4, "$t")},
			{hitAt(5, MainThread)},
			{readAt(3, ""), readAt(5, MainThread)},
		},
		unread: []uint64{4}, keys: []uint64{4},
	}, {
		name: "other rooms are untouched",
		batches: [][]unreadOp{
			{hitAt(1, MainThread), other(hitAt(2, MainThread)), other(readAt(2, ""))},
			{other(hitAt(3, MainThread)), other(readAt(9, ""))},
		},
		unread: []uint64{1}, keys: []uint64{1},
	}, {
		name: "everything read",
		batches: [][]unreadOp{
			{hitAt(1, MainThread), hitAt(2, "$t")},
			{readAt(1, MainThread)},
			{readAt(2, "$t")},
		},
	}} {
		for _, b := range testBackends {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				store := b.open(t)
				for _, ops := range tc.batches {
					applyOps(t, store, ops)
				}
				unread, keys := storedUnread(t, store, opRoom)
				if !slices.Equal(unread, tc.unread) || !slices.Equal(keys, tc.keys) {
					t.Fatalf("unread %v in chunks %v, want %v in %v", unread, keys, tc.unread, tc.keys)
				}
			})
		}
	}
}

// TestUnreadModel applies random notifications and marker moves, in
// random batches, and compares the stored entries with a model that
// decides each entry by the final markers.
func TestUnreadModel(t *testing.T) {
	threads := []string{"", MainThread, "$a", "$b"}
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			store := b.open(t)
			markers := map[string]uint64{}
			type entry struct {
				pos    uint64
				thread string
			}
			var unread []entry
			var pos uint64
			for range 200 {
				ops := make([]unreadOp, rng.IntN(8))
				for i := range ops {
					if rng.IntN(3) == 0 {
						th := threads[rng.IntN(len(threads))]
						p := pos - min(pos, uint64(rng.IntN(5)))
						ops[i] = readAt(p, th)
						markers[th] = max(markers[th], p)
						unread = slices.DeleteFunc(unread, func(e entry) bool {
							return e.pos <= max(markers[""], markers[e.thread])
						})
						continue
					}
					pos++
					th := threads[1+rng.IntN(len(threads)-1)]
					ops[i] = unreadOp{room: opRoom, thread: th, pos: pos, highlight: rng.IntN(4) == 0}
					if pos > max(markers[""], markers[th]) {
						unread = append(unread, entry{pos, th})
					}
				}
				applyOps(t, store, ops)
				var want []uint64
				for _, e := range unread {
					want = append(want, e.pos)
				}
				if got, _ := storedUnread(t, store, opRoom); !slices.Equal(got, want) {
					t.Fatalf("stored unread %v, want %v (markers %v)", got, want, markers)
				}
			}
		})
	}
}
