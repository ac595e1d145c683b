package fedserver

import (
	"encoding/json"
	"net/http"
	"slices"

	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/matrixerr"
	"hearth/core/room"
)

// hierarchy serves GET /_matrix/federation/v1/hierarchy/{roomId}: a room
// of this server (a space) with its m.space.child children one level down.
// Children the requesting server may neither peek into nor join are listed
// in inaccessible_children; children this server does not have are left
// out, for the requester to ask their own servers.
func (h *Handlers) hierarchy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	if !fedauth.CheckACL(w, r, roomID) {
		return
	}
	origin := fedauth.Origin(ctx)
	suggestedOnly := r.URL.Query().Get("suggested_only") == "true"
	evs, err := h.currentEvents(ctx, roomID)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !accessibleTo(origin, evs) {
		writeErr(w, errorf(http.StatusNotFound, matrixerr.CodeNotFound, "room %s is not accessible to %s", roomID, origin))
		return
	}
	top := h.hierarchySummary(roomID, evs)
	childState, childIDs := spaceChildren(evs, suggestedOnly)
	top["children_state"] = childState
	children := []map[string]any{}
	inaccessible := []string{}
	for _, id := range childIDs {
		if !h.ACL(ctx, origin, id) {
			inaccessible = append(inaccessible, id)
			continue
		}
		cevs, err := h.currentEvents(ctx, id)
		if err != nil {
			continue // not here: the requester asks the child's servers
		}
		if !accessibleTo(origin, cevs) {
			inaccessible = append(inaccessible, id)
			continue
		}
		sum := h.hierarchySummary(id, cevs)
		// Every child's own children, so the requester can go deeper.
		sum["children_state"], _ = spaceChildren(cevs, false)
		children = append(children, sum)
	}
	writeJSON(w, map[string]any{"room": top, "children": children, "inaccessible_children": inaccessible})
}

// spaceChildren returns a room's valid m.space.child events (those naming
// servers in via), only the suggested ones when suggestedOnly is set, as
// stripped state with origin_server_ts, and the child room IDs, both in
// room ID order.
func spaceChildren(evs map[event.StateKey]*event.PDU, suggestedOnly bool) ([]map[string]any, []string) {
	var ids []string
	for k, ev := range evs {
		if k.Type != "m.space.child" {
			continue
		}
		var c struct {
			Via       []string `json:"via"`
			Suggested bool     `json:"suggested"`
		}
		if json.Unmarshal(ev.Content(), &c) != nil || len(c.Via) == 0 || suggestedOnly && !c.Suggested {
			continue
		}
		ids = append(ids, k.StateKey)
	}
	slices.Sort(ids)
	state := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		ev := evs[room.StateKeyOf("m.space.child", id)]
		state = append(state, map[string]any{
			"type": ev.Type(), "state_key": id, "content": ev.Content(),
			"sender": ev.Sender(), "origin_server_ts": ev.OriginServerTS(),
		})
	}
	return state, ids
}

// hierarchySummary is a room's summary for /hierarchy: the public rooms
// chunk with the room's version and, for restricted join rules, the rooms
// whose members may join.
func (h *Handlers) hierarchySummary(roomID string, evs map[event.StateKey]*event.PDU) map[string]any {
	sum := roomSummary(roomID, evs)
	if ev := evs[room.StateKeyOf("m.room.create", "")]; ev != nil {
		sum["room_version"] = ev.Version().ID
	}
	if ev := evs[room.StateKeyOf("m.room.encryption", "")]; ev != nil {
		var c struct {
			Algorithm string `json:"algorithm"`
		}
		if json.Unmarshal(ev.Content(), &c) == nil && c.Algorithm != "" {
			sum["encryption"] = c.Algorithm
		}
	}
	if jr := sum["join_rule"]; jr == "restricted" || jr == "knock_restricted" {
		allowed := []string{}
		if ev := evs[room.StateKeyOf("m.room.join_rules", "")]; ev != nil {
			var c struct {
				Allow []struct {
					Type   string `json:"type"`
					RoomID string `json:"room_id"`
				} `json:"allow"`
			}
			json.Unmarshal(ev.Content(), &c)
			for _, a := range c.Allow {
				if a.Type == "m.room_membership" && a.RoomID != "" {
					allowed = append(allowed, a.RoomID)
				}
			}
		}
		sum["allowed_room_ids"] = allowed
	}
	return sum
}

// accessibleTo reports whether server may peek into or join a room with
// the given current state: its join rule lets anyone join or knock (or
// members of other rooms, for restricted rooms, which the requester
// checks), its history is world readable, or server has a joined member.
func accessibleTo(server string, evs map[event.StateKey]*event.PDU) bool {
	sum := roomSummary("", evs)
	switch sum["join_rule"] {
	case "public", "knock", "restricted", "knock_restricted":
		return true
	}
	if sum["world_readable"] == true {
		return true
	}
	for k, ev := range evs {
		if k.Type == "m.room.member" && serverOf(k.StateKey) == server && ev.Membership() == "join" {
			return true
		}
	}
	return false
}
