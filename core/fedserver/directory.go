package fedserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/matrixerr"
	"hearth/core/room"
)

// Directory lists the rooms published in this server's room directory
// (rooms.Handlers.PublishedRooms): up to limit room IDs, in a stable order.
type Directory interface {
	PublishedRooms(ctx context.Context, limit int) ([]string, error)
}

// Bounds of the room directory served over federation.
const (
	defaultPublicRooms = 100
	maxPublicRooms     = 500
	// maxSearchedRooms bounds the published rooms one filtered request
	// reads: a search looks at the first maxSearchedRooms only.
	maxSearchedRooms = 2000
)

// publicRoomsRequest is the body of POST /publicRooms (the query of GET).
type publicRoomsRequest struct {
	Limit  int    `json:"limit"`
	Since  string `json:"since"`
	Filter struct {
		GenericSearchTerm string `json:"generic_search_term"`
		// RoomTypes keeps rooms of these types; null stands for rooms
		// without a type.
		RoomTypes []*string `json:"room_types"`
	} `json:"filter"`
}

// publicRoomsGet serves GET /_matrix/federation/v1/publicRooms?limit=&since=.
func (h *Handlers) publicRoomsGet(w http.ResponseWriter, r *http.Request) {
	var req publicRoomsRequest
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeInvalidParam, "limit must be a non-negative integer"))
			return
		}
		req.Limit = n
	}
	req.Since = q.Get("since")
	h.publicRooms(w, r, req)
}

// publicRoomsPost serves POST /_matrix/federation/v1/publicRooms.
func (h *Handlers) publicRoomsPost(w http.ResponseWriter, r *http.Request) {
	var req publicRoomsRequest
	if err := readBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Limit < 0 {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeInvalidParam, "limit must not be negative"))
		return
	}
	h.publicRooms(w, r, req)
}

// publicRooms answers a page of the directory. The since token is the
// offset of the page ("o<n>") among the matching rooms.
func (h *Handlers) publicRooms(w http.ResponseWriter, r *http.Request, req publicRoomsRequest) {
	if h.cfg.Directory == nil {
		unrecognized(w, r)
		return
	}
	ctx := r.Context()
	limit := min(cmpOr(req.Limit, defaultPublicRooms), maxPublicRooms)
	offset := 0
	if req.Since != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.Since, "o"))
		if err != nil || !strings.HasPrefix(req.Since, "o") || n < 0 {
			writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeInvalidParam, "bad since token %q", req.Since))
			return
		}
		offset = n
	}
	term := strings.ToLower(strings.TrimSpace(req.Filter.GenericSearchTerm))
	read := offset + limit + 1
	if term != "" || len(req.Filter.RoomTypes) > 0 {
		read = maxSearchedRooms
	}
	ids, err := h.cfg.Directory.PublishedRooms(ctx, read)
	if err != nil {
		writeErr(w, err)
		return
	}
	origin := fedauth.Origin(ctx)
	var matching []map[string]any
	for _, id := range ids {
		if !h.ACL(ctx, origin, id) {
			continue
		}
		evs, err := h.currentEvents(ctx, id)
		if err != nil {
			continue // published but not (or no longer) here
		}
		sum := roomSummary(id, evs)
		if term != "" && !matchesTerm(sum, term) || !matchesType(sum, req.Filter.RoomTypes) {
			continue
		}
		matching = append(matching, sum)
	}
	resp := map[string]any{"chunk": []map[string]any{}, "total_room_count_estimate": len(matching)}
	if offset < len(matching) {
		end := min(offset+limit, len(matching))
		resp["chunk"] = matching[offset:end]
		if end < len(matching) {
			resp["next_batch"] = "o" + strconv.Itoa(end)
		}
	}
	if offset > 0 {
		resp["prev_batch"] = "o" + strconv.Itoa(max(offset-limit, 0))
	}
	writeJSON(w, resp)
}

func cmpOr(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// matchesType reports whether a room's type is one of types (all types
// when it is empty; a nil entry stands for rooms without a type).
func matchesType(sum map[string]any, types []*string) bool {
	if len(types) == 0 {
		return true
	}
	rt, has := sum["room_type"].(string)
	for _, t := range types {
		if t == nil && !has || t != nil && has && *t == rt {
			return true
		}
	}
	return false
}

// matchesTerm reports whether a room's name, topic, canonical alias or ID
// contains term (lower case).
func matchesTerm(sum map[string]any, term string) bool {
	for _, k := range []string{"name", "topic", "canonical_alias", "room_id"} {
		if s, ok := sum[k].(string); ok && strings.Contains(strings.ToLower(s), term) {
			return true
		}
	}
	return false
}

// roomSummary is a room's public rooms chunk, from its current state.
func roomSummary(roomID string, evs map[event.StateKey]*event.PDU) map[string]any {
	str := func(typ, field string) string {
		ev := evs[room.StateKeyOf(typ, "")]
		if ev == nil {
			return ""
		}
		var c map[string]any
		if json.Unmarshal(ev.Content(), &c) != nil {
			return ""
		}
		s, _ := c[field].(string)
		return s
	}
	joined := 0
	for k, ev := range evs {
		if k.Type == "m.room.member" && ev.Membership() == "join" {
			joined++
		}
	}
	joinRule := cmpStr(str("m.room.join_rules", "join_rule"), "invite")
	sum := map[string]any{
		"room_id":            roomID,
		"num_joined_members": joined,
		"world_readable":     str("m.room.history_visibility", "history_visibility") == "world_readable",
		"guest_can_join":     str("m.room.guest_access", "guest_access") == "can_join",
		"join_rule":          joinRule,
	}
	for k, v := range map[string]string{
		"name":            str("m.room.name", "name"),
		"topic":           str("m.room.topic", "topic"),
		"canonical_alias": str("m.room.canonical_alias", "alias"),
		"avatar_url":      str("m.room.avatar", "url"),
		"room_type":       str("m.room.create", "type"),
	} {
		if v != "" {
			sum[k] = v
		}
	}
	return sum
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
