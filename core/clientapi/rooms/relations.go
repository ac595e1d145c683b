package rooms

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/room"
	"hearth/core/synctoken"
	"hearth/core/visibility"
	"hearth/persist"
)

const (
	prefixRelation    = "rooms/rel/"
	prefixThread      = "rooms/thread/"
	prefixThreadAct   = "rooms/tact/"
	prefixThreadParts = "rooms/tpart/"

	relThread = "m.thread"

	defaultRelationsLimit = 5
	maxRelationsLimit     = 100
	// recurseDepth is how many levels of relations recurse=true follows
	// (the spec asks for at least 3), and maxRecursed bounds the events
	// it gathers.
	recurseDepth = 3
	maxRecursed  = 2000
	// maxThreadScan bounds the threads /threads?include=participated
	// examines for one page.
	maxThreadScan = 500
)

// relation is an index entry: a child event of a parent.
type relation struct {
	EventID string `json:"e"`
	RelType string `json:"r"`
	Type    string `json:"t"`
	Sender  string `json:"s"`
	// Pos is the child's stream position (from the key; not stored).
	Pos uint64 `json:"-"`
}

// threadRecord is what the index keeps about a thread.
type threadRecord struct {
	// Latest is the stream position of the latest event in the thread.
	Latest uint64 `json:"p"`
	// LatestID is that event's ID.
	LatestID string `json:"l"`
	// Count is the number of events in the thread, root excluded.
	Count int `json:"n"`
}

func relationPrefix(parentID string) []byte { return []byte(prefixRelation + parentID + "\x00") }

func relationKey(parentID string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(relationPrefix(parentID), pos)
}

func threadKey(roomID, rootID string) []byte {
	return []byte(prefixThread + roomID + "\x00" + rootID)
}

func threadActPrefix(roomID string) []byte { return []byte(prefixThreadAct + roomID + "\x00") }

func threadActKey(roomID string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(threadActPrefix(roomID), pos)
}

func threadPartKey(roomID, rootID, userID string) []byte {
	return []byte(prefixThreadParts + roomID + "\x00" + rootID + "\x00" + userID)
}

// relatesTo returns the rel_type and event_id of an event's m.relates_to,
// or empty strings when it has none.
func relatesTo(ev *event.PDU) (relType, parent string) {
	var c struct {
		RelatesTo struct {
			RelType any `json:"rel_type"`
			EventID any `json:"event_id"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(ev.Content(), &c) != nil {
		return "", ""
	}
	relType, _ = c.RelatesTo.RelType.(string)
	parent, _ = c.RelatesTo.EventID.(string)
	if relType == "" || parent == "" {
		return "", ""
	}
	return relType, parent
}

// Index indexes the relation an event just added to a room's timeline
// carries, for /relations, /threads and thread summaries, with tx, the
// transaction that stores the event: wire it as room.Config.Index, so that
// the index is durable exactly when the event is and costs no commit of its
// own. Config.Store must then be the DAG's store. Events without a relation
// write nothing.
//
// The DAG calls it with the room's write lock held: it reads events only
// through DAG methods that take no room lock (Event), never CurrentState,
// Version or LastPos, which would deadlock.
func (h *Handlers) Index(tx persist.Tx, a room.Added) error {
	ev, pos := a.Event, a.Pos
	relType, parent := relatesTo(ev)
	if relType == "" || parent == ev.ID() {
		return nil
	}
	raw, err := json.Marshal(relation{EventID: ev.ID(), RelType: relType, Type: ev.Type(), Sender: ev.Sender()})
	if err != nil {
		return fmt.Errorf("rooms: encode relation: %w", err)
	}
	if err := tx.Set(relationKey(parent, pos), raw); err != nil {
		return fmt.Errorf("rooms: store relation: %w", err)
	}
	if relType != relThread {
		return nil
	}
	if err := h.indexThread(tx, ev, parent, pos); err != nil {
		return fmt.Errorf("rooms: index thread %s: %w", parent, err)
	}
	return nil
}

// indexThread counts ev, at pos, in the thread of root and makes it the
// thread's latest event when it is.
func (h *Handlers) indexThread(tx persist.Tx, ev *event.PDU, root string, pos uint64) error {
	roomID := ev.RoomID()
	var rec threadRecord
	old, err := tx.Get(threadKey(roomID, root))
	switch {
	case err == nil:
		if err := json.Unmarshal(old, &rec); err != nil {
			return fmt.Errorf("thread record: %w", err)
		}
		if err := tx.Delete(threadActKey(roomID, rec.Latest)); err != nil {
			return err
		}
	case errors.Is(err, persist.ErrNotFound):
		// A new thread: its root's sender takes part in it.
		rootSender, err := h.rootSender(roomID, root)
		if err != nil {
			return err
		}
		if rootSender != "" {
			if err := tx.Set(threadPartKey(roomID, root, rootSender), nil); err != nil {
				return err
			}
		}
	default:
		return err
	}
	rec.Count++
	if pos > rec.Latest {
		rec.Latest, rec.LatestID = pos, ev.ID()
	}
	enc, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := tx.Set(threadKey(roomID, root), enc); err != nil {
		return err
	}
	if err := tx.Set(threadActKey(roomID, rec.Latest), []byte(root)); err != nil {
		return err
	}
	return tx.Set(threadPartKey(roomID, root, ev.Sender()), nil)
}

// rootSender returns the sender of a thread's root event, or "" when the
// root is unknown or in another room. It reads through the DAG, which takes
// no room lock for Event.
func (h *Handlers) rootSender(roomID, root string) (string, error) {
	ev, err := h.dag.Event(context.Background(), root)
	switch {
	case errors.Is(err, room.ErrUnknownEvent):
		return "", nil
	case err != nil:
		return "", err
	case ev.RoomID() != roomID:
		return "", nil
	}
	return ev.Sender(), nil
}

// children returns the relations of parent with positions in the range
// (lo, hi] (hi 0 for no upper bound), newest first when backwards.
func (h *Handlers) children(ctx context.Context, parent string, lo, hi uint64, backwards bool, limit int) ([]relation, error) {
	opts := persist.IterOptions{Prefix: relationPrefix(parent), Start: relationKey(parent, lo+1), Reverse: backwards}
	if hi > 0 {
		opts.End = relationKey(parent, hi+1)
	}
	var out []relation
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(opts)
		defer it.Close()
		n := len(relationPrefix(parent))
		for len(out) < limit && it.Next() {
			var rel relation
			if err := json.Unmarshal(it.Value(), &rel); err != nil {
				return fmt.Errorf("rooms: relation record: %w", err)
			}
			k := it.Key()
			if len(k) != n+8 {
				return fmt.Errorf("rooms: relation key %q", k)
			}
			rel.Pos = binary.BigEndian.Uint64(k[n:])
			out = append(out, rel)
		}
		return it.Err()
	})
	return out, err
}

func (h *Handlers) relations(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID, parent := r.PathValue("roomId"), r.PathValue("eventId")
	relType, eventType := r.PathValue("relType"), r.PathValue("eventType")
	q := r.URL.Query()
	backwards := true
	switch q.Get("dir") {
	case "", "b":
	case "f":
		backwards = false
	default:
		clientapi.WriteError(w, invalidParam("dir must be \"b\" or \"f\""))
		return
	}
	recurse := false
	switch q.Get("recurse") {
	case "", "false":
	case "true":
		recurse = true
	default:
		clientapi.WriteError(w, invalidParam("recurse must be true or false"))
		return
	}
	pr, err := parsePage(r, nil, defaultRelationsLimit, maxRelationsLimit)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	limit, from, hasFrom, to, hasTo := pr.limit, pr.from, pr.hasFrom, pr.to, pr.hasTo
	if _, err := h.visibleEvent(ctx, c.UserID, roomID, parent); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	viewer, err := visibility.NewViewer(ctx, h.dag, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	// The range of positions, (lo, hi], to walk.
	var lo, hi uint64
	if backwards {
		if hasFrom {
			hi = from
		}
		if hasTo {
			lo = to
		}
	} else {
		if hasFrom {
			lo = from
		}
		if hasTo {
			hi = to
		}
	}
	if hasFrom && hasTo && lo >= hi {
		clientapi.WriteJSON(w, http.StatusOK, map[string]any{"chunk": []json.RawMessage{}})
		return
	}
	fetch, err := h.relationSource(ctx, parent, lo, hi, backwards, recurse)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	var kept []*event.PDU
	var next uint64
	more := false
	skipped := 0
walk:
	for {
		batch, err := fetch()
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		if len(batch) == 0 {
			break
		}
		for _, rel := range batch {
			if len(kept) == limit || skipped >= maxSkipped {
				more = true
				break walk
			}
			if backwards {
				next = rel.Pos - 1
			} else {
				next = rel.Pos
			}
			ok, err := h.keepRelation(ctx, viewer, roomID, rel, relType, eventType)
			if err != nil {
				clientapi.WriteError(w, err)
				return
			}
			if !ok {
				skipped++
				continue
			}
			ev, err := h.dag.Event(ctx, rel.EventID)
			if err != nil {
				clientapi.WriteError(w, err)
				return
			}
			kept = append(kept, ev)
		}
	}
	chunk, err := h.newView(ctx, c).formatAll(kept, true)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	resp := map[string]any{"chunk": chunk}
	if more {
		resp["next_batch"] = synctoken.Format(next)
	}
	if hasFrom {
		resp["prev_batch"] = q.Get("from")
	}
	if recurse {
		resp["recursion_depth"] = recurseDepth
	}
	clientapi.WriteJSON(w, http.StatusOK, resp)
}

// relationSource returns a function that yields the relations of parent
// with positions in (lo, hi] (hi 0 for no bound) in batches, in the
// direction asked, and an empty batch at the end. With recurse it yields
// the relations of the parent's descendants too, in one batch.
func (h *Handlers) relationSource(ctx context.Context, parent string, lo, hi uint64, backwards, recurse bool) (func() ([]relation, error), error) {
	done := false
	if recurse {
		all, err := h.descendants(ctx, parent)
		if err != nil {
			return nil, err
		}
		kept := all[:0]
		for _, rel := range all {
			if inRange(rel.Pos, lo, hi) {
				kept = append(kept, rel)
			}
		}
		sort.Slice(kept, func(i, j int) bool { return (kept[i].Pos < kept[j].Pos) != backwards })
		return func() ([]relation, error) {
			if done {
				return nil, nil
			}
			done = true
			return kept, nil
		}, nil
	}
	return func() ([]relation, error) {
		if done {
			return nil, nil
		}
		batch, err := h.children(ctx, parent, lo, hi, backwards, timelineBatch)
		if err != nil {
			return nil, err
		}
		if len(batch) < timelineBatch {
			done = true
		}
		if n := len(batch); n > 0 {
			if backwards {
				hi = batch[n-1].Pos - 1
				done = done || hi <= lo
			} else {
				lo = batch[n-1].Pos
			}
		}
		return batch, nil
	}, nil
}

// inRange reports whether pos is in (lo, hi], hi 0 meaning no bound.
func inRange(pos, lo, hi uint64) bool { return pos > lo && (hi == 0 || pos <= hi) }

// keepRelation reports whether a child passes the path's filters, is part
// of the timeline of roomID (a relation names its parent by event ID only,
// so events of other rooms can claim any parent), has not been redacted,
// and is visible to the user.
func (h *Handlers) keepRelation(ctx context.Context, viewer *visibility.Viewer, roomID string, rel relation, relType, eventType string) (bool, error) {
	if (relType != "" && rel.RelType != relType) || (eventType != "" && rel.Type != eventType) {
		return false, nil
	}
	info, err := h.dag.Info(ctx, rel.EventID)
	if errors.Is(err, room.ErrUnknownEvent) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !info.InTimeline || info.Event.RoomID() != roomID {
		return false, nil
	}
	if info.RedactedBy != "" {
		v := &view{h: h, ctx: ctx}
		red, err := v.applicableRedaction(info.Event, info.RedactedBy)
		if err != nil {
			return false, err
		}
		if red != nil {
			return false, nil
		}
	}
	return viewer.CanSee(ctx, info.Event, info.Pos)
}

// descendants gathers the relations of parent and, recursively, of its
// children, down to recurseDepth levels and at most maxRecursed events.
func (h *Handlers) descendants(ctx context.Context, parent string) ([]relation, error) {
	var out []relation
	level := []string{parent}
	seen := map[string]bool{parent: true}
	for depth := 0; depth < recurseDepth && len(level) > 0; depth++ {
		var next []string
		for _, p := range level {
			rels, err := h.children(ctx, p, 0, 0, false, maxRecursed-len(out))
			if err != nil {
				return nil, err
			}
			for _, rel := range rels {
				if seen[rel.EventID] {
					continue
				}
				seen[rel.EventID] = true
				out = append(out, rel)
				next = append(next, rel.EventID)
			}
			if len(out) >= maxRecursed {
				return out, nil
			}
		}
		level = next
	}
	return out, nil
}

// thread returns the index record of the thread rooted at rootID, if any.
func (h *Handlers) thread(ctx context.Context, roomID, rootID string) (threadRecord, bool, error) {
	var rec threadRecord
	found := false
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get(threadKey(roomID, rootID))
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return json.Unmarshal(raw, &rec)
	})
	return rec, found, err
}

// participated reports whether userID took part in the thread at rootID.
func (h *Handlers) participated(ctx context.Context, roomID, rootID, userID string) (bool, error) {
	found := false
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		_, err := tx.Get(threadPartKey(roomID, rootID, userID))
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

// threadSummary returns the bundled m.thread aggregation of a thread root
// (spec "Server-side aggregation of m.thread relationships"), or nil when
// ev roots no thread.
func (v *view) threadSummary(ev *event.PDU) (json.RawMessage, error) {
	rec, ok, err := v.h.thread(v.ctx, ev.RoomID(), ev.ID())
	if err != nil || !ok {
		return nil, err
	}
	latest, err := v.h.dag.Event(v.ctx, rec.LatestID)
	if err != nil {
		return nil, err
	}
	latestRaw, err := v.formatBundled(latest, false, false)
	if err != nil {
		return nil, err
	}
	mine, err := v.h.participated(v.ctx, ev.RoomID(), ev.ID(), v.caller.UserID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"latest_event":              latestRaw,
		"count":                     rec.Count,
		"current_user_participated": mine,
	})
}

func (h *Handlers) threads(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	include := r.URL.Query().Get("include")
	switch include {
	case "", "all", "participated":
	default:
		clientapi.WriteError(w, invalidParam("include must be \"all\" or \"participated\""))
		return
	}
	pr, err := parsePage(r, nil, defaultRelationsLimit, maxRelationsLimit)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	limit, from, hasFrom := pr.limit, pr.from, pr.hasFrom
	if _, err := h.readable(ctx, c.UserID, roomID); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	viewer, err := visibility.NewViewer(ctx, h.dag, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	opts := persist.IterOptions{Prefix: threadActPrefix(roomID), Reverse: true}
	if hasFrom {
		opts.End = threadActKey(roomID, from+1)
	}
	type active struct {
		root string
		pos  uint64
	}
	var scan []active
	err = h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(opts)
		defer it.Close()
		n := len(threadActPrefix(roomID))
		for len(scan) < maxThreadScan && it.Next() {
			scan = append(scan, active{root: string(it.Value()), pos: binary.BigEndian.Uint64(it.Key()[n:])})
		}
		return it.Err()
	})
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	var roots []*event.PDU
	var last uint64
	more := false
	for _, a := range scan {
		if len(roots) == limit {
			more = true
			break
		}
		last = a.pos
		ok, err := h.keepThread(ctx, viewer, roomID, a.root, c.UserID, include == "participated")
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		if ok != nil {
			roots = append(roots, ok)
		}
	}
	if len(scan) == maxThreadScan {
		more = true
	}
	chunk, err := h.newView(ctx, c).formatAll(roots, false)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	resp := map[string]any{"chunk": chunk}
	if more && last > 0 {
		resp["next_batch"] = synctoken.Format(last - 1)
	}
	clientapi.WriteJSON(w, http.StatusOK, resp)
}

// keepThread returns the root event of a thread when it belongs in the
// caller's /threads: it is a timeline event of the room the user may see,
// and, with participated, the user took part in it. It returns nil
// otherwise.
func (h *Handlers) keepThread(ctx context.Context, viewer *visibility.Viewer, roomID, rootID, userID string, participated bool) (*event.PDU, error) {
	if participated {
		ok, err := h.participated(ctx, roomID, rootID, userID)
		if err != nil || !ok {
			return nil, err
		}
	}
	info, err := h.dag.Info(ctx, rootID)
	if errors.Is(err, room.ErrUnknownEvent) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !info.InTimeline || info.Event.RoomID() != roomID {
		return nil, nil
	}
	ok, err := viewer.CanSee(ctx, info.Event, info.Pos)
	if err != nil || !ok {
		return nil, err
	}
	return info.Event, nil
}
