package room

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"hearth/persist"
)

// The tail of a room's timeline.
//
// /sync and the unread counts ask, for every room in every answer, for the
// last few events of the room's timeline. Reading them from the store costs
// a View and an iterator per call, which under load was about 5% of the
// server's CPU. So each room keeps its newest timeline entries (position and
// event ID) in memory, in roomEntry.tail, and Timeline answers from there
// when it can, taking the events from the parsed-event cache.
//
// A known tail holds every timeline entry of its room with a position in
// (floor, top]. It says nothing of the entries at or below floor, and it
// knows none above top: it answers as a store read made at some moment since
// the room's last write would. That is what the store path gives too, and
// no caller can tell the difference, because:
//
//   - addChain, the only writer of timeline entries, appends a commit's
//     entries after the store's Update returned (so the tail never holds
//     what a store reader could not see), under the room's write lock (so
//     in commit order, which is position order within a room), together
//     with the room's new metadata (so LastPos never runs ahead of the
//     tail), and before the stream positions are finished, OnAccepted runs
//     or Send returns. Every position at or below the watermark is thus in
//     the tail already, and so is every event a caller knows was written.
//   - A tail is started empty, with floor = top = the room's LastPos, when
//     the room's metadata is first read from the store (the metadata and
//     the timeline are written together, so that snapshot holds no entry
//     above LastPos), or, when nothing is known, by the first commit after
//     the positions before its own (with floor 0 for a new room).
//   - When it would grow beyond tailSize entries it drops the oldest and
//     raises floor to its position.
//   - A failed commit forgets the tail, which the next commit starts again
//     (see addChain).
//
// The tail assumes, as the cached room metadata does, that this DAG is the
// only writer of its store's rooms.

// tailSize is how many timeline entries a room's tail keeps at most: /sync
// asks for its timeline limit plus one, the unread counts for 64 at first.
const tailSize = 64

// tailEntry is one timeline entry: an event's stream position and ID.
type tailEntry struct {
	pos uint64
	id  string
}

// tail is the newest part of one room's timeline; roomEntry.mu guards it.
type tail struct {
	// known says that entries holds every timeline entry of the room with
	// a position in (floor, top]. It is false until the room's metadata is
	// loaded or a commit adds entries, and after a failed commit.
	known      bool
	floor, top uint64
	// entries are sorted by position, all in (floor, top], at most
	// tailSize of them.
	entries []tailEntry
}

// start makes the tail known and empty, complete for positions above floor.
func (t *tail) start(floor uint64) {
	*t = tail{known: true, floor: floor, top: floor, entries: t.entries[:0]}
}

// forget makes the tail unknown, so that reads go to the store until a
// commit starts it again.
func (t *tail) forget() { *t = tail{} }

// add appends the entries of a commit, oldest first. An unknown tail first
// starts at floor, which must be below the first entry and such that the
// room has no entry in (floor, first]. Entries at or below top are already
// covered (the tail was started from a store snapshot that held them).
func (t *tail) add(es []tailEntry, floor uint64) {
	if len(es) == 0 {
		return
	}
	if !t.known {
		t.start(floor)
	}
	for _, te := range es {
		if te.pos <= t.top {
			continue
		}
		if len(t.entries) == tailSize {
			t.floor = t.entries[0].pos
			t.entries = append(t.entries[:0], t.entries[1:]...)
		}
		t.entries = append(t.entries, te)
		t.top = te.pos
	}
}

// read returns, in a new slice, the entries Timeline asks for (see it for
// from, to, backwards and limit) and whether they are the whole answer:
// false when the answer may hold entries at or below floor, which only the
// store knows.
func (t *tail) read(from, to uint64, backwards bool, limit int) ([]tailEntry, bool) {
	if !t.known {
		return nil, false
	}
	byPos := func(te tailEntry, pos uint64) int { return cmp.Compare(te.pos, pos) }
	var out []tailEntry
	if backwards {
		// Positions in [to, from), newest first.
		i := len(t.entries)
		if from > 0 {
			i, _ = slices.BinarySearchFunc(t.entries, from, byPos)
		}
		for i--; i >= 0 && len(out) < limit && t.entries[i].pos >= to; i-- {
			out = append(out, t.entries[i])
		}
		// Positions start at 1, so a floor of 0 misses nothing.
		return out, len(out) == limit || max(to, 1) > t.floor
	}
	// Positions in (from, to], oldest first.
	if from < t.floor {
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(t.entries, from+1, byPos)
	for ; i < len(t.entries) && len(out) < limit && (to == 0 || t.entries[i].pos <= to); i++ {
		out = append(out, t.entries[i])
	}
	return out, true
}

// addToTail records in the room's tail the timeline entries of a commit
// that just succeeded, as publish does the metadata, under e.mu: as, with
// their positions (0 for events outside the timeline), are the commit's
// additions in order. A tail that is not known starts just below them, or
// at 0 for a new room, which has no earlier entries.
func (e *roomEntry) addToTail(as []addition, positions []uint64) {
	var es []tailEntry
	for i, a := range as {
		if positions[i] != 0 {
			es = append(es, tailEntry{pos: positions[i], id: a.pdu.ID()})
		}
	}
	if len(es) == 0 {
		return
	}
	floor := es[0].pos - 1
	if as[0].prev == nil {
		floor = 0
	}
	e.mu.Lock()
	e.tail.add(es, floor)
	e.mu.Unlock()
}

// forgetTail makes the room's tail unknown, after a commit that failed.
func (e *roomEntry) forgetTail() {
	e.mu.Lock()
	e.tail.forget()
	e.mu.Unlock()
}

// tailTimeline answers a Timeline call from the room's tail, and reports
// whether it could; when it could not, the store must answer. The events
// come from the parsed-event cache, and those missing from it are read in
// one View with load, as the store path reads them.
func (d *DAG) tailTimeline(ctx context.Context, roomID string, from, to uint64, backwards bool, limit int) ([]TimelineEvent, bool, error) {
	e := d.entry(roomID)
	if _, err := d.meta(ctx, roomID, e); err != nil {
		// An unknown room has an empty timeline, and a failed read is
		// the store path's to report.
		return nil, false, nil
	}
	e.mu.Lock()
	entries, ok := e.tail.read(from, to, backwards, limit)
	e.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	if len(entries) == 0 {
		return nil, true, nil
	}
	out := make([]TimelineEvent, len(entries))
	missing := false
	for i, te := range entries {
		ce, ok := d.events.get(te.id)
		if !ok {
			missing = true
			continue
		}
		out[i] = TimelineEvent{Event: ce.pdu, Pos: te.pos}
	}
	if !missing {
		return out, true, nil
	}
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		for i, te := range entries {
			if out[i].Event != nil {
				continue
			}
			ce, err := d.load(tx, te.id)
			if err != nil {
				return err
			}
			out[i] = TimelineEvent{Event: ce.pdu, Pos: te.pos}
		}
		return nil
	})
	if err != nil {
		return nil, true, fmt.Errorf("room: timeline of %s: %w", roomID, err)
	}
	return out, true, nil
}
