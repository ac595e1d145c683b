package fedserver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/visibility"
)

// Bounds of history reads.
const (
	maxBackfill      = 100
	defaultMissing   = 10
	maxMissing       = 100
	maxAuthChainSize = 10000
)

// serverCanSee reports whether a server may be sent ev (server-server spec,
// "Retrieving events" and history visibility): when the room is world
// readable at the event, when one of the server's users was joined (or
// invited, under "invited" visibility) at the event, or, under "shared"
// visibility, when the server is in the room now.
func (h *Handlers) serverCanSee(ctx context.Context, server string, info room.EventInfo) (bool, error) {
	ev := info.Event
	var s room.State
	var err error
	if info.InTimeline {
		s, err = h.dag.StateAfter(ctx, ev.ID())
	} else {
		s, err = h.dag.CurrentState(ctx, ev.RoomID())
	}
	if err != nil {
		return false, err
	}
	evs, err := h.dag.StateEvents(ctx, s)
	if err != nil {
		return false, err
	}
	hv := visibility.HistoryVisibility(evs[room.StateKeyOf("m.room.history_visibility", "")])
	if hv == visibility.WorldReadable {
		return true, nil
	}
	for k, m := range evs {
		if k.Type != "m.room.member" || serverOf(k.StateKey) != server {
			continue
		}
		switch m.Membership() {
		case "join":
			return true, nil
		case "invite":
			if hv == "invited" {
				return true, nil
			}
		}
	}
	if hv == "joined" || hv == "invited" {
		return false, nil
	}
	return h.originInRoom(ctx, server, ev.RoomID())
}

// visibleEvent returns the event id if origin may see it, else an error
// for the response.
func (h *Handlers) visibleEvent(ctx context.Context, origin, id string) (room.EventInfo, error) {
	info, err := h.dag.Info(ctx, id)
	if err != nil {
		return info, errorf(http.StatusNotFound, matrixerr.CodeNotFound, "unknown event %s", id)
	}
	if !fedauth.Allowed(ctx, info.Event.RoomID()) {
		return info, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "denied by the room's server ACL")
	}
	ok, err := h.serverCanSee(ctx, origin, info)
	if err != nil {
		return info, err
	}
	if !ok {
		return info, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "server %s may not see event %s", origin, id)
	}
	return info, nil
}

// txnOf is the transaction shape of /event and /backfill answers.
func (h *Handlers) txnOf(pdus []json.RawMessage) map[string]any {
	if pdus == nil {
		pdus = []json.RawMessage{}
	}
	return map[string]any{"origin": h.cfg.ServerName, "origin_server_ts": h.cfg.Now().UnixMilli(), "pdus": pdus}
}

// getEvent serves GET /_matrix/federation/v1/event/{eventId}.
func (h *Handlers) getEvent(w http.ResponseWriter, r *http.Request) {
	info, err := h.visibleEvent(r.Context(), fedauth.Origin(r.Context()), r.PathValue("eventId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, h.txnOf([]json.RawMessage{info.Event.JSON()}))
}

// stateAt checks that the origin may see the room's state at event_id and
// returns the state before that event.
func (h *Handlers) stateAt(w http.ResponseWriter, r *http.Request) (room.State, bool) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	if !fedauth.CheckACL(w, r, roomID) {
		return nil, false
	}
	id := r.URL.Query().Get("event_id")
	if id == "" {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeMissingParam, "event_id is required"))
		return nil, false
	}
	info, err := h.visibleEvent(ctx, fedauth.Origin(ctx), id)
	if err == nil && info.Event.RoomID() != roomID {
		err = errorf(http.StatusNotFound, matrixerr.CodeNotFound, "event %s is not in room %s", id, roomID)
	}
	if err == nil && !info.InTimeline {
		err = errorf(http.StatusNotFound, matrixerr.CodeNotFound, "no state is known at event %s", id)
	}
	if err != nil {
		writeErr(w, err)
		return nil, false
	}
	s, err := h.dag.StateBefore(ctx, id)
	if err != nil {
		writeErr(w, err)
		return nil, false
	}
	return s, true
}

// authChain returns the auth chain of the events ids (not the events
// themselves), oldest first.
func (h *Handlers) authChain(ctx context.Context, ids []string) ([]*event.PDU, error) {
	seen := map[string]bool{}
	var out []*event.PDU
	queue := []string{}
	for _, id := range ids {
		ev, err := h.dag.Event(ctx, id)
		if err != nil {
			return nil, err
		}
		queue = append(queue, ev.AuthEvents()...)
		if ev.Version().RoomIDFromCreateEvent && !ev.IsCreate() {
			queue = append(queue, "$"+ev.RoomID()[1:])
		}
	}
	for len(queue) > 0 && len(out) < maxAuthChainSize {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		ev, err := h.dag.Event(ctx, id)
		if errors.Is(err, room.ErrUnknownEvent) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, ev)
		queue = append(queue, ev.AuthEvents()...)
	}
	slices.SortStableFunc(out, func(a, b *event.PDU) int { return cmp.Compare(a.Depth(), b.Depth()) })
	return out, nil
}

func stateIDList(s room.State) []string {
	out := make([]string, 0, len(s))
	for _, id := range s {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func rawList(evs []*event.PDU) []json.RawMessage {
	out := make([]json.RawMessage, len(evs))
	for i, ev := range evs {
		out[i] = ev.JSON()
	}
	return out
}

// state serves GET /_matrix/federation/v1/state/{roomId}?event_id=.
func (h *Handlers) state(w http.ResponseWriter, r *http.Request) {
	s, ok := h.stateAt(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ids := stateIDList(s)
	pdus := make([]*event.PDU, 0, len(ids))
	for _, id := range ids {
		ev, err := h.dag.Event(ctx, id)
		if err != nil {
			writeErr(w, err)
			return
		}
		pdus = append(pdus, ev)
	}
	chain, err := h.authChain(ctx, ids)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"pdus": rawList(pdus), "auth_chain": rawList(chain)})
}

// stateIDs serves GET /_matrix/federation/v1/state_ids/{roomId}?event_id=.
func (h *Handlers) stateIDs(w http.ResponseWriter, r *http.Request) {
	s, ok := h.stateAt(w, r)
	if !ok {
		return
	}
	ids := stateIDList(s)
	chain, err := h.authChain(r.Context(), ids)
	if err != nil {
		writeErr(w, err)
		return
	}
	chainIDs := make([]string, len(chain))
	for i, ev := range chain {
		chainIDs[i] = ev.ID()
	}
	writeJSON(w, map[string]any{"pdu_ids": ids, "auth_chain_ids": chainIDs})
}

// eventAuth serves GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}.
func (h *Handlers) eventAuth(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	if !fedauth.CheckACL(w, r, roomID) {
		return
	}
	info, err := h.visibleEvent(ctx, fedauth.Origin(ctx), r.PathValue("eventId"))
	if err == nil && info.Event.RoomID() != roomID {
		err = errorf(http.StatusNotFound, matrixerr.CodeNotFound, "event is not in room %s", roomID)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	chain, err := h.authChain(ctx, []string{info.Event.ID()})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"auth_chain": rawList(chain)})
}

// walkBack collects events reachable backwards from start through
// prev_events, newest (by depth) first, stopping at stop, below minDepth and
// after limit events; start events are included when includeStart is set.
// Only timeline events the origin may see are returned.
func (h *Handlers) walkBack(ctx context.Context, origin, roomID string, start, stop []string, includeStart bool, minDepth int64, limit int) ([]*event.PDU, error) {
	seen := map[string]bool{}
	for _, id := range stop {
		seen[id] = true
	}
	var frontier []*event.PDU
	push := func(id string) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		info, err := h.dag.Info(ctx, id)
		if errors.Is(err, room.ErrUnknownEvent) {
			return nil
		} else if err != nil {
			return err
		}
		if info.Event.RoomID() != roomID || info.Event.Depth() < minDepth {
			return nil
		}
		frontier = append(frontier, info.Event)
		return nil
	}
	var out []*event.PDU
	for _, id := range start {
		if includeStart {
			if err := push(id); err != nil {
				return nil, err
			}
			continue
		}
		seen[id] = true
		ev, err := h.dag.Event(ctx, id)
		if err != nil {
			continue
		}
		for _, p := range ev.PrevEvents() {
			if err := push(p); err != nil {
				return nil, err
			}
		}
	}
	for len(frontier) > 0 && len(out) < limit {
		// Take the deepest event next, so a limit keeps the newest.
		i := 0
		for j, ev := range frontier {
			if ev.Depth() > frontier[i].Depth() {
				i = j
			}
		}
		ev := frontier[i]
		frontier = slices.Delete(frontier, i, i+1)
		info, err := h.dag.Info(ctx, ev.ID())
		if err != nil {
			return nil, err
		}
		if ok, err := h.serverCanSee(ctx, origin, info); err != nil {
			return nil, err
		} else if ok {
			out = append(out, ev)
		}
		for _, p := range ev.PrevEvents() {
			if err := push(p); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// backfill serves GET /_matrix/federation/v1/backfill/{roomId}?v=&limit=.
func (h *Handlers) backfill(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	if !fedauth.CheckACL(w, r, roomID) {
		return
	}
	if _, err := h.roomVersion(ctx, roomID); err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	from := q["v"]
	if len(from) == 0 {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeMissingParam, "v is required"))
		return
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeInvalidParam, "limit must be a positive integer"))
		return
	}
	limit = min(limit, maxBackfill)
	evs, err := h.walkBack(ctx, fedauth.Origin(ctx), roomID, from, nil, true, 0, limit)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, h.txnOf(rawList(evs)))
}

// getMissingEvents serves POST /_matrix/federation/v1/get_missing_events/{roomId}.
func (h *Handlers) getMissingEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	if !fedauth.CheckACL(w, r, roomID) {
		return
	}
	var req struct {
		Earliest []string `json:"earliest_events"`
		Latest   []string `json:"latest_events"`
		Limit    int      `json:"limit"`
		MinDepth int64    `json:"min_depth"`
	}
	if err := readBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if _, err := h.roomVersion(ctx, roomID); err != nil {
		writeErr(w, err)
		return
	}
	if req.Limit <= 0 {
		req.Limit = defaultMissing
	}
	req.Limit = min(req.Limit, maxMissing)
	evs, err := h.walkBack(ctx, fedauth.Origin(ctx), roomID, req.Latest, req.Earliest, false, req.MinDepth, req.Limit)
	if err != nil {
		writeErr(w, err)
		return
	}
	slices.SortStableFunc(evs, func(a, b *event.PDU) int { return cmp.Compare(a.Depth(), b.Depth()) })
	writeJSON(w, map[string]any{"events": rawList(evs)})
}
