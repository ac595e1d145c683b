package rooms

import (
	"encoding/json"
	"net/http"
	"sort"

	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/room"
	"hearth/core/synctoken"
)

// sortedEvents returns the events of evs ordered by (type, state key), so
// that responses are deterministic.
func sortedEvents(evs map[event.StateKey]*event.PDU) []*event.PDU {
	keys := make([]event.StateKey, 0, len(evs))
	for k := range evs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Type != keys[j].Type {
			return keys[i].Type < keys[j].Type
		}
		return keys[i].StateKey < keys[j].StateKey
	})
	out := make([]*event.PDU, len(keys))
	for i, k := range keys {
		out[i] = evs[k]
	}
	return out
}

func (h *Handlers) getStateAll(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	rd, err := h.readable(ctx, c.UserID, r.PathValue("roomId"))
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	evs, err := h.dag.StateEvents(ctx, rd.state)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	out, err := h.newView(ctx, c).formatAll(sortedEvents(evs), false)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, out)
}

func (h *Handlers) getState(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	format := r.URL.Query().Get("format")
	if format != "" && format != "content" && format != "event" {
		clientapi.WriteError(w, invalidParam("format must be \"content\" or \"event\""))
		return
	}
	rd, err := h.readable(ctx, c.UserID, r.PathValue("roomId"))
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	ev, err := h.stateEvent(ctx, rd.state, r.PathValue("eventType"), r.PathValue("stateKey"))
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if ev == nil {
		clientapi.WriteError(w, notFound("the room has no state %s with key %q", r.PathValue("eventType"), r.PathValue("stateKey")))
		return
	}
	raw, err := h.newView(ctx, c).format(ev, false)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if format == "event" {
		clientapi.WriteJSON(w, http.StatusOK, raw)
		return
	}
	var formatted struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &formatted); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, formatted.Content)
}

// validMembership reports whether m is a membership the filters of
// /members may name.
func validMembership(m string) bool {
	switch m {
	case "join", "invite", "knock", "leave", "ban":
		return true
	}
	return false
}

func (h *Handlers) members(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	q := r.URL.Query()
	membership, notMembership := q.Get("membership"), q.Get("not_membership")
	for _, m := range []string{membership, notMembership} {
		if m != "" && !validMembership(m) {
			clientapi.WriteError(w, invalidParam("unknown membership %q", m))
			return
		}
	}
	rd, err := h.readable(ctx, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	s := rd.state
	if at := q.Get("at"); at != "" {
		pos, err := synctoken.ParsePosition(at)
		if err != nil {
			clientapi.WriteError(w, invalidParam("at is not a valid token"))
			return
		}
		if rd.capPos == 0 || pos < rd.capPos {
			if s, err = h.dag.StateAt(ctx, roomID, pos); err != nil {
				clientapi.WriteError(w, err)
				return
			}
		}
	}
	memberState := room.State{}
	for k, id := range s {
		if k.Type == typeMember {
			memberState[k] = id
		}
	}
	evs, err := h.dag.StateEvents(ctx, memberState)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	var chosen []*event.PDU
	for _, ev := range sortedEvents(evs) {
		if matchMembership(ev.Membership(), membership, notMembership) {
			chosen = append(chosen, ev)
		}
	}
	chunk, err := h.newView(ctx, c).formatAll(chosen, false)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"chunk": chunk})
}

// matchMembership applies the membership and not_membership parameters of
// /members: with both, the spec makes them an "or".
func matchMembership(m, membership, notMembership string) bool {
	switch {
	case membership != "" && notMembership != "":
		return m == membership || m != notMembership
	case membership != "":
		return m == membership
	case notMembership != "":
		return m != notMembership
	}
	return true
}

// roomMember is an entry of /joined_members.
type roomMember struct {
	DisplayName *string `json:"display_name"`
	AvatarURL   *string `json:"avatar_url"`
}

func (h *Handlers) joinedMembers(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	s, err := h.requireJoined(ctx, c.UserID, r.PathValue("roomId"))
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	memberState := room.State{}
	for k, id := range s {
		if k.Type == typeMember {
			memberState[k] = id
		}
	}
	evs, err := h.dag.StateEvents(ctx, memberState)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	joined := map[string]roomMember{}
	for k, ev := range evs {
		if ev.Membership() != "join" {
			continue
		}
		joined[k.StateKey] = roomMember{
			DisplayName: nonEmpty(contentString(ev, "displayname")),
			AvatarURL:   nonEmpty(contentString(ev, "avatar_url")),
		}
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"joined": joined})
}

// nonEmpty returns a pointer to s, or nil for "".
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
