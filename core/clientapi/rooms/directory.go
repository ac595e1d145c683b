package rooms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/room"
	"hearth/core/visibility"
	"hearth/persist"
)

const (
	prefixPublished = "rooms/pub/"
	keyPublishCount = "rooms/pubcount"
	// Page sizes of /publicRooms: the default, the most a client may ask
	// for, and the most published rooms one request examines when a search
	// term filters them.
	defaultPublicRoomsLimit = 100
	maxPublicRoomsLimit     = 500
	maxPublicRoomsScan      = 1000
)

func publishedKey(roomID string) []byte { return []byte(prefixPublished + roomID) }

// setPublished adds roomID to the published room directory or removes it.
func (h *Handlers) setPublished(ctx context.Context, roomID string, publish bool) error {
	err := h.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		_, err := tx.Get(publishedKey(roomID))
		was := err == nil
		if err != nil && !errors.Is(err, persist.ErrNotFound) {
			return err
		}
		if was == publish {
			return nil
		}
		n, err := publishedCount(tx)
		if err != nil {
			return err
		}
		if publish {
			n++
			err = tx.Set(publishedKey(roomID), nil)
		} else {
			n--
			err = tx.Delete(publishedKey(roomID))
		}
		if err != nil {
			return err
		}
		return tx.Set([]byte(keyPublishCount), binary.BigEndian.AppendUint64(nil, n))
	})
	if err != nil {
		return fmt.Errorf("rooms: publish %s: %w", roomID, err)
	}
	return nil
}

func publishedCount(tx persist.Tx) (uint64, error) {
	return persist.GetUint64(tx, []byte(keyPublishCount))
}

// isPublished reports whether roomID is in the published room directory.
func (h *Handlers) isPublished(ctx context.Context, roomID string) (bool, error) {
	published := false
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		_, err := tx.Get(publishedKey(roomID))
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		published = err == nil
		return err
	})
	return published, err
}

func (h *Handlers) getDirectoryVisibility(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	if _, err := h.dag.Version(ctx, roomID); errors.Is(err, room.ErrUnknownRoom) {
		clientapi.WriteError(w, notFound("room not found"))
		return
	} else if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	published, err := h.isPublished(ctx, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	vis := "private"
	if published {
		vis = "public"
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"visibility": vis})
}

func (h *Handlers) putDirectoryVisibility(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	var req struct {
		Visibility string `json:"visibility"`
	}
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.Visibility == "" {
		req.Visibility = "public"
	}
	if req.Visibility != "public" && req.Visibility != "private" {
		clientapi.WriteError(w, invalidParam("visibility must be \"public\" or \"private\""))
		return
	}
	if _, err := h.dag.Version(ctx, roomID); errors.Is(err, room.ErrUnknownRoom) {
		clientapi.WriteError(w, notFound("room not found"))
		return
	} else if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	// As Synapse: whoever may set the room's canonical alias may list it.
	allowed, err := h.canSendState(ctx, roomID, c.UserID, typeCanonicalAlias)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if !allowed {
		clientapi.WriteError(w, forbidden("you may not change this room's visibility in the directory"))
		return
	}
	if err := h.setPublished(ctx, roomID, req.Visibility == "public"); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// roomSummary is a room as the room directory and the space hierarchy
// describe it (the spec's PublishedRoomsChunk and RoomSummary).
type roomSummary struct {
	RoomID           string `json:"room_id"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	NumJoinedMembers int    `json:"num_joined_members"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
	JoinRule         string `json:"join_rule,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
}

// summarize describes a room from its state s, and returns the state
// events it read by key.
func (h *Handlers) summarize(ctx context.Context, roomID string, s room.State) (roomSummary, map[event.StateKey]*event.PDU, error) {
	evs, err := h.stateEvents(ctx, s,
		key(typeCreate, ""), key(typeName, ""), key(typeTopic, ""), key(typeCanonicalAlias, ""),
		key(typeAvatar, ""), key(typeHistoryVisibility, ""), key(typeGuestAccess, ""), key(typeJoinRules, ""),
		key(typeEncryption, ""))
	if err != nil {
		return roomSummary{}, nil, err
	}
	sum := roomSummary{
		RoomID:         roomID,
		Name:           contentString(evs[key(typeName, "")], "name"),
		Topic:          contentString(evs[key(typeTopic, "")], "topic"),
		CanonicalAlias: contentString(evs[key(typeCanonicalAlias, "")], "alias"),
		AvatarURL:      contentString(evs[key(typeAvatar, "")], "url"),
		WorldReadable:  visibility.HistoryVisibility(evs[key(typeHistoryVisibility, "")]) == visibility.WorldReadable,
		GuestCanJoin:   contentString(evs[key(typeGuestAccess, "")], "guest_access") == "can_join",
		JoinRule:       contentString(evs[key(typeJoinRules, "")], "join_rule"),
		RoomType:       contentString(evs[key(typeCreate, "")], "type"),
	}
	if sum.JoinRule == "" {
		sum.JoinRule = "invite"
	}
	if sum.NumJoinedMembers, err = h.joinedCount(ctx, roomID); err != nil {
		return roomSummary{}, nil, err
	}
	return sum, evs, nil
}

// maxCountCache bounds the rooms whose joined member counts are kept.
const maxCountCache = 4096

// joinedCount returns the number of joined members of roomID. Counting
// reads every member event of the room, so counts are cached for as long as
// the room's timeline does not move. The state counted is read after the
// position it is cached under, so a count is never older than its label.
func (h *Handlers) joinedCount(ctx context.Context, roomID string) (int, error) {
	last, err := h.dag.LastPos(ctx, roomID)
	if err != nil {
		return 0, err
	}
	h.countMu.Lock()
	c, ok := h.counts[roomID]
	h.countMu.Unlock()
	if ok && c.pos == last {
		return c.n, nil
	}
	s, err := h.currentState(ctx, roomID)
	if err != nil {
		return 0, err
	}
	n, err := h.countJoined(ctx, s)
	if err != nil {
		return 0, err
	}
	h.countMu.Lock()
	defer h.countMu.Unlock()
	if len(h.counts) >= maxCountCache {
		for k := range h.counts {
			delete(h.counts, k)
			break
		}
	}
	h.counts[roomID] = cachedCount{pos: last, n: n}
	return n, nil
}

// cachedCount is a cached count of a room's joined members, valid while
// the room's latest timeline position is pos.
type cachedCount struct {
	pos uint64
	n   int
}

// countJoined counts the joined members of state s.
func (h *Handlers) countJoined(ctx context.Context, s room.State) (int, error) {
	members := room.State{}
	for k, id := range s {
		if k.Type == typeMember {
			members[k] = id
		}
	}
	evs, err := h.dag.StateEvents(ctx, members)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ev := range evs {
		if ev.Membership() == "join" {
			n++
		}
	}
	return n, nil
}

// publicRoomsRequest is what GET and POST /publicRooms ask for.
type publicRoomsRequest struct {
	Limit  *int   `json:"limit"`
	Since  string `json:"since"`
	Filter *struct {
		GenericSearchTerm string    `json:"generic_search_term"`
		RoomTypes         []*string `json:"room_types"`
	} `json:"filter"`
	// server is the server whose directory is asked for.
	server string
}

func (h *Handlers) publicRoomsGet(w http.ResponseWriter, r *http.Request) {
	var req publicRoomsRequest
	q := r.URL.Query()
	if q.Has("limit") {
		n, err := clientapi.QueryInt(r, "limit", 0)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		limit := int(min(n, maxPublicRoomsLimit))
		req.Limit = &limit
	}
	req.Since = q.Get("since")
	req.server = q.Get("server")
	h.publicRooms(w, r, req)
}

func (h *Handlers) publicRoomsPost(w http.ResponseWriter, r *http.Request, _ clientapi.Caller) {
	var req publicRoomsRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.Limit != nil && *req.Limit < 0 {
		clientapi.WriteError(w, invalidParam("limit must not be negative"))
		return
	}
	req.server = r.URL.Query().Get("server")
	h.publicRooms(w, r, req)
}

// publicRooms lists the published rooms in room ID order. since is
// "n<room ID>" (the rooms after it) or "p<room ID>" (the rooms before it).
func (h *Handlers) publicRooms(w http.ResponseWriter, r *http.Request, req publicRoomsRequest) {
	ctx := r.Context()
	if req.server != "" && req.server != h.cfg.ServerName {
		clientapi.WriteError(w, notFound("this server cannot list the rooms of %s", req.server))
		return
	}
	limit := defaultPublicRoomsLimit
	if req.Limit != nil && *req.Limit > 0 {
		limit = min(*req.Limit, maxPublicRoomsLimit)
	}
	backwards := false
	opts := persist.IterOptions{Prefix: []byte(prefixPublished)}
	switch {
	case req.Since == "":
	case strings.HasPrefix(req.Since, "n"):
		opts.Start = append(publishedKey(req.Since[1:]), 0)
	case strings.HasPrefix(req.Since, "p"):
		opts.End = publishedKey(req.Since[1:])
		opts.Reverse, backwards = true, true
	default:
		clientapi.WriteError(w, invalidParam("unknown pagination token"))
		return
	}
	term := ""
	var types []*string
	if req.Filter != nil {
		term = strings.ToLower(req.Filter.GenericSearchTerm)
		types = req.Filter.RoomTypes
	}
	var ids []string
	var total uint64
	more := false
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		var err error
		if total, err = publishedCount(tx); err != nil {
			return err
		}
		it := tx.Iterate(opts)
		defer it.Close()
		for it.Next() {
			ids = append(ids, string(it.Key()[len(prefixPublished):]))
			if len(ids) >= maxPublicRoomsScan {
				break
			}
		}
		return it.Err()
	})
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	chunk := []roomSummary{}
	scanned := 0
	for _, id := range ids {
		if len(chunk) == limit {
			more = true
			break
		}
		scanned++
		s, err := h.currentState(ctx, id)
		if errors.Is(err, room.ErrUnknownRoom) {
			continue
		}
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		sum, _, err := h.summarize(ctx, id, s)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		if term != "" && !strings.Contains(strings.ToLower(sum.Name), term) &&
			!strings.Contains(strings.ToLower(sum.Topic), term) &&
			!strings.Contains(strings.ToLower(sum.CanonicalAlias), term) {
			continue
		}
		if types != nil && !slices.ContainsFunc(types, func(t *string) bool {
			return (t == nil && sum.RoomType == "") || (t != nil && *t == sum.RoomType)
		}) {
			continue
		}
		chunk = append(chunk, sum)
	}
	if len(ids) == maxPublicRoomsScan && scanned == len(ids) {
		more = true
	}
	resp := map[string]any{"total_room_count_estimate": total}
	var last, first string
	if scanned > 0 {
		last, first = ids[scanned-1], ids[0]
	}
	if backwards {
		slices.Reverse(chunk)
		if more {
			resp["prev_batch"] = "p" + last
		}
		if first != "" {
			resp["next_batch"] = "n" + first
		}
	} else {
		if more {
			resp["next_batch"] = "n" + last
		}
		if req.Since != "" && first != "" {
			resp["prev_batch"] = "p" + first
		}
	}
	resp["chunk"] = chunk
	clientapi.WriteJSON(w, http.StatusOK, resp)
}

// PublishedRooms returns up to limit rooms published in the room directory,
// in room ID order, for searches that include public rooms' members.
func (h *Handlers) PublishedRooms(ctx context.Context, limit int) ([]string, error) {
	var ids []string
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefixPublished), KeysOnly: true})
		defer it.Close()
		for len(ids) < limit && it.Next() {
			ids = append(ids, string(it.Key()[len(prefixPublished):]))
		}
		return it.Err()
	})
	return ids, err
}
