package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"hearth/core/auth"
	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/roomversion"
)

// The presets of POST /createRoom.
const (
	presetPrivate        = "private_chat"
	presetTrustedPrivate = "trusted_private_chat"
	presetPublic         = "public_chat"
)

// stateEventSpec is an entry of initial_state.
type stateEventSpec struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// createRequest is the body of POST /createRoom.
type createRequest struct {
	Visibility                string                     `json:"visibility"`
	RoomAliasName             *string                    `json:"room_alias_name"`
	Name                      *string                    `json:"name"`
	Topic                     *string                    `json:"topic"`
	Invite                    []string                   `json:"invite"`
	Invite3PID                []json.RawMessage          `json:"invite_3pid"`
	RoomVersion               string                     `json:"room_version"`
	CreationContent           map[string]json.RawMessage `json:"creation_content"`
	InitialState              []stateEventSpec           `json:"initial_state"`
	Preset                    string                     `json:"preset"`
	IsDirect                  bool                       `json:"is_direct"`
	PowerLevelContentOverride map[string]json.RawMessage `json:"power_level_content_override"`
}

// presetRules are the state a preset implies.
type presetRules struct {
	joinRule      string
	guestAccess   string
	inviteLevel   int
	invitesAreOps bool
}

// presetFor returns the rules of a preset of the spec's table, and Synapse's
// invite levels (0 in private chats, where every member may invite).
func presetFor(name string) (presetRules, bool) {
	switch name {
	case presetPrivate:
		return presetRules{joinRule: "invite", guestAccess: "can_join", inviteLevel: 0}, true
	case presetTrustedPrivate:
		return presetRules{joinRule: "invite", guestAccess: "can_join", inviteLevel: 0, invitesAreOps: true}, true
	case presetPublic:
		return presetRules{joinRule: "public", guestAccess: "forbidden", inviteLevel: 50}, true
	}
	return presetRules{}, false
}

// newRoom is a room about to be created: its create event's content and
// the events that follow it, in order.
type newRoom struct {
	version       *roomversion.Version
	creator       string
	createContent json.RawMessage
	events        []room.Proto
}

func (h *Handlers) createRoom(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req createRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	roomID, err := h.create(r.Context(), c, req)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
}

// create carries out a /createRoom request.
func (h *Handlers) create(ctx context.Context, c clientapi.Caller, req createRequest) (string, error) {
	switch req.Visibility {
	case "", "private", "public":
	default:
		return "", invalidParam("visibility must be \"public\" or \"private\"")
	}
	preset := req.Preset
	if preset == "" {
		preset = presetPrivate
		if req.Visibility == "public" {
			preset = presetPublic
		}
	}
	rules, ok := presetFor(preset)
	if !ok {
		return "", invalidParam("unknown preset %q", req.Preset)
	}
	versionID := req.RoomVersion
	if versionID == "" {
		versionID = roomversion.Default
	}
	v, ok := roomversion.Lookup(versionID)
	if !ok {
		return "", matrixerr.New(http.StatusBadRequest, codeUnsupportedRoomVersion, "room version %q is not supported", versionID)
	}
	if len(req.Invite3PID) > 0 {
		return "", forbidden("third-party invites are not supported by this server")
	}
	var invites []string
	for _, u := range req.Invite {
		if !auth.ValidUserID(u) {
			return "", invalidParam("invite: %q is not a valid user ID", u)
		}
		if u != c.UserID && !slices.Contains(invites, u) {
			invites = append(invites, u)
		}
	}
	for _, s := range req.InitialState {
		if s.Type == "" {
			return "", badJSON("initial_state: every event needs a type")
		}
		if s.Type == typeCreate {
			return "", badJSON("initial_state may not hold an m.room.create event; use creation_content")
		}
		if !isObject(s.Content) {
			return "", badJSON("initial_state: the content of %s must be an object", s.Type)
		}
	}
	alias := ""
	if req.RoomAliasName != nil {
		var err error
		if alias, err = h.localAlias(*req.RoomAliasName); err != nil {
			return "", err
		}
	}

	nr := newRoom{version: v, creator: c.UserID}
	var err error
	if nr.createContent, err = createContent(v, c.UserID, req.CreationContent, rules, invites); err != nil {
		return "", err
	}
	nr.events, err = h.creationEvents(ctx, v, c.UserID, req, rules, alias, invites)
	if err != nil {
		return "", err
	}

	if alias != "" {
		h.aliasMu.Lock()
		defer h.aliasMu.Unlock()
		if _, ok, err := h.lookupLocalAlias(ctx, alias); err != nil {
			return "", err
		} else if ok {
			return "", matrixerr.New(http.StatusBadRequest, codeRoomInUse, "room alias %s is already taken", alias)
		}
	}
	roomID, err := h.build(ctx, nr, func(roomID string) error {
		if alias == "" {
			return nil
		}
		return h.storeAlias(ctx, alias, roomID, c.UserID)
	})
	if err != nil {
		return "", err
	}
	if req.Visibility == "public" {
		if err := h.setPublished(ctx, roomID, true); err != nil {
			return "", err
		}
	}
	return roomID, nil
}

// createContent returns the content of the create event: the client's
// creation_content with creator (room versions 1 to 10) and room_version
// set by the server, and, in versions with privileged creators, the
// invitees of a trusted private chat added to additional_creators.
func createContent(v *roomversion.Version, creator string, extra map[string]json.RawMessage, rules presetRules, invites []string) (json.RawMessage, error) {
	content := make(map[string]any, len(extra)+2)
	for k, val := range extra {
		content[k] = val
	}
	delete(content, "creator")
	if !v.CreatorIsSender {
		content["creator"] = creator
	}
	content["room_version"] = v.ID
	if v.PrivilegedCreators {
		var additional []string
		if raw, ok := extra["additional_creators"]; ok {
			if err := json.Unmarshal(raw, &additional); err != nil {
				return nil, badJSON("creation_content.additional_creators must be a list of user IDs")
			}
		}
		if rules.invitesAreOps {
			for _, u := range invites {
				if !slices.Contains(additional, u) {
					additional = append(additional, u)
				}
			}
		}
		for _, u := range additional {
			if !auth.ValidUserID(u) {
				return nil, invalidParam("creation_content.additional_creators: %q is not a valid user ID", u)
			}
		}
		if len(additional) > 0 {
			content["additional_creators"] = additional
		}
	}
	return json.Marshal(content)
}

// defaultPowerLevels returns the power levels a new room starts with
// before the client's override, as Synapse sets them.
func defaultPowerLevels(v *roomversion.Version, creator string, rules presetRules, invites []string) map[string]any {
	users := map[string]any{}
	if !v.PrivilegedCreators {
		users[creator] = 100
		if rules.invitesAreOps {
			for _, u := range invites {
				users[u] = 100
			}
		}
	}
	tombstone := 100
	if v.PrivilegedCreators {
		// Room version 12 rooms must need more than state_default to
		// upgrade, so that only creators (or users raised on purpose) can.
		tombstone = 150
	}
	return map[string]any{
		"users":         users,
		"users_default": 0,
		"events": map[string]any{
			typeName:              50,
			typePowerLevels:       100,
			typeHistoryVisibility: 100,
			typeCanonicalAlias:    50,
			typeAvatar:            50,
			typeTombstone:         tombstone,
			typeServerACL:         100,
			typeEncryption:        100,
		},
		"events_default": 0,
		"state_default":  50,
		"ban":            50,
		"kick":           50,
		"redact":         50,
		"invite":         rules.inviteLevel,
	}
}

// creationEvents returns the events of a new room after its create event,
// in the spec's order.
func (h *Handlers) creationEvents(ctx context.Context, v *roomversion.Version, creator string, req createRequest, rules presetRules, alias string, invites []string) ([]room.Proto, error) {
	initial := map[event.StateKey]bool{}
	var plContent json.RawMessage
	for _, s := range req.InitialState {
		if s.Type == typePowerLevels && s.StateKey == "" {
			plContent = s.Content
		}
		initial[key(s.Type, s.StateKey)] = true
	}
	var evs []room.Proto
	add := func(sender, typ, sk string, content any) error {
		raw, ok := content.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(content); err != nil {
				return err
			}
		}
		evs = append(evs, room.Proto{Sender: sender, Type: typ, StateKey: &sk, Content: raw})
		return nil
	}

	join, err := h.memberContent(ctx, creator, "join", "", nil)
	if err != nil {
		return nil, err
	}
	if err := add(creator, typeMember, creator, join); err != nil {
		return nil, err
	}

	pl := defaultPowerLevels(v, creator, rules, invites)
	if plContent != nil {
		pl = map[string]any{}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(plContent, &m); err != nil {
			return nil, badJSON("initial_state: m.room.power_levels content must be an object")
		}
		for k, val := range m {
			pl[k] = val
		}
	}
	for k, val := range req.PowerLevelContentOverride {
		pl[k] = val
	}
	if err := add(creator, typePowerLevels, "", pl); err != nil {
		return nil, err
	}

	if alias != "" {
		if err := add(creator, typeCanonicalAlias, "", map[string]any{"alias": alias}); err != nil {
			return nil, err
		}
	}
	for _, p := range []struct {
		typ, field, value string
	}{
		{typeJoinRules, "join_rule", rules.joinRule},
		{typeHistoryVisibility, "history_visibility", "shared"},
		{typeGuestAccess, "guest_access", rules.guestAccess},
	} {
		if initial[key(p.typ, "")] {
			continue
		}
		if err := add(creator, p.typ, "", map[string]any{p.field: p.value}); err != nil {
			return nil, err
		}
	}
	for _, s := range req.InitialState {
		switch {
		case s.Type == typePowerLevels && s.StateKey == "":
			continue
		case s.Type == typeName && s.StateKey == "" && req.Name != nil:
			continue
		case s.Type == typeTopic && s.StateKey == "" && req.Topic != nil:
			continue
		}
		if err := add(creator, s.Type, s.StateKey, s.Content); err != nil {
			return nil, err
		}
	}
	if req.Name != nil {
		if err := add(creator, typeName, "", map[string]any{"name": *req.Name}); err != nil {
			return nil, err
		}
	}
	if req.Topic != nil {
		if err := add(creator, typeTopic, "", topicContent(*req.Topic)); err != nil {
			return nil, err
		}
	}
	for _, u := range invites {
		extra := map[string]any{}
		if req.IsDirect {
			extra["is_direct"] = true
		}
		content, err := h.memberContent(ctx, u, "invite", "", extra)
		if err != nil {
			return nil, err
		}
		if err := add(creator, typeMember, u, content); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// topicContent is the content of an m.room.topic event for a plain-text
// topic, in both the old and the extensible (m.topic) form.
func topicContent(topic string) map[string]any {
	return map[string]any{
		"topic": topic,
		"m.topic": map[string]any{
			"m.text": []map[string]string{{"mimetype": "text/plain", "body": topic}},
		},
	}
}

// build creates the room nr describes: it first runs the events through
// the auth rules in a dry run, so that a room the request cannot complete
// is never created, then creates the room, calls afterCreate with its ID,
// and sends the remaining events.
func (h *Handlers) build(ctx context.Context, nr newRoom, afterCreate func(roomID string) error) (string, error) {
	if err := h.dryRun(nr); err != nil {
		return "", err
	}
	create, err := h.dag.CreateRoom(ctx, nr.version, nr.creator, nr.createContent)
	if err != nil {
		return "", createError(err, len(nr.createContent))
	}
	roomID := create.RoomID()
	if err := afterCreate(roomID); err != nil {
		return "", err
	}
	for _, p := range nr.events {
		if _, err := h.dag.Send(ctx, roomID, p); err != nil {
			return "", fmt.Errorf("rooms: creating %s: %w", roomID, createError(err, len(p.Content)))
		}
	}
	return roomID, nil
}

// dryRun builds nr's events with a throwaway key and checks each against
// the auth rules and the state the earlier ones make, without storing
// anything.
func (h *Handlers) dryRun(nr newRoom) error {
	ts := h.cfg.Now().UnixMilli()
	empty := ""
	b := event.Builder{Sender: nr.creator, Type: typeCreate, StateKey: &empty, Content: nr.createContent, Depth: 1, OriginServerTS: ts}
	if !nr.version.RoomIDFromCreateEvent {
		b.RoomID = "!dryrun:" + h.cfg.ServerName
	}
	create, err := event.Build(b, nr.version, h.cfg.ServerName, h.scratch, h.cfg.Rand)
	if err != nil {
		return createError(err, len(nr.createContent))
	}
	state := auth.MapState{}
	if err := auth.Check(create, state); err != nil {
		return createError(fmt.Errorf("%w: %v", room.ErrNotAllowed, err), 0)
	}
	state[create.StateTuple()] = create
	prev := create.ID()
	for i, p := range nr.events {
		ev, err := event.Build(event.Builder{
			RoomID: create.RoomID(), Sender: p.Sender, Type: p.Type, StateKey: p.StateKey,
			Content: p.Content, PrevEvents: []string{prev}, Depth: int64(i + 2), OriginServerTS: ts,
		}, nr.version, h.cfg.ServerName, h.scratch, h.cfg.Rand)
		if err != nil {
			return createError(err, len(p.Content))
		}
		if err := auth.Check(ev, state); err != nil {
			return createError(fmt.Errorf("%w: %s: %v", room.ErrNotAllowed, p.Type, err), 0)
		}
		if ev.IsState() {
			state[ev.StateTuple()] = ev
		}
		prev = ev.ID()
	}
	return nil
}

// createError maps an error of building a new room: events the auth rules
// refuse make the requested state invalid (400 M_INVALID_ROOM_STATE).
func createError(err error, contentLen int) error {
	if errors.Is(err, room.ErrNotAllowed) {
		return matrixerr.New(http.StatusBadRequest, codeInvalidRoomState, "the requested room state is not allowed: %s", trimPrefix(err))
	}
	return sendError(err, contentLen)
}

// memberContent returns the content of a member event for userID: the
// membership, an optional reason, the user's profile for join and invite,
// and extra fields.
func (h *Handlers) memberContent(ctx context.Context, userID, membership, reason string, extra map[string]any) (json.RawMessage, error) {
	c := map[string]any{"membership": membership}
	for k, v := range extra {
		c[k] = v
	}
	if reason != "" {
		c["reason"] = reason
	}
	if (membership == "join" || membership == "invite") && h.cfg.Profiles != nil {
		name, avatar, err := h.cfg.Profiles.Profile(ctx, userID)
		if err != nil {
			h.log.Warn("rooms: profile lookup failed", "user", userID, "err", err)
		}
		if err == nil && name != "" {
			c["displayname"] = name
		}
		if err == nil && avatar != "" {
			c["avatar_url"] = avatar
		}
	}
	return json.Marshal(c)
}

// isObject reports whether raw is a JSON object.
func isObject(raw json.RawMessage) bool {
	for _, b := range raw {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			var m map[string]json.RawMessage
			return json.Unmarshal(raw, &m) == nil
		}
		return false
	}
	return false
}
