package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/matrixerr"
	"hearth/core/room"
)

// Bounds of the user directory search.
const (
	// DefaultDirectoryLimit is the number of results when the request
	// gives no limit (the spec's default).
	DefaultDirectoryLimit = 10
	// MaxDirectoryLimit caps the limit a client may ask for.
	MaxDirectoryLimit = 100
	// MaxDirectoryPublicRooms is the most published rooms whose members
	// one search examines.
	MaxDirectoryPublicRooms = 50
)

// directoryEntry is one user of the directory, as the spec shapes it.
type directoryEntry struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// searchDirectory answers POST /user_directory/search. Like Synapse's
// default it finds users who share a joined room with the searcher and
// users in public rooms (the published ones, when Config.PublicRooms is
// set). It reads only the member events of those rooms, so its cost follows
// the searcher's rooms, never the whole server. Users match when every word
// of the search term occurs, ignoring case, in their display name or their
// user ID's localpart (or, for words with '@' or ':', their whole user ID).
func (h *Handlers) searchDirectory(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req struct {
		SearchTerm *string `json:"search_term"`
		Limit      *int    `json:"limit"`
	}
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.SearchTerm == nil {
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing search_term"))
		return
	}
	limit := DefaultDirectoryLimit
	if req.Limit != nil {
		if *req.Limit < 0 {
			clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "limit must not be negative"))
			return
		}
		limit = min(*req.Limit, MaxDirectoryLimit)
	}
	words := strings.Fields(strings.ToLower(*req.SearchTerm))
	candidates, err := h.directoryCandidates(r.Context(), c.UserID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	type ranked struct {
		directoryEntry
		rank int
	}
	var found []ranked
	for _, e := range candidates {
		if rank, ok := match(e, words); ok {
			found = append(found, ranked{e, rank})
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].rank != found[j].rank {
			return found[i].rank < found[j].rank
		}
		return found[i].UserID < found[j].UserID
	})
	results := make([]directoryEntry, 0, min(len(found), limit))
	for _, f := range found[:min(len(found), limit)] {
		results = append(results, f.directoryEntry)
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"results": results, "limited": len(found) > limit})
}

// match reports whether e matches every word, and ranks it: 0 when the
// display name or localpart starts with the first word, 1 otherwise. No
// words match everyone.
func match(e directoryEntry, words []string) (rank int, ok bool) {
	name := strings.ToLower(e.DisplayName)
	id := strings.ToLower(e.UserID)
	local, _, _ := strings.Cut(strings.TrimPrefix(id, "@"), ":")
	for _, w := range words {
		if strings.Contains(name, w) || strings.Contains(local, w) {
			continue
		}
		if strings.ContainsAny(w, "@:") && strings.Contains(id, w) {
			continue
		}
		return 0, false
	}
	if len(words) > 0 && !strings.HasPrefix(name, words[0]) && !strings.HasPrefix(local, words[0]) {
		return 1, true
	}
	return 0, true
}

// directoryCandidates returns the joined members of the searcher's joined
// rooms and of the published rooms, with the profile their member event
// shows (the first room's, in room ID order, for the searcher's rooms).
func (h *Handlers) directoryCandidates(ctx context.Context, userID string) (map[string]directoryEntry, error) {
	memberships, err := h.cfg.DAG.Rooms(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("profile: listing %s's rooms: %w", userID, err)
	}
	var ids []string
	for id, m := range memberships {
		if m.Membership == "join" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if h.cfg.PublicRooms != nil {
		public, err := h.cfg.PublicRooms.PublishedRooms(ctx, MaxDirectoryPublicRooms)
		if err != nil {
			return nil, fmt.Errorf("profile: listing published rooms: %w", err)
		}
		for _, id := range public {
			if memberships[id].Membership != "join" {
				ids = append(ids, id)
			}
		}
	}
	out := map[string]directoryEntry{}
	for _, roomID := range ids {
		if err := h.addMembers(ctx, roomID, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addMembers adds the joined members of one room to out, keeping entries
// already there.
func (h *Handlers) addMembers(ctx context.Context, roomID string, out map[string]directoryEntry) error {
	state, err := h.cfg.DAG.CurrentState(ctx, roomID)
	if errors.Is(err, room.ErrUnknownRoom) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("profile: reading the state of %s: %w", roomID, err)
	}
	members := room.State{}
	for k, id := range state {
		if k.Type == "m.room.member" {
			if _, seen := out[k.StateKey]; !seen {
				members[k] = id
			}
		}
	}
	if len(members) == 0 {
		return nil
	}
	evs, err := h.cfg.DAG.StateEvents(ctx, members)
	if err != nil {
		return fmt.Errorf("profile: reading the members of %s: %w", roomID, err)
	}
	for k, ev := range evs {
		if ev.Membership() == "join" {
			out[k.StateKey] = entryOf(k.StateKey, ev)
		}
	}
	return nil
}

// entryOf reads the profile a member event shows; fields of the wrong type
// are left out.
func entryOf(userID string, ev *event.PDU) directoryEntry {
	var c struct {
		DisplayName any `json:"displayname"`
		AvatarURL   any `json:"avatar_url"`
	}
	e := directoryEntry{UserID: userID}
	if json.Unmarshal(ev.Content(), &c) == nil {
		e.DisplayName, _ = c.DisplayName.(string)
		e.AvatarURL, _ = c.AvatarURL.(string)
	}
	return e
}
