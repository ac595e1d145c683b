package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/filter"
	"hearth/core/room"
	"hearth/core/synctoken"
	"hearth/core/visibility"
)

// Limits of the history endpoints.
const (
	defaultMessagesLimit = 10
	maxMessagesLimit     = 1000
	defaultContextLimit  = 10
	maxContextLimit      = 100
	// maxSkipped bounds how many events one page examines beyond those it
	// returns (hidden by history visibility or by the filter); a page that
	// reaches it ends early with a token to continue from.
	maxSkipped = 1000
	// timelineBatch is how many events a page reads from the DAG at once.
	timelineBatch = 64
)

// pager walks one room's timeline for one user, keeping the events that
// pass the filter and the history visibility rules.
type pager struct {
	h      *Handlers
	roomID string
	viewer *visibility.Viewer
	filter *filter.RoomEventFilter
}

// page is what one walk found.
type page struct {
	// events are the events kept, in the walk's order.
	events []room.TimelineEvent
	// next is the position a further walk in the same direction starts
	// from: the point just past the last event examined.
	next uint64
	// exhausted says the walk reached the end of its range.
	exhausted bool
}

// walk returns up to limit events of the timeline. Backwards it reads
// events at positions in (bound, from], newest first; forwards, those in
// (from, bound], oldest first.
func (p *pager) walk(ctx context.Context, from, bound uint64, backwards bool, limit int) (page, error) {
	pg := page{next: from}
	if limit <= 0 {
		return pg, nil
	}
	skipped := 0
	for {
		if (backwards && pg.next <= bound) || (!backwards && pg.next >= bound) {
			pg.exhausted = true
			return pg, nil
		}
		var batch []room.TimelineEvent
		var err error
		if backwards {
			batch, err = p.h.dag.Timeline(ctx, p.roomID, pg.next+1, bound+1, true, timelineBatch)
		} else {
			batch, err = p.h.dag.Timeline(ctx, p.roomID, pg.next, bound, false, timelineBatch)
		}
		if err != nil {
			return page{}, err
		}
		short := len(batch) < timelineBatch
		for i, te := range batch {
			if backwards {
				pg.next = te.Pos - 1
			} else {
				pg.next = te.Pos
			}
			keep, err := p.keep(ctx, te)
			if err != nil {
				return page{}, err
			}
			if !keep {
				skipped++
				if skipped >= maxSkipped {
					pg.exhausted = short && i == len(batch)-1
					return pg, nil
				}
				continue
			}
			pg.events = append(pg.events, te)
			if len(pg.events) == limit {
				pg.exhausted = short && i == len(batch)-1
				return pg, nil
			}
		}
		if short {
			pg.exhausted = true
			return pg, nil
		}
	}
}

// keep reports whether te passes the filter and the user may see it.
func (p *pager) keep(ctx context.Context, te room.TimelineEvent) (bool, error) {
	ev := te.Event
	if !p.filter.MatchEvent(ev.RoomID(), ev.Type(), ev.Sender(), ev.Content()) {
		return false, nil
	}
	return p.viewer.CanSee(ctx, ev, te.Pos)
}

// parseRoomFilter reads the filter query parameter of /messages and
// /context.
func parseRoomFilter(r *http.Request) (*filter.RoomEventFilter, error) {
	raw := r.URL.Query().Get("filter")
	if raw == "" {
		return nil, nil
	}
	f, err := filter.ParseRoomEventFilter([]byte(raw))
	if err != nil {
		return nil, err // a matrixerr.Error
	}
	return f, nil
}

// queryLimit reads the limit parameter: def when absent (or, when the
// filter has a limit, that), at most max.
func queryLimit(r *http.Request, f *filter.RoomEventFilter, def, max int) (int, error) {
	if r.URL.Query().Has("limit") {
		n, err := clientapi.QueryInt(r, "limit", 0)
		if err != nil {
			return 0, err
		}
		return int(min(n, int64(max))), nil
	}
	return f.LimitOr(def, max), nil
}

// queryToken reads an optional token parameter.
func queryToken(r *http.Request, name string) (uint64, bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, false, nil
	}
	pos, err := synctoken.ParsePosition(s)
	if err != nil {
		return 0, false, invalidParam("%s is not a valid pagination token", name)
	}
	return pos, true, nil
}

// pageRequest is the pagination part of a request: limit, and the from
// and to tokens' positions when given.
type pageRequest struct {
	limit          int
	from, to       uint64
	hasFrom, hasTo bool
}

// parsePage reads limit (bounded by def and max, and by f's limit), from
// and to, reporting malformed values as M_INVALID_PARAM.
func parsePage(r *http.Request, f *filter.RoomEventFilter, def, max int) (pageRequest, error) {
	var p pageRequest
	var err error
	if p.limit, err = queryLimit(r, f, def, max); err != nil {
		return p, err
	}
	if p.from, p.hasFrom, err = queryToken(r, "from"); err != nil {
		return p, err
	}
	p.to, p.hasTo, err = queryToken(r, "to")
	return p, err
}

func (h *Handlers) messages(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	q := r.URL.Query()
	dir := q.Get("dir")
	switch dir {
	case "b", "f":
	case "":
		clientapi.WriteError(w, missingParam("dir is required"))
		return
	default:
		clientapi.WriteError(w, invalidParam("dir must be \"b\" or \"f\""))
		return
	}
	backwards := dir == "b"
	f, err := parseRoomFilter(r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	pr, err := parsePage(r, f, defaultMessagesLimit, maxMessagesLimit)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	limit, from, hasFrom, to, hasTo := pr.limit, pr.from, pr.hasFrom, pr.to, pr.hasTo
	rd, err := h.readable(ctx, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	viewer, err := visibility.NewViewer(ctx, h.dag, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	watermark, _ := h.dag.Position()
	start := q.Get("from")
	if !hasFrom {
		if backwards {
			from = watermark
		}
		start = synctoken.Format(from)
	}
	// Users who left see nothing after their departure.
	upper := watermark
	if rd.capPos != 0 {
		upper = min(upper, rd.capPos)
	}
	var bound uint64
	if backwards {
		from = min(from, upper)
		if hasTo {
			bound = to
		}
	} else {
		bound = upper
		if hasTo {
			bound = min(bound, to)
		}
	}
	p := &pager{h: h, roomID: roomID, viewer: viewer, filter: f}
	pg, err := p.walk(ctx, from, bound, backwards, limit)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	v := h.newView(ctx, c)
	chunk, err := v.formatTimeline(pg.events)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	resp := map[string]any{"start": start, "chunk": chunk}
	if !pg.exhausted || (!backwards && len(chunk) > 0) {
		resp["end"] = synctoken.Format(pg.next)
	}
	if f != nil && f.LazyLoadMembers && len(pg.events) > 0 {
		state, err := h.senderMembers(ctx, v, pg.events[0].Event.ID(), pg.events, nil)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		resp["state"] = state
	}
	clientapi.WriteJSON(w, http.StatusOK, resp)
}

// senderMembers returns, in client form, the member events of the senders
// of evs (and of extra) in the state after the event at, for lazy-loading
// clients.
func (h *Handlers) senderMembers(ctx context.Context, v *view, at string, evs []room.TimelineEvent, extra []*event.PDU) ([]json.RawMessage, error) {
	s, err := h.dag.StateAfter(ctx, at)
	if err != nil {
		return nil, err
	}
	var keys []event.StateKey
	seen := map[string]bool{}
	addSender := func(sender string) {
		if !seen[sender] {
			seen[sender] = true
			keys = append(keys, key(typeMember, sender))
		}
	}
	for _, te := range evs {
		addSender(te.Event.Sender())
	}
	for _, ev := range extra {
		addSender(ev.Sender())
	}
	members, err := h.stateEvents(ctx, s, keys...)
	if err != nil {
		return nil, err
	}
	return v.formatAll(sortedEvents(members), false)
}

func (h *Handlers) getEvent(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID, eventID := r.PathValue("roomId"), r.PathValue("eventId")
	info, err := h.visibleEvent(ctx, c.UserID, roomID, eventID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	raw, err := h.newView(ctx, c).format(info.Event, true)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, raw)
}

// visibleEvent returns an event of roomID that userID may see, and 404
// M_NOT_FOUND for events that are unknown, of another room, not part of
// the room's timeline, or hidden from the user.
func (h *Handlers) visibleEvent(ctx context.Context, userID, roomID, eventID string) (room.EventInfo, error) {
	missing := notFound("event not found")
	info, err := h.dag.Info(ctx, eventID)
	if errors.Is(err, room.ErrUnknownEvent) {
		return room.EventInfo{}, missing
	}
	if err != nil {
		return room.EventInfo{}, err
	}
	if info.Event.RoomID() != roomID || !info.InTimeline {
		return room.EventInfo{}, missing
	}
	forgot, err := h.Forgotten(ctx, userID, roomID)
	if err != nil {
		return room.EventInfo{}, err
	}
	if forgot {
		return room.EventInfo{}, missing
	}
	viewer, err := visibility.NewViewer(ctx, h.dag, userID, roomID)
	if err != nil {
		return room.EventInfo{}, err
	}
	ok, err := viewer.CanSee(ctx, info.Event, info.Pos)
	if err != nil {
		return room.EventInfo{}, err
	}
	if !ok {
		return room.EventInfo{}, missing
	}
	return info, nil
}

func (h *Handlers) context(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID, eventID := r.PathValue("roomId"), r.PathValue("eventId")
	f, err := parseRoomFilter(r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	limit, err := queryLimit(r, nil, defaultContextLimit, maxContextLimit)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	rd, err := h.readable(ctx, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	info, err := h.visibleEvent(ctx, c.UserID, roomID, eventID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	viewer, err := visibility.NewViewer(ctx, h.dag, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	p := &pager{h: h, roomID: roomID, viewer: viewer, filter: f}
	nBefore := limit / 2
	before, err := p.walk(ctx, info.Pos-1, 0, true, nBefore)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	upper, _ := h.dag.Position()
	if rd.capPos != 0 {
		upper = min(upper, rd.capPos)
	}
	after, err := p.walk(ctx, info.Pos, upper, false, limit-nBefore)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	v := h.newView(ctx, c)
	evRaw, err := v.format(info.Event, true)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	beforeRaw, err := v.formatTimeline(before.events)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	afterRaw, err := v.formatTimeline(after.events)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	last := info.Event.ID()
	if n := len(after.events); n > 0 {
		last = after.events[n-1].Event.ID()
	}
	var state []json.RawMessage
	if f != nil && f.LazyLoadMembers {
		all := append(append([]room.TimelineEvent{}, before.events...), after.events...)
		state, err = h.senderMembers(ctx, v, last, all, []*event.PDU{info.Event})
	} else {
		state, err = h.filteredState(ctx, v, last, f)
	}
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{
		"start":         synctoken.Format(before.next),
		"end":           synctoken.Format(after.next),
		"events_before": beforeRaw,
		"event":         evRaw,
		"events_after":  afterRaw,
		"state":         state,
	})
}

// filteredState returns, in client form, the state after the event at
// that passes f.
func (h *Handlers) filteredState(ctx context.Context, v *view, at string, f *filter.RoomEventFilter) ([]json.RawMessage, error) {
	s, err := h.dag.StateAfter(ctx, at)
	if err != nil {
		return nil, err
	}
	evs, err := h.dag.StateEvents(ctx, s)
	if err != nil {
		return nil, err
	}
	for k, ev := range evs {
		if !f.MatchEvent(ev.RoomID(), ev.Type(), ev.Sender(), ev.Content()) {
			delete(evs, k)
		}
	}
	return v.formatAll(sortedEvents(evs), false)
}
