package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"hearth/core/auth"
	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/persist"
)

// transferredState returns the state an upgrade copies to the new room,
// after its power levels, as the spec recommends.
func transferredState() []string {
	return []string{
		typeJoinRules, typeHistoryVisibility, typeGuestAccess, typeName, typeTopic,
		typeAvatar, typeEncryption, typeServerACL,
	}
}

func (h *Handlers) upgrade(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	oldID := r.PathValue("roomId")
	var req struct {
		NewVersion         string   `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.NewVersion == "" {
		clientapi.WriteError(w, missingParam("new_version is required"))
		return
	}
	v, ok := roomversion.Lookup(req.NewVersion)
	if !ok {
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, codeUnsupportedRoomVersion, "room version %q is not supported", req.NewVersion))
		return
	}
	for _, u := range req.AdditionalCreators {
		if !auth.ValidUserID(u) {
			clientapi.WriteError(w, invalidParam("additional_creators: %q is not a valid user ID", u))
			return
		}
	}
	newID, err := h.upgradeRoom(ctx, c.UserID, oldID, v, req.AdditionalCreators)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"replacement_room": newID})
}

// upgradeRoom replaces oldID by a new room of version v, following the
// spec's "Server behaviour" for room upgrades.
func (h *Handlers) upgradeRoom(ctx context.Context, userID, oldID string, v *roomversion.Version, additional []string) (string, error) {
	s, err := h.requireJoined(ctx, userID, oldID)
	if err != nil {
		return "", err
	}
	pl, err := h.powerLevels(ctx, s)
	if err != nil {
		return "", err
	}
	if pl.UserLevel(userID) < pl.EventLevel(typeTombstone, true) {
		return "", forbidden("you may not upgrade this room")
	}
	keys := []event.StateKey{key(typeCreate, ""), key(typePowerLevels, ""), key(typeCanonicalAlias, "")}
	for _, t := range transferredState() {
		keys = append(keys, key(t, ""))
	}
	old, err := h.stateEvents(ctx, s, keys...)
	if err != nil {
		return "", err
	}
	oldCreate := old[key(typeCreate, "")]
	if tomb, err := h.stateEvent(ctx, s, typeTombstone, ""); err != nil {
		return "", err
	} else if tomb != nil && contentString(tomb, "replacement_room") != "" {
		return "", matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "this room was already upgraded")
	}
	lastPos, err := h.dag.LastPos(ctx, oldID)
	if err != nil {
		return "", err
	}
	last, err := h.dag.Timeline(ctx, oldID, lastPos+1, 0, true, 1)
	if err != nil {
		return "", err
	}

	// The new room's create event.
	cc := map[string]any{"room_version": v.ID}
	pred := map[string]any{"room_id": oldID}
	if len(last) > 0 {
		pred["event_id"] = last[0].Event.ID()
	}
	cc["predecessor"] = pred
	var oldCC map[string]json.RawMessage
	if err := json.Unmarshal(oldCreate.Content(), &oldCC); err != nil {
		return "", fmt.Errorf("rooms: create event of %s: %w", oldID, err)
	}
	for _, k := range []string{"type", "m.federate"} {
		if val, ok := oldCC[k]; ok {
			cc[k] = val
		}
	}
	if !v.CreatorIsSender {
		cc["creator"] = userID
	}
	creators := []string{userID}
	if v.PrivilegedCreators && len(additional) > 0 {
		cc["additional_creators"] = additional
		creators = append(creators, additional...)
	}
	createContent, err := json.Marshal(cc)
	if err != nil {
		return "", err
	}

	// Its power levels: the old ones, with the room creators left out in
	// versions that privilege them, and the upgrading user raised (until
	// the copied state is in) where they could not send it otherwise.
	final, err := contentMap(old[key(typePowerLevels, "")])
	if err != nil {
		return "", err
	}
	if final == nil {
		rules, _ := presetFor(presetPrivate)
		final = defaultPowerLevels(v, userID, rules, nil)
	}
	users, err := usersMap(final)
	if err != nil {
		return "", err
	}
	oldV := oldCreate.Version()
	if v.PrivilegedCreators {
		for _, u := range creators {
			delete(users, u)
		}
	} else if oldV.PrivilegedCreators {
		// Creators lose their unlimited power in older versions: they
		// get the highest level the old room gave anyone.
		for _, u := range auth.Creators(oldCreate) {
			users[u] = maxLevel(pl)
		}
	}
	final["users"] = users
	carried, err := h.carriedState(ctx, s, oldCreate, pl, userID)
	if err != nil {
		return "", err
	}
	initial := final
	if !v.PrivilegedCreators {
		needed := max(pl.EventLevel(typePowerLevels, true), pl.EventLevel(typeCanonicalAlias, true))
		for _, t := range transferredState() {
			needed = max(needed, pl.EventLevel(t, true))
		}
		for _, p := range carried {
			if p.Type == typeMember {
				needed = max(needed, pl.Ban())
			} else {
				needed = max(needed, pl.EventLevel(p.Type, true))
			}
		}
		level := pl.UserLevel(userID)
		if level == auth.Infinite {
			level = maxLevel(pl)
		}
		if level < needed {
			raised := maps(users)
			raised[userID] = needed
			initial = maps(final)
			initial["users"] = raised
		}
	}

	nr := newRoom{version: v, creator: userID, createContent: createContent}
	add := func(typ string, content any) error {
		raw, err := json.Marshal(content)
		if err != nil {
			return err
		}
		nr.events = append(nr.events, room.Proto{Sender: userID, Type: typ, StateKey: emptyKey(), Content: raw})
		return nil
	}
	join, err := h.memberContent(ctx, userID, "join", "", nil)
	if err != nil {
		return "", err
	}
	nr.events = append(nr.events, room.Proto{Sender: userID, Type: typeMember, StateKey: &userID, Content: join})
	if err := add(typePowerLevels, initial); err != nil {
		return "", err
	}
	for _, t := range transferredState() {
		if ev := old[key(t, "")]; ev != nil {
			nr.events = append(nr.events, room.Proto{Sender: userID, Type: t, StateKey: emptyKey(), Content: ev.Content()})
		}
	}
	if ev := old[key(typeCanonicalAlias, "")]; ev != nil {
		nr.events = append(nr.events, room.Proto{Sender: userID, Type: typeCanonicalAlias, StateKey: emptyKey(), Content: ev.Content()})
	}
	nr.events = append(nr.events, carried...)
	if !sameMap(initial, final) {
		if err := add(typePowerLevels, final); err != nil {
			return "", err
		}
	}

	h.aliasMu.Lock()
	defer h.aliasMu.Unlock()
	newID, err := h.build(ctx, nr, func(newID string) error { return h.moveAliases(ctx, oldID, newID) })
	if err != nil {
		return "", err
	}

	// The old room: the tombstone, then power levels that stop further
	// messages and invites, and its place in the directory.
	tombstone, err := json.Marshal(map[string]string{"body": "This room has been replaced", "replacement_room": newID})
	if err != nil {
		return "", err
	}
	if _, err := h.dag.Send(ctx, oldID, room.Proto{Sender: userID, Type: typeTombstone, StateKey: emptyKey(), Content: tombstone}); err != nil {
		return "", sendError(err, len(tombstone))
	}
	h.restrictOldRoom(ctx, oldID, userID, old[key(typePowerLevels, "")], pl)
	if published, err := h.isPublished(ctx, oldID); err != nil {
		return "", err
	} else if published {
		if err := h.setPublished(ctx, newID, true); err != nil {
			return "", err
		}
		if err := h.setPublished(ctx, oldID, false); err != nil {
			return "", err
		}
	}
	return newID, nil
}

// carriedState returns the state an upgrade carries over beyond
// transferredState, as Synapse does: the children of a space, and the bans
// (of users the upgrader outranks, whom they can ban in the new room).
func (h *Handlers) carriedState(ctx context.Context, s room.State, oldCreate *event.PDU, pl *auth.PowerLevels, userID string) ([]room.Proto, error) {
	isSpace := contentString(oldCreate, "type") == "m.space"
	var keys []event.StateKey
	for k := range s {
		if k.Type == typeMember || (isSpace && k.Type == typeSpaceChild) {
			keys = append(keys, k)
		}
	}
	evs, err := h.stateEvents(ctx, s, keys...)
	if err != nil {
		return nil, err
	}
	var out []room.Proto
	for _, ev := range sortedEvents(evs) {
		sk, _ := ev.StateKey()
		switch {
		case ev.Type() == typeSpaceChild:
			out = append(out, room.Proto{Sender: userID, Type: typeSpaceChild, StateKey: &sk, Content: ev.Content()})
		case ev.Membership() == "ban" && pl.UserLevel(sk) < pl.UserLevel(userID):
			content, err := json.Marshal(map[string]string{"membership": "ban"})
			if err != nil {
				return nil, err
			}
			out = append(out, room.Proto{Sender: userID, Type: typeMember, StateKey: &sk, Content: content})
		}
	}
	return out, nil
}

// restrictOldRoom raises events_default and invite of the old room to the
// greater of 50 and users_default+1, as the spec suggests. The upgrade is
// done by then, so a failure is only logged.
func (h *Handlers) restrictOldRoom(ctx context.Context, roomID, userID string, plEvent *event.PDU, pl *auth.PowerLevels) {
	content, err := contentMap(plEvent)
	if err != nil || content == nil {
		return
	}
	level := max(int64(50), pl.UsersDefault()+1)
	if pl.EventsDefault() >= level && pl.Invite() >= level {
		return
	}
	content["events_default"] = max(level, pl.EventsDefault())
	content["invite"] = max(level, pl.Invite())
	raw, err := json.Marshal(content)
	if err != nil {
		return
	}
	empty := ""
	if _, err := h.dag.Send(ctx, roomID, room.Proto{Sender: userID, Type: typePowerLevels, StateKey: &empty, Content: raw}); err != nil {
		h.log.Info("rooms: could not restrict the power levels of an upgraded room", "room", roomID, "err", err)
	}
}

// moveAliases points the local aliases of oldID at newID; the caller holds
// aliasMu.
func (h *Handlers) moveAliases(ctx context.Context, oldID, newID string) error {
	aliases, err := h.localAliases(ctx, oldID)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		rec, ok, err := h.lookupLocalAlias(ctx, a)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		rec.RoomID = newID
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		err = h.cfg.Store.Update(ctx, func(tx persist.Tx) error {
			if err := tx.Set(aliasKey(a), raw); err != nil {
				return err
			}
			if err := tx.Delete(roomAliasKey(oldID, a)); err != nil {
				return err
			}
			return tx.Set(roomAliasKey(newID, a), nil)
		})
		if err != nil {
			return fmt.Errorf("rooms: move alias %s: %w", a, err)
		}
	}
	return nil
}

// emptyKey returns a pointer to the empty state key.
func emptyKey() *string {
	e := ""
	return &e
}

// contentMap returns the content of ev as a map of raw values, nil for a
// nil ev.
func contentMap(ev *event.PDU) (map[string]any, error) {
	if ev == nil {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ev.Content(), &m); err != nil {
		return nil, fmt.Errorf("rooms: content of %s: %w", ev.ID(), err)
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

// usersMap returns the users of power level content c as a map of levels.
func usersMap(c map[string]any) (map[string]any, error) {
	users := map[string]any{}
	switch u := c["users"].(type) {
	case nil:
	case map[string]any:
		for k, v := range u {
			users[k] = v
		}
	case json.RawMessage:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(u, &m); err != nil {
			return nil, fmt.Errorf("rooms: power levels users: %w", err)
		}
		for k, v := range m {
			users[k] = v
		}
	}
	return users, nil
}

// maxLevel returns the highest level pl gives any user, at least 100.
func maxLevel(pl *auth.PowerLevels) int64 {
	level := int64(100)
	for _, l := range pl.Users() {
		if l != auth.Infinite {
			level = max(level, l)
		}
	}
	return level
}

// maps returns a shallow copy of m.
func maps(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// sameMap reports whether a and b encode to the same JSON.
func sameMap(a, b map[string]any) bool {
	ra, errA := json.Marshal(a)
	rb, errB := json.Marshal(b)
	return errA == nil && errB == nil && slices.Equal(ra, rb)
}
