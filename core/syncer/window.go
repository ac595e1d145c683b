package syncer

import (
	"context"
	"fmt"

	"hearth/core/room"
)

// window is the part of a room's timeline a response carries.
type window struct {
	// picked are the events to send, oldest first.
	picked []room.TimelineEvent
	// scanned are all events read from the first picked one (or the
	// oldest read, when none was picked) to the upper bound, oldest first,
	// including those the filter or visibility dropped.
	scanned []room.TimelineEvent
	// limited says events in range before picked[0] that the client
	// could see were left out.
	limited bool
	// skipped says events in range before picked[0] were read and dropped
	// (filtered out or invisible), so the client did not see them either.
	skipped bool
	// oldest is the position of the oldest event read, or upper+1.
	oldest uint64
}

// scanFactor bounds how many events a window reads per event it may return,
// so a filter that drops almost everything cannot make a sync read a whole
// room.
const scanFactor = 10

// window reads, newest first, up to the timeline limit of events of roomID
// with positions in (lower, upper] that pass the timeline filter and that the
// user may see. Events at or after visibleFrom are visible without asking.
func (r *run) window(ctx context.Context, roomID string, lower, upper, visibleFrom uint64) (window, error) {
	limit := r.f.TimelineLimit()
	tf := r.f.Timeline()
	maxScan := max(scanFactor*limit, 100)
	w := window{oldest: upper + 1}
	var picked, scanned []room.TimelineEvent // newest first
	cursor := upper + 1
	batch := limit + 1
	done := false
	for !done {
		evs, err := r.s.cfg.DAG.Timeline(ctx, roomID, cursor, lower+1, true, batch)
		if err != nil {
			return w, fmt.Errorf("syncer: timeline of %s: %w", roomID, err)
		}
		for _, te := range evs {
			if te.Pos <= lower {
				done = true
				break
			}
			cursor = te.Pos
			w.oldest = te.Pos
			ev := te.Event
			if !tf.MatchEvent(roomID, ev.Type(), ev.Sender(), ev.Content()) || (r.ignored[ev.Sender()] && !ev.IsState()) {
				scanned = append(scanned, te)
				continue
			}
			ok, err := r.visible(ctx, te, visibleFrom)
			if err != nil {
				return w, err
			}
			if !ok {
				scanned = append(scanned, te)
				continue
			}
			if len(picked) == limit {
				w.limited = true
				done = true
				break
			}
			picked = append(picked, te)
			scanned = append(scanned, te)
		}
		if len(evs) < batch {
			break
		}
		if len(scanned) >= maxScan && !done {
			// Too much was dropped to keep looking: let the client
			// paginate from here.
			w.limited = true
			break
		}
		batch = min(batch*2, maxScan)
	}
	// scanned holds, newest first, every event read up to the oldest
	// picked; events after that one in the slice are older.
	if n := len(picked); n > 0 {
		oldest := picked[n-1].Pos
		cut := len(scanned)
		for i, te := range scanned {
			if te.Pos == oldest {
				cut = i + 1
				break
			}
		}
		w.skipped = cut < len(scanned)
		scanned = scanned[:cut]
	} else {
		w.skipped = len(scanned) > 0
	}
	w.picked = reversed(picked)
	w.scanned = reversed(scanned)
	return w, nil
}

func reversed(evs []room.TimelineEvent) []room.TimelineEvent {
	out := make([]room.TimelineEvent, len(evs))
	for i, te := range evs {
		out[len(evs)-1-i] = te
	}
	return out
}

// visible reports whether the user may see a timeline event.
func (r *run) visible(ctx context.Context, te room.TimelineEvent, visibleFrom uint64) (bool, error) {
	v := r.s.cfg.Visibility
	if v == nil || te.Pos >= visibleFrom {
		return true, nil
	}
	if k, ok := te.Event.StateKey(); ok && k == r.req.UserID && te.Event.Type() == "m.room.member" {
		// Users always see their own membership changes.
		return true, nil
	}
	ok, err := v.CanSee(ctx, r.req.UserID, te.Event)
	if err != nil {
		return false, fmt.Errorf("syncer: visibility of %s: %w", te.Event.ID(), err)
	}
	return ok, nil
}
