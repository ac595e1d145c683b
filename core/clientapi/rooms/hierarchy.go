package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/room"
	"hearth/core/visibility"
)

// Limits of /hierarchy: rooms per page, how deep it descends, and how many
// rooms one request walks through (pagination walks from the top again).
const (
	defaultHierarchyLimit = 50
	maxHierarchyLimit     = 100
	defaultHierarchyDepth = 50
	maxHierarchyWalk      = 1000
)

// hierarchyRoom is an entry of /hierarchy's rooms.
type hierarchyRoom struct {
	roomSummary
	ChildrenState  []json.RawMessage `json:"children_state"`
	RoomVersion    string            `json:"room_version,omitempty"`
	Encryption     string            `json:"encryption,omitempty"`
	AllowedRoomIDs []string          `json:"allowed_room_ids,omitempty"`
}

// strippedChild is an m.space.child event as /hierarchy shows it.
type strippedChild struct {
	Type           string          `json:"type"`
	StateKey       string          `json:"state_key"`
	Content        json.RawMessage `json:"content"`
	Sender         string          `json:"sender"`
	OriginServerTS int64           `json:"origin_server_ts"`
}

// spaceChild is a valid m.space.child event of a room.
type spaceChild struct {
	ev        *event.PDU
	roomID    string
	order     string
	suggested bool
}

func (h *Handlers) hierarchy(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	rootID := r.PathValue("roomId")
	q := r.URL.Query()
	suggestedOnly := false
	switch q.Get("suggested_only") {
	case "", "false":
	case "true":
		suggestedOnly = true
	default:
		clientapi.WriteError(w, invalidParam("suggested_only must be true or false"))
		return
	}
	limit := defaultHierarchyLimit
	if q.Has("limit") {
		n, err := clientapi.QueryInt(r, "limit", 0)
		if err != nil || n == 0 {
			clientapi.WriteError(w, invalidParam("limit must be a positive integer"))
			return
		}
		limit = int(min(n, maxHierarchyLimit))
	}
	maxDepth, err := clientapi.QueryInt(r, "max_depth", defaultHierarchyDepth)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	skip := 0
	if from := q.Get("from"); from != "" {
		var ok bool
		skip, ok = parseHierarchyToken(from, maxDepth, suggestedOnly)
		if !ok {
			clientapi.WriteError(w, invalidParam("unknown pagination token, or max_depth or suggested_only changed during pagination"))
			return
		}
	}
	s, err := h.currentState(ctx, rootID)
	if errors.Is(err, room.ErrUnknownRoom) {
		clientapi.WriteError(w, forbidden("you may not view this room"))
		return
	}
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if ok, err := h.mayPreview(ctx, c.UserID, s); err != nil {
		clientapi.WriteError(w, err)
		return
	} else if !ok {
		clientapi.WriteError(w, forbidden("you may not view this room"))
		return
	}

	type visit struct {
		roomID string
		depth  int64
	}
	stack := []visit{{rootID, 0}}
	seen := map[string]bool{rootID: true}
	rooms := []hierarchyRoom{}
	walked := 0
	more := false
	for len(stack) > 0 {
		if len(rooms) == limit || walked == maxHierarchyWalk {
			more = true
			break
		}
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		rs := s
		if cur.roomID != rootID {
			if rs, err = h.currentState(ctx, cur.roomID); errors.Is(err, room.ErrUnknownRoom) {
				continue
			} else if err != nil {
				clientapi.WriteError(w, err)
				return
			}
			if ok, err := h.mayPreview(ctx, c.UserID, rs); err != nil {
				clientapi.WriteError(w, err)
				return
			} else if !ok {
				continue
			}
		}
		entry, children, err := h.hierarchyEntry(ctx, cur.roomID, rs, suggestedOnly)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		walked++
		if walked > skip {
			rooms = append(rooms, entry)
		}
		if cur.depth >= maxDepth {
			continue
		}
		for i := len(children) - 1; i >= 0; i-- {
			if id := children[i].roomID; !seen[id] {
				seen[id] = true
				stack = append(stack, visit{id, cur.depth + 1})
			}
		}
	}
	resp := map[string]any{"rooms": rooms}
	if more {
		resp["next_batch"] = hierarchyToken(walked, maxDepth, suggestedOnly)
	}
	clientapi.WriteJSON(w, http.StatusOK, resp)
}

// hierarchyToken encodes where a /hierarchy walk stopped, with the
// parameters that may not change while paginating.
func hierarchyToken(walked int, maxDepth int64, suggested bool) string {
	return fmt.Sprintf("h%d_%d_%t", walked, maxDepth, suggested)
}

func parseHierarchyToken(tok string, maxDepth int64, suggested bool) (int, bool) {
	rest, ok := strings.CutPrefix(tok, "h")
	if !ok {
		return 0, false
	}
	parts := strings.Split(rest, "_")
	if len(parts) != 3 || parts[1] != strconv.FormatInt(maxDepth, 10) || parts[2] != strconv.FormatBool(suggested) {
		return 0, false
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// hierarchyEntry describes one room of a space tree and returns its valid
// children in the spec's order.
func (h *Handlers) hierarchyEntry(ctx context.Context, roomID string, s room.State, suggestedOnly bool) (hierarchyRoom, []spaceChild, error) {
	sum, evs, err := h.summarize(ctx, roomID, s)
	if err != nil {
		return hierarchyRoom{}, nil, err
	}
	entry := hierarchyRoom{roomSummary: sum, ChildrenState: []json.RawMessage{}}
	if create := evs[key(typeCreate, "")]; create != nil {
		entry.RoomVersion = create.Version().ID
	}
	entry.Encryption = contentString(evs[key(typeEncryption, "")], "algorithm")
	if jr := evs[key(typeJoinRules, "")]; jr != nil {
		var c struct {
			Allow []struct {
				Type   string `json:"type"`
				RoomID string `json:"room_id"`
			} `json:"allow"`
		}
		if json.Unmarshal(jr.Content(), &c) == nil {
			for _, a := range c.Allow {
				if a.Type == "m.room_membership" && a.RoomID != "" {
					entry.AllowedRoomIDs = append(entry.AllowedRoomIDs, a.RoomID)
				}
			}
		}
	}
	children, err := h.spaceChildren(ctx, s, suggestedOnly)
	if err != nil {
		return hierarchyRoom{}, nil, err
	}
	for _, ch := range children {
		raw, err := json.Marshal(strippedChild{
			Type: typeSpaceChild, StateKey: ch.roomID, Content: ch.ev.Content(),
			Sender: ch.ev.Sender(), OriginServerTS: ch.ev.OriginServerTS(),
		})
		if err != nil {
			return hierarchyRoom{}, nil, err
		}
		entry.ChildrenState = append(entry.ChildrenState, raw)
	}
	return entry, children, nil
}

// spaceChildren returns the valid m.space.child events of state s (those
// whose content has a non-empty via), ordered as the spec's "Ordering of
// children within a space" says: by order (when valid), then
// origin_server_ts, then room ID.
func (h *Handlers) spaceChildren(ctx context.Context, s room.State, suggestedOnly bool) ([]spaceChild, error) {
	var keys []event.StateKey
	for k := range s {
		if k.Type == typeSpaceChild {
			keys = append(keys, k)
		}
	}
	evs, err := h.stateEvents(ctx, s, keys...)
	if err != nil {
		return nil, err
	}
	var out []spaceChild
	for k, ev := range evs {
		var c struct {
			Via       []any `json:"via"`
			Order     any   `json:"order"`
			Suggested any   `json:"suggested"`
		}
		if json.Unmarshal(ev.Content(), &c) != nil || len(c.Via) == 0 {
			continue
		}
		order, _ := c.Order.(string)
		if !validOrder(order) {
			order = ""
		}
		suggested, _ := c.Suggested.(bool)
		if suggestedOnly && !suggested {
			continue
		}
		out = append(out, spaceChild{ev: ev, roomID: k.StateKey, order: order, suggested: suggested})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case (a.order != "") != (b.order != ""):
			return a.order != ""
		case a.order != b.order:
			return a.order < b.order
		case a.ev.OriginServerTS() != b.ev.OriginServerTS():
			return a.ev.OriginServerTS() < b.ev.OriginServerTS()
		}
		return a.roomID < b.roomID
	})
	return out, nil
}

// validOrder reports whether an m.space.child order is valid: at most 50
// characters between 0x20 and 0x7E.
func validOrder(order string) bool {
	if len(order) > 50 {
		return false
	}
	for i := 0; i < len(order); i++ {
		if order[i] < 0x20 || order[i] > 0x7e {
			return false
		}
	}
	return true
}

// mayPreview reports whether userID may see a room of state s in a space
// hierarchy: they are joined or invited, could join it (public, or
// restricted with an allowed room they are in), could knock on it, or it is
// world-readable.
func (h *Handlers) mayPreview(ctx context.Context, userID string, s room.State) (bool, error) {
	evs, err := h.stateEvents(ctx, s, key(typeMember, userID), key(typeJoinRules, ""), key(typeHistoryVisibility, ""))
	if err != nil {
		return false, err
	}
	if m := evs[key(typeMember, userID)]; m != nil && (m.Membership() == "join" || m.Membership() == "invite") {
		return true, nil
	}
	if visibility.HistoryVisibility(evs[key(typeHistoryVisibility, "")]) == visibility.WorldReadable {
		return true, nil
	}
	jr := evs[key(typeJoinRules, "")]
	switch contentString(jr, "join_rule") {
	case "public", "knock", "knock_restricted":
		return true, nil
	case "restricted":
		var c struct {
			Allow []struct {
				Type   string `json:"type"`
				RoomID string `json:"room_id"`
			} `json:"allow"`
		}
		if json.Unmarshal(jr.Content(), &c) != nil {
			return false, nil
		}
		for _, a := range c.Allow {
			if a.Type != "m.room_membership" {
				continue
			}
			m, err := h.dag.MembershipOf(ctx, userID, a.RoomID)
			if err != nil {
				return false, err
			}
			if m.Membership == "join" {
				return true, nil
			}
		}
	}
	return false, nil
}
