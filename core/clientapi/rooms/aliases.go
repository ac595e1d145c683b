package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	"hearth/core/mxid"
	"hearth/core/room"
	"hearth/core/visibility"
	"hearth/persist"
)

const (
	prefixAlias     = "rooms/alias/"
	prefixRoomAlias = "rooms/ralias/"
	// maxAliasLength is the spec's limit on room aliases, in bytes.
	maxAliasLength = 255
)

// aliasRecord is what the store keeps for a local alias.
type aliasRecord struct {
	RoomID  string `json:"room_id"`
	Creator string `json:"creator"`
}

func aliasKey(alias string) []byte { return []byte(prefixAlias + alias) }

func roomAliasPrefix(roomID string) []byte { return []byte(prefixRoomAlias + roomID + "\x00") }

func roomAliasKey(roomID, alias string) []byte { return append(roomAliasPrefix(roomID), alias...) }

// validAlias reports whether alias has the grammar of a room alias:
// "#localpart:server", at most 255 bytes, without whitespace or control
// characters.
func validAlias(alias string) bool { return mxid.ValidRoomAlias(alias) }

// aliasServer returns the server name of an alias.
func aliasServer(alias string) string { return mxid.ServerOf(alias) }

// localAlias returns the local alias with the given localpart (the
// room_alias_name of /createRoom), or 400 M_INVALID_PARAM.
func (h *Handlers) localAlias(localpart string) (string, error) {
	if localpart == "" || strings.ContainsAny(localpart, ":#") {
		return "", invalidParam("room_alias_name %q is not a valid alias localpart", localpart)
	}
	alias := "#" + localpart + ":" + h.cfg.ServerName
	if !validAlias(alias) {
		return "", invalidParam("room_alias_name %q is not a valid alias localpart", localpart)
	}
	return alias, nil
}

// lookupLocalAlias returns the record of a local alias.
func (h *Handlers) lookupLocalAlias(ctx context.Context, alias string) (aliasRecord, bool, error) {
	var rec aliasRecord
	found := false
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get(aliasKey(alias))
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return json.Unmarshal(raw, &rec)
	})
	if err != nil {
		return aliasRecord{}, false, fmt.Errorf("rooms: read alias %s: %w", alias, err)
	}
	return rec, found, nil
}

// ResolveLocalAlias returns the room a local alias points to, for the
// federation directory query.
func (h *Handlers) ResolveLocalAlias(ctx context.Context, alias string) (roomID string, ok bool, err error) {
	rec, ok, err := h.lookupLocalAlias(ctx, alias)
	return rec.RoomID, ok, err
}

// storeAlias maps alias to roomID; the caller holds aliasMu and has
// checked that the alias is free.
func (h *Handlers) storeAlias(ctx context.Context, alias, roomID, creator string) error {
	raw, err := json.Marshal(aliasRecord{RoomID: roomID, Creator: creator})
	if err != nil {
		return err
	}
	err = h.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		if err := tx.Set(aliasKey(alias), raw); err != nil {
			return err
		}
		return tx.Set(roomAliasKey(roomID, alias), nil)
	})
	if err != nil {
		return fmt.Errorf("rooms: store alias %s: %w", alias, err)
	}
	return nil
}

// removeAlias deletes a local alias.
func (h *Handlers) removeAlias(ctx context.Context, alias, roomID string) error {
	err := h.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		if err := tx.Delete(aliasKey(alias)); err != nil {
			return err
		}
		return tx.Delete(roomAliasKey(roomID, alias))
	})
	if err != nil {
		return fmt.Errorf("rooms: delete alias %s: %w", alias, err)
	}
	return nil
}

// localAliases returns the local aliases of a room, sorted.
func (h *Handlers) localAliases(ctx context.Context, roomID string) ([]string, error) {
	aliases := []string{}
	prefix := roomAliasPrefix(roomID)
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: prefix, KeysOnly: true})
		defer it.Close()
		for it.Next() {
			aliases = append(aliases, string(it.Key()[len(prefix):]))
		}
		return it.Err()
	})
	return aliases, err
}

// resolveAlias returns the room an alias points to and servers that can
// join it: local aliases from the store, others through RemoteAliases.
func (h *Handlers) resolveAlias(ctx context.Context, alias string) (string, []string, error) {
	if !validAlias(alias) {
		return "", nil, invalidParam("%q is not a valid room alias", alias)
	}
	if aliasServer(alias) == h.cfg.ServerName {
		rec, ok, err := h.lookupLocalAlias(ctx, alias)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "", nil, notFound("room alias %s not found", alias)
		}
		return rec.RoomID, []string{h.cfg.ServerName}, nil
	}
	if h.cfg.RemoteAliases == nil {
		return "", nil, notFound("room alias %s not found", alias)
	}
	roomID, servers, err := h.cfg.RemoteAliases.ResolveAlias(ctx, alias)
	if errors.Is(err, ErrUnknownAlias) {
		return "", nil, notFound("room alias %s not found", alias)
	}
	if err != nil {
		return "", nil, err
	}
	return roomID, servers, nil
}

func (h *Handlers) getAlias(w http.ResponseWriter, r *http.Request) {
	roomID, servers, err := h.resolveAlias(r.Context(), r.PathValue("roomAlias"))
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": servers})
}

func (h *Handlers) putAlias(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	alias := r.PathValue("roomAlias")
	var req struct {
		RoomID string `json:"room_id"`
	}
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.RoomID == "" {
		clientapi.WriteError(w, missingParam("room_id is required"))
		return
	}
	if !validAlias(alias) || aliasServer(alias) != h.cfg.ServerName {
		clientapi.WriteError(w, invalidParam("%q is not a valid alias of this server", alias))
		return
	}
	if _, err := h.dag.Version(ctx, req.RoomID); errors.Is(err, room.ErrUnknownRoom) {
		clientapi.WriteError(w, notFound("unknown room %s", req.RoomID))
		return
	} else if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if _, err := h.requireJoined(ctx, c.UserID, req.RoomID); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	h.aliasMu.Lock()
	defer h.aliasMu.Unlock()
	if _, ok, err := h.lookupLocalAlias(ctx, alias); err != nil {
		clientapi.WriteError(w, err)
		return
	} else if ok {
		clientapi.WriteError(w, matrixerr.New(http.StatusConflict, matrixerr.CodeUnknown, "room alias %s already exists", alias))
		return
	}
	if err := h.storeAlias(ctx, alias, req.RoomID, c.UserID); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (h *Handlers) deleteAlias(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	alias := r.PathValue("roomAlias")
	if !validAlias(alias) {
		clientapi.WriteError(w, invalidParam("%q is not a valid room alias", alias))
		return
	}
	h.aliasMu.Lock()
	defer h.aliasMu.Unlock()
	rec, ok, err := h.lookupLocalAlias(ctx, alias)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if !ok {
		clientapi.WriteError(w, notFound("room alias %s not found", alias))
		return
	}
	if rec.Creator != c.UserID {
		allowed, err := h.canSendState(ctx, rec.RoomID, c.UserID, typeCanonicalAlias)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		if !allowed {
			clientapi.WriteError(w, forbidden("you may not delete the alias %s", alias))
			return
		}
	}
	if err := h.removeAlias(ctx, alias, rec.RoomID); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	h.dropCanonicalAlias(ctx, rec.RoomID, c.UserID, alias)
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// canSendState reports whether userID, joined to roomID, has the power to
// send state events of eventType there.
func (h *Handlers) canSendState(ctx context.Context, roomID, userID, eventType string) (bool, error) {
	s, err := h.currentState(ctx, roomID)
	if errors.Is(err, room.ErrUnknownRoom) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if m, err := h.membershipIn(ctx, s, userID); err != nil || m != "join" {
		return false, err
	}
	pl, err := h.powerLevels(ctx, s)
	if err != nil {
		return false, err
	}
	return pl.UserLevel(userID) >= pl.EventLevel(eventType, true), nil
}

// dropCanonicalAlias removes a deleted alias from the room's
// m.room.canonical_alias event, as the user who deleted it, when that user
// may change it. The alias is already gone, so failures are only logged.
func (h *Handlers) dropCanonicalAlias(ctx context.Context, roomID, userID, alias string) {
	s, err := h.currentState(ctx, roomID)
	if err != nil {
		return
	}
	ev, err := h.stateEvent(ctx, s, typeCanonicalAlias, "")
	if err != nil || ev == nil {
		return
	}
	var content map[string]any
	if json.Unmarshal(ev.Content(), &content) != nil {
		return
	}
	changed := false
	if a, _ := content["alias"].(string); a == alias {
		delete(content, "alias")
		changed = true
	}
	if alts, ok := content["alt_aliases"].([]any); ok {
		kept := slices.DeleteFunc(slices.Clone(alts), func(a any) bool { return a == alias })
		if len(kept) != len(alts) {
			content["alt_aliases"] = kept
			changed = true
		}
	}
	if !changed {
		return
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return
	}
	empty := ""
	if _, err := h.dag.Send(ctx, roomID, room.Proto{Sender: userID, Type: typeCanonicalAlias, StateKey: &empty, Content: raw}); err != nil {
		h.log.Info("rooms: could not update the canonical alias after deleting an alias", "room", roomID, "alias", alias, "err", err)
	}
}

func (h *Handlers) roomAliases(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	m, err := h.dag.MembershipOf(ctx, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if m.Membership != "join" {
		s, err := h.currentState(ctx, roomID)
		if errors.Is(err, room.ErrUnknownRoom) {
			clientapi.WriteError(w, notInRoom())
			return
		}
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		hv, err := h.stateEvent(ctx, s, typeHistoryVisibility, "")
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		if visibility.HistoryVisibility(hv) != visibility.WorldReadable {
			clientapi.WriteError(w, notInRoom())
			return
		}
	}
	aliases, err := h.localAliases(ctx, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"aliases": aliases})
}

// checkCanonicalAlias validates the content of an m.room.canonical_alias
// event sent to roomID: every alias must be well formed (400
// M_INVALID_PARAM) and every local one must point to the room (400
// M_BAD_ALIAS). Aliases of other servers cannot be checked here.
func (h *Handlers) checkCanonicalAlias(ctx context.Context, roomID string, content json.RawMessage) error {
	var c struct {
		Alias      *string  `json:"alias"`
		AltAliases []string `json:"alt_aliases"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return invalidParam("m.room.canonical_alias: alias must be a string and alt_aliases a list of strings")
	}
	aliases := slices.Clone(c.AltAliases)
	if c.Alias != nil {
		aliases = append(aliases, *c.Alias)
	}
	for _, a := range aliases {
		if !validAlias(a) {
			return invalidParam("%q is not a valid room alias", a)
		}
		if aliasServer(a) != h.cfg.ServerName {
			continue
		}
		rec, ok, err := h.lookupLocalAlias(ctx, a)
		if err != nil {
			return err
		}
		if !ok || rec.RoomID != roomID {
			return matrixerr.New(http.StatusBadRequest, codeBadAlias, "the alias %s does not point to this room", a)
		}
	}
	return nil
}
