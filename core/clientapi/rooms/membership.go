package rooms

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"

	"hearth/core/auth"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/persist"
)

// RemoteLeaver is implemented by a RemoteJoiner that also leaves rooms
// this server does not have, which is how a user rejects an invite to a
// room of another server.
type RemoteLeaver interface {
	LeaveRemote(ctx context.Context, roomID, userID string, content json.RawMessage) error
}

// RemoteKnocker is implemented by a RemoteJoiner that also knocks on rooms
// this server does not have, through the via servers.
type RemoteKnocker interface {
	KnockRemote(ctx context.Context, roomID string, via []string, userID string, content json.RawMessage) error
}

// joinRequest is the body of the join and knock endpoints.
type joinRequest struct {
	Reason string `json:"reason"`
}

// targetRequest is the body of invite, kick, ban and unban.
type targetRequest struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason"`
}

func (h *Handlers) joinByIDOrAlias(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.joinOrKnock(w, r, c, "join", r.PathValue("roomIdOrAlias"))
}

func (h *Handlers) joinByID(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.joinOrKnock(w, r, c, "join", r.PathValue("roomId"))
}

func (h *Handlers) knock(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.joinOrKnock(w, r, c, "knock", r.PathValue("roomIdOrAlias"))
}

// knockByID serves POST /rooms/{roomId}/knock, which the spec does not
// define but some clients call by analogy with /rooms/{roomId}/join.
func (h *Handlers) knockByID(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.joinOrKnock(w, r, c, "knock", r.PathValue("roomId"))
}

// joinOrKnock serves the join and knock endpoints: it resolves an alias,
// hands rooms this server does not have to the RemoteJoiner (joins only),
// and sends the membership event.
func (h *Handlers) joinOrKnock(w http.ResponseWriter, r *http.Request, c clientapi.Caller, membership, target string) {
	ctx := r.Context()
	body, err := clientapi.ReadJSONBody(w, r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	var req joinRequest
	if err := json.Unmarshal(body, &req); err != nil {
		clientapi.WriteError(w, badJSON("reason must be a string"))
		return
	}
	q := r.URL.Query()
	via := slices.Concat(q["via"], q["server_name"])
	roomID := target
	switch {
	case strings.HasPrefix(target, "#") && validAlias(target) && aliasServer(target) != h.cfg.ServerName &&
		h.cfg.RemoteAliases == nil && h.cfg.RemoteJoiner != nil && membership == "join":
		// The remote joiner resolves the alias itself.
		h.joinRemote(w, r, target, via, c.UserID, body)
		return
	case strings.HasPrefix(target, "#"):
		var servers []string
		roomID, servers, err = h.resolveAlias(ctx, target)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		via = append(via, servers...)
	case !strings.HasPrefix(target, "!"):
		clientapi.WriteError(w, invalidParam("%q is neither a room ID nor a room alias", target))
		return
	}
	if _, err := h.dag.Version(ctx, roomID); errors.Is(err, room.ErrUnknownRoom) {
		if membership == "join" && h.cfg.RemoteJoiner != nil {
			h.joinRemote(w, r, roomID, via, c.UserID, body)
			return
		}
		if k, ok := h.cfg.RemoteJoiner.(RemoteKnocker); ok && membership == "knock" {
			if err := k.KnockRemote(ctx, roomID, via, c.UserID, body); err != nil {
				clientapi.WriteError(w, err)
				return
			}
			clientapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
			return
		}
		clientapi.WriteError(w, notFound("this server does not know the room %s", roomID))
		return
	} else if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if membership == "join" {
		err = h.join(ctx, c, roomID, req.Reason)
	} else {
		err = h.sendKnock(ctx, c, roomID, req.Reason)
	}
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
}

// joinRemote hands a join to the RemoteJoiner.
func (h *Handlers) joinRemote(w http.ResponseWriter, r *http.Request, target string, via []string, userID string, body json.RawMessage) {
	joined, err := h.cfg.RemoteJoiner.JoinRemote(r.Context(), target, via, userID, body)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": joined})
}

// join joins the caller to a local room. Joining a room one is in already
// changes nothing.
func (h *Handlers) join(ctx context.Context, c clientapi.Caller, roomID, reason string) error {
	s, err := h.currentState(ctx, roomID)
	if err != nil {
		return sendError(err, 0)
	}
	evs, err := h.stateEvents(ctx, s, key(typeMember, c.UserID), key(typeJoinRules, ""), key(typeGuestAccess, ""))
	if err != nil {
		return err
	}
	current := ""
	if ev := evs[key(typeMember, c.UserID)]; ev != nil {
		current = ev.Membership()
	}
	if current == "join" {
		return nil
	}
	if c.IsGuest && contentString(evs[key(typeGuestAccess, "")], "guest_access") != "can_join" {
		return errGuest()
	}
	extra := map[string]any{}
	rule := contentString(evs[key(typeJoinRules, "")], "join_rule")
	if (rule == "restricted" || rule == "knock_restricted") && current != "invite" {
		authoriser, err := h.restrictedJoinAuthoriser(ctx, s, evs[key(typeJoinRules, "")].Content(), c.UserID)
		if err != nil {
			return err
		}
		if authoriser != "" {
			extra["join_authorised_via_users_server"] = authoriser
		}
	}
	content, err := h.memberContent(ctx, c.UserID, "join", reason, extra)
	if err != nil {
		return err
	}
	_, err = h.dag.Send(ctx, roomID, room.Proto{Sender: c.UserID, Type: typeMember, StateKey: &c.UserID, Content: content})
	return sendError(err, len(content))
}

// restrictedJoinAuthoriser finds, for a join to a restricted room, a local
// member who may invite and so can authorise the join: "" when the user
// meets none of the join rule's conditions (the auth rules then refuse the
// join with 403).
func (h *Handlers) restrictedJoinAuthoriser(ctx context.Context, s room.State, joinRules json.RawMessage, userID string) (string, error) {
	var jr struct {
		Allow []struct {
			Type   string `json:"type"`
			RoomID string `json:"room_id"`
		} `json:"allow"`
	}
	if json.Unmarshal(joinRules, &jr) != nil {
		return "", nil
	}
	eligible := false
	for _, a := range jr.Allow {
		if a.Type != "m.room_membership" || a.RoomID == "" {
			continue
		}
		m, err := h.dag.MembershipOf(ctx, userID, a.RoomID)
		if err != nil {
			return "", err
		}
		if m.Membership == "join" {
			eligible = true
			break
		}
	}
	if !eligible {
		return "", nil
	}
	pl, err := h.powerLevels(ctx, s)
	if err != nil {
		return "", err
	}
	var candidates []string
	for k := range s {
		if k.Type == typeMember && h.isLocal(k.StateKey) && pl.UserLevel(k.StateKey) >= pl.Invite() {
			candidates = append(candidates, k.StateKey)
		}
	}
	sort.Strings(candidates)
	for _, u := range candidates {
		m, err := h.membershipIn(ctx, s, u)
		if err != nil {
			return "", err
		}
		if m == "join" {
			return u, nil
		}
	}
	return "", nil
}

// sendKnock knocks on a local room for the caller.
func (h *Handlers) sendKnock(ctx context.Context, c clientapi.Caller, roomID, reason string) error {
	content, err := h.memberContent(ctx, c.UserID, "knock", reason, nil)
	if err != nil {
		return err
	}
	_, err = h.dag.Send(ctx, roomID, room.Proto{Sender: c.UserID, Type: typeMember, StateKey: &c.UserID, Content: content})
	return sendError(err, len(content))
}

func (h *Handlers) leave(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	var req joinRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	s, err := h.currentState(ctx, roomID)
	if l, ok := h.cfg.RemoteJoiner.(RemoteLeaver); ok && errors.Is(err, room.ErrUnknownRoom) {
		// A room of another server: rejecting an invite to it.
		fields := map[string]string{}
		if req.Reason != "" {
			fields["reason"] = req.Reason
		}
		content, err := json.Marshal(fields)
		if err == nil {
			err = l.LeaveRemote(ctx, roomID, c.UserID, content)
		}
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		clientapi.WriteJSON(w, http.StatusOK, struct{}{})
		return
	}
	if err != nil {
		clientapi.WriteError(w, sendError(err, 0))
		return
	}
	current, err := h.membershipIn(ctx, s, c.UserID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	switch current {
	case "leave":
		clientapi.WriteJSON(w, http.StatusOK, struct{}{})
		return
	case "":
		clientapi.WriteError(w, notInRoom())
		return
	}
	content, err := h.memberContent(ctx, c.UserID, "leave", req.Reason, nil)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if _, err := h.dag.Send(ctx, roomID, room.Proto{Sender: c.UserID, Type: typeMember, StateKey: &c.UserID, Content: content}); err != nil {
		clientapi.WriteError(w, sendError(err, len(content)))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (h *Handlers) forget(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	m, err := h.dag.MembershipOf(ctx, c.UserID, roomID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	switch m.Membership {
	case "join", "invite", "knock":
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "%s has not left room %s", c.UserID, roomID))
		return
	case "":
		// Nothing to forget; as Synapse, this is not an error.
		clientapi.WriteJSON(w, http.StatusOK, struct{}{})
		return
	}
	err = h.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		return tx.Set(forgotKey(c.UserID, roomID), binary.BigEndian.AppendUint64(nil, m.Pos))
	})
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (h *Handlers) invite(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.targeted(w, r, c, "invite")
}

func (h *Handlers) kick(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.targeted(w, r, c, "kick")
}

func (h *Handlers) ban(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.targeted(w, r, c, "ban")
}

func (h *Handlers) unban(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.targeted(w, r, c, "unban")
}

// targeted serves invite, kick, ban and unban: membership changes one user
// makes to another's membership.
func (h *Handlers) targeted(w http.ResponseWriter, r *http.Request, c clientapi.Caller, action string) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	var req targetRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.UserID == "" {
		clientapi.WriteError(w, missingParam("user_id is required"))
		return
	}
	if !auth.ValidUserID(req.UserID) {
		clientapi.WriteError(w, invalidParam("%q is not a valid user ID", req.UserID))
		return
	}
	if err := h.changeMembership(ctx, c.UserID, roomID, req.UserID, action, req.Reason); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// changeMembership sends the member event for action ("invite", "kick",
// "ban", "unban") by sender on target. Requests that would not change the
// target's membership answer as the spec and Synapse do: re-inviting an
// invited user and re-banning a banned one succeed without an event;
// kicking a user who is not in the room and unbanning one who is not banned
// are refused.
func (h *Handlers) changeMembership(ctx context.Context, sender, roomID, target, action, reason string) error {
	s, err := h.currentState(ctx, roomID)
	if err != nil {
		return sendError(err, 0)
	}
	current, err := h.membershipIn(ctx, s, target)
	if err != nil {
		return err
	}
	membership := action
	switch action {
	case "invite":
		switch current {
		case "invite":
			return nil
		case "join":
			return forbidden("%s is already in the room", target)
		case "ban":
			return forbidden("%s is banned from the room", target)
		}
	case "kick":
		if !slices.Contains([]string{"join", "invite", "knock"}, current) {
			return forbidden("%s is not in the room", target)
		}
		membership = "leave"
	case "ban":
		if current == "ban" {
			return nil
		}
	case "unban":
		if current != "ban" {
			return forbidden("%s is not banned", target)
		}
		membership = "leave"
	}
	content, err := h.memberContent(ctx, target, membership, reason, nil)
	if err != nil {
		return err
	}
	_, err = h.dag.Send(ctx, roomID, room.Proto{Sender: sender, Type: typeMember, StateKey: &target, Content: content})
	return sendError(err, len(content))
}

func (h *Handlers) joinedRooms(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	rooms, err := h.dag.Rooms(r.Context(), c.UserID)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	joined := []string{}
	for id, m := range rooms {
		if m.Membership == "join" {
			joined = append(joined, id)
		}
	}
	sort.Strings(joined)
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"joined_rooms": joined})
}
