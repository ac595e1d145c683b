package fedserver

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
)

// zeroReader stands in for randomness in throwaway template events, whose
// room version 1 and 2 event IDs the joining server replaces anyway.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// scratchKey signs throwaway events that are only auth-checked and turned
// into templates, never stored or sent.
func scratchKey() signing.Key {
	k, _ := signing.KeyFromSeed("ed25519:template", make([]byte, ed25519.SeedSize))
	return k
}

// template builds the membership event userID would send to roomID on top
// of the current state, checks it against that state and returns it as a
// template: without hashes and signatures, for the joining server to sign.
func (h *Handlers) template(ctx context.Context, roomID, userID, membership string, content map[string]any) (json.RawMessage, *roomversion.Version, error) {
	v, err := h.roomVersion(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	evs, err := h.currentEvents(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	content["membership"] = membership
	contentJSON, err := json.Marshal(content)
	if err != nil {
		return nil, nil, err
	}
	needed, err := auth.NeededKeys(v, "m.room.member", userID, &userID, contentJSON)
	if err != nil {
		return nil, nil, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "%v", err)
	}
	var authIDs []string
	for _, k := range needed {
		if ev := evs[k]; ev != nil && !(v.RoomIDFromCreateEvent && ev.IsCreate()) {
			authIDs = append(authIDs, ev.ID())
		}
	}
	slices.Sort(authIDs)
	authIDs = slices.Compact(authIDs)
	prevs, err := h.dag.Extremities(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	if len(prevs) > 10 {
		prevs = prevs[:10]
	}
	var depth int64
	for _, id := range prevs {
		if ev, err := h.dag.Event(ctx, id); err == nil {
			depth = max(depth, ev.Depth())
		}
	}
	pdu, err := event.Build(event.Builder{
		RoomID: roomID, Sender: userID, Type: "m.room.member", StateKey: &userID, Content: contentJSON,
		PrevEvents: prevs, AuthEvents: authIDs, Depth: depth + 1, OriginServerTS: h.cfg.Now().UnixMilli(),
	}, v, serverOf(userID), scratchKey(), zeroReader{})
	if err != nil {
		return nil, nil, err
	}
	if err := auth.Check(pdu, auth.MapState(evs)); err != nil {
		return nil, nil, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "%s may not %s this room: %v", userID, membership, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(pdu.JSON(), &fields); err != nil {
		return nil, nil, err
	}
	delete(fields, "signatures")
	delete(fields, "hashes")
	delete(fields, "unsigned")
	out, err := json.Marshal(fields)
	return out, v, err
}

// checkTemplateRequest checks what make_join, make_leave and make_knock
// share: the user belongs to the origin and the origin passes the ACL.
func checkTemplateRequest(w http.ResponseWriter, r *http.Request) (roomID, userID string, ok bool) {
	roomID, userID = r.PathValue("roomId"), r.PathValue("userId")
	if serverOf(userID) != fedauth.Origin(r.Context()) {
		writeErr(w, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "user %s does not belong to the requesting server", userID))
		return "", "", false
	}
	if !fedauth.CheckACL(w, r, roomID) {
		return "", "", false
	}
	return roomID, userID, true
}

// checkVersion refuses rooms whose version the requesting server did not
// list in ver (room version 1 when it listed none).
func (h *Handlers) checkVersion(r *http.Request, roomID string) (*roomversion.Version, error) {
	v, err := h.roomVersion(r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	vers := r.URL.Query()["ver"]
	if len(vers) == 0 {
		vers = []string{"1"}
	}
	if !slices.Contains(vers, v.ID) {
		return nil, incompatibleVersion(v.ID)
	}
	return v, nil
}

// makeJoin serves GET /_matrix/federation/v1/make_join/{roomId}/{userId}.
func (h *Handlers) makeJoin(w http.ResponseWriter, r *http.Request) {
	roomID, userID, ok := checkTemplateRequest(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, err := h.checkVersion(r, roomID); err != nil {
		writeErr(w, err)
		return
	}
	content := map[string]any{}
	if via, err := h.authoriseRestricted(ctx, roomID, userID); err != nil {
		writeErr(w, err)
		return
	} else if via != "" {
		content["join_authorised_via_users_server"] = via
	}
	tmpl, v, err := h.template(ctx, roomID, userID, "join", content)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"room_version": v.ID, "event": tmpl})
}

// authoriseRestricted returns, for a restricted room the user may join by
// being in one of the allowed rooms, a local user who can invite and so
// authorise the join; "" when the join needs no authorisation.
func (h *Handlers) authoriseRestricted(ctx context.Context, roomID, userID string) (string, error) {
	evs, err := h.currentEvents(ctx, roomID)
	if err != nil {
		return "", err
	}
	jr := evs[room.StateKeyOf("m.room.join_rules", "")]
	if jr == nil {
		return "", nil
	}
	var rules struct {
		JoinRule string `json:"join_rule"`
		Allow    []struct {
			Type   string `json:"type"`
			RoomID string `json:"room_id"`
		} `json:"allow"`
	}
	json.Unmarshal(jr.Content(), &rules)
	if rules.JoinRule != "restricted" && rules.JoinRule != "knock_restricted" {
		return "", nil
	}
	if m := evs[room.StateKeyOf("m.room.member", userID)]; m != nil && (m.Membership() == "join" || m.Membership() == "invite") {
		return "", nil
	}
	allowed := false
	for _, a := range rules.Allow {
		if a.Type != "m.room_membership" {
			continue
		}
		other, err := h.currentEvents(ctx, a.RoomID)
		if err != nil {
			continue
		}
		if m := other[room.StateKeyOf("m.room.member", userID)]; m != nil && m.Membership() == "join" {
			allowed = true
			break
		}
	}
	if !allowed {
		return "", errorf(http.StatusForbidden, matrixerr.CodeForbidden, "%s is not in any room that grants access to this one", userID)
	}
	pl, err := auth.ParsePowerLevels(evs[room.StateKeyOf("m.room.power_levels", "")], evs[room.StateKeyOf("m.room.create", "")])
	if err != nil {
		return "", err
	}
	var best string
	for k, m := range evs {
		if k.Type == "m.room.member" && m.Membership() == "join" && serverOf(k.StateKey) == h.cfg.ServerName &&
			pl.UserLevel(k.StateKey) >= pl.Invite() && (best == "" || k.StateKey < best) {
			best = k.StateKey
		}
	}
	if best == "" {
		return "", errorf(http.StatusBadRequest, "M_UNABLE_TO_AUTHORISE_JOIN", "no user of this server can authorise the join")
	}
	return best, nil
}

// receiveMembership checks and accepts a signed membership event sent to
// send_join, send_leave or send_knock.
func (h *Handlers) receiveMembership(w http.ResponseWriter, r *http.Request, membership string) (*event.PDU, bool) {
	ctx := r.Context()
	roomID, eventID := r.PathValue("roomId"), r.PathValue("eventId")
	if !fedauth.CheckACL(w, r, roomID) {
		return nil, false
	}
	v, err := h.roomVersion(ctx, roomID)
	if err != nil {
		writeErr(w, err)
		return nil, false
	}
	var raw json.RawMessage
	if err := readBody(r, &raw); err != nil {
		writeErr(w, err)
		return nil, false
	}
	pdu, err := event.Parse(raw, v)
	if err != nil {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "%v", err))
		return nil, false
	}
	sk, _ := pdu.StateKey()
	switch {
	case pdu.ID() != eventID || pdu.RoomID() != roomID:
		err = errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "the event's ID or room does not match the path")
	case pdu.Type() != "m.room.member" || pdu.Membership() != membership || sk != pdu.Sender():
		err = errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "not a %s event of its sender", membership)
	case serverOf(pdu.Sender()) != fedauth.Origin(ctx):
		err = errorf(http.StatusForbidden, matrixerr.CodeForbidden, "the sender does not belong to the requesting server")
	}
	if err != nil {
		writeErr(w, err)
		return nil, false
	}
	if membership == "join" {
		var c struct {
			Via string `json:"join_authorised_via_users_server"`
		}
		json.Unmarshal(pdu.Content(), &c)
		if c.Via != "" && serverOf(c.Via) == h.cfg.ServerName {
			if pdu, err = pdu.Sign(h.cfg.ServerName, h.cfg.Key); err != nil {
				writeErr(w, err)
				return nil, false
			}
		}
	}
	res, err := h.dag.Accept(ctx, pdu)
	var missing *room.MissingEventsError
	switch {
	case errors.As(err, &missing):
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "the event names events this server does not have"))
		return nil, false
	case err != nil:
		writeErr(w, err)
		return nil, false
	case res.Outcome != room.Accepted:
		writeErr(w, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "the %s event was %s: %v", membership, res.Outcome, res.Reason))
		return nil, false
	}
	return pdu, true
}

// sendJoinBody is the answer of send_join: the state before the join and
// its auth chain.
func (h *Handlers) sendJoinBody(ctx context.Context, pdu *event.PDU) (map[string]any, error) {
	s, err := h.dag.StateBefore(ctx, pdu.ID())
	if err != nil {
		return nil, err
	}
	ids := stateIDList(s)
	state := make([]*event.PDU, 0, len(ids))
	for _, id := range ids {
		ev, err := h.dag.Event(ctx, id)
		if err != nil {
			return nil, err
		}
		state = append(state, ev)
	}
	chain, err := h.authChain(ctx, append(ids, pdu.ID()))
	if err != nil {
		return nil, err
	}
	evs, err := h.currentEvents(ctx, pdu.RoomID())
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"origin":          h.cfg.ServerName,
		"state":           rawList(state),
		"auth_chain":      rawList(chain),
		"event":           json.RawMessage(pdu.JSON()),
		"members_omitted": false,
		"servers_in_room": h.serversIn(evs),
	}, nil
}

func (h *Handlers) sendJoin(w http.ResponseWriter, r *http.Request, v1 bool) {
	pdu, ok := h.receiveMembership(w, r, "join")
	if !ok {
		return
	}
	body, err := h.sendJoinBody(r.Context(), pdu)
	if err != nil {
		writeErr(w, err)
		return
	}
	if v1 {
		writeJSON(w, []any{200, body})
		return
	}
	writeJSON(w, body)
}

// sendJoinV2 serves PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}.
func (h *Handlers) sendJoinV2(w http.ResponseWriter, r *http.Request) { h.sendJoin(w, r, false) }

// sendJoinV1 serves the deprecated v1 shape, [200, body].
func (h *Handlers) sendJoinV1(w http.ResponseWriter, r *http.Request) { h.sendJoin(w, r, true) }

// makeLeave serves GET /_matrix/federation/v1/make_leave/{roomId}/{userId}.
func (h *Handlers) makeLeave(w http.ResponseWriter, r *http.Request) {
	roomID, userID, ok := checkTemplateRequest(w, r)
	if !ok {
		return
	}
	tmpl, v, err := h.template(r.Context(), roomID, userID, "leave", map[string]any{})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"room_version": v.ID, "event": tmpl})
}

// sendLeaveV2 serves PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}.
func (h *Handlers) sendLeaveV2(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.receiveMembership(w, r, "leave"); ok {
		writeJSON(w, struct{}{})
	}
}

// sendLeaveV1 serves the deprecated v1 shape, [200, {}].
func (h *Handlers) sendLeaveV1(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.receiveMembership(w, r, "leave"); ok {
		writeJSON(w, []any{200, struct{}{}})
	}
}

// makeKnock serves GET /_matrix/federation/v1/make_knock/{roomId}/{userId}.
func (h *Handlers) makeKnock(w http.ResponseWriter, r *http.Request) {
	roomID, userID, ok := checkTemplateRequest(w, r)
	if !ok {
		return
	}
	v, err := h.checkVersion(r, roomID)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !v.Knocking {
		writeErr(w, incompatibleVersion(v.ID))
		return
	}
	tmpl, _, err := h.template(r.Context(), roomID, userID, "knock", map[string]any{})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"room_version": v.ID, "event": tmpl})
}

// sendKnock serves PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}.
func (h *Handlers) sendKnock(w http.ResponseWriter, r *http.Request) {
	pdu, ok := h.receiveMembership(w, r, "knock")
	if !ok {
		return
	}
	stripped, err := h.StrippedState(r.Context(), pdu.RoomID())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"knock_room_state": stripped})
}

// strippedTypes are the state events shown to invited and knocking users
// (client-server spec, "Stripped state").
var strippedTypes = []string{"m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar",
	"m.room.canonical_alias", "m.room.encryption", "m.room.topic", "m.room.guest_access", "m.room.history_visibility"}

// StrippedState returns the room's stripped state: the events that describe
// it to a user not in it yet, with only type, state_key, sender and content.
func (h *Handlers) StrippedState(ctx context.Context, roomID string) ([]json.RawMessage, error) {
	evs, err := h.currentEvents(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := []json.RawMessage{}
	for _, t := range strippedTypes {
		ev := evs[room.StateKeyOf(t, "")]
		if ev == nil {
			continue
		}
		b, err := json.Marshal(map[string]any{"type": ev.Type(), "state_key": "", "sender": ev.Sender(), "content": ev.Content()})
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
