package fedserver

import (
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/fedauth"
	"hearth/core/matrixerr"
	"hearth/core/room"
)

// exchangeThirdPartyInvite serves PUT
// /_matrix/federation/v1/exchange_third_party_invite/{roomId}: the server of
// a user who was invited by a third-party identifier (and has now bound it)
// hands over the invite member event built from the identity server's
// signed block. This server's user sent the m.room.third_party_invite, so
// this server makes the invite its own: the event is built, signed and
// stored by the DAG as a local event of that user, which checks it against
// the room's current state and the auth rules (the signed block must name
// the invited user and the token of an m.room.third_party_invite of the
// sender's, and carry a signature of one of its public keys). The room's
// servers then get it as any local event. Answers 200 {} or 403
// M_FORBIDDEN.
func (h *Handlers) exchangeThirdPartyInvite(w http.ResponseWriter, r *http.Request) {
	roomID := r.PathValue("roomId")
	if !fedauth.CheckACL(w, r, roomID) {
		return
	}
	var body struct {
		Type     string          `json:"type"`
		RoomID   string          `json:"room_id"`
		Sender   string          `json:"sender"`
		StateKey *string         `json:"state_key"`
		Content  json.RawMessage `json:"content"`
	}
	if err := readBody(r, &body); err != nil {
		writeErr(w, err)
		return
	}
	forbid := func(format string, args ...any) {
		writeErr(w, errorf(http.StatusForbidden, matrixerr.CodeForbidden, format, args...))
	}
	if body.Type != "m.room.member" || body.StateKey == nil || body.RoomID != roomID {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "want an m.room.member event of room %s with a state_key", roomID))
		return
	}
	target := *body.StateKey
	if serverOf(target) != fedauth.Origin(r.Context()) {
		forbid("user %s does not belong to the requesting server", target)
		return
	}
	if serverOf(body.Sender) != h.cfg.ServerName {
		forbid("sender %s is not a user of this server", body.Sender)
		return
	}
	var content struct {
		Membership       string `json:"membership"`
		ThirdPartyInvite *struct {
			DisplayName string          `json:"display_name"`
			Signed      json.RawMessage `json:"signed"`
		} `json:"third_party_invite"`
	}
	if err := json.Unmarshal(body.Content, &content); err != nil || content.Membership != "invite" ||
		content.ThirdPartyInvite == nil || len(content.ThirdPartyInvite.Signed) == 0 {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "content must be an invite with third_party_invite.signed"))
		return
	}
	var signed struct {
		MXID  string `json:"mxid"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(content.ThirdPartyInvite.Signed, &signed); err != nil || signed.MXID != target || signed.Token == "" {
		forbid("third_party_invite.signed must name %s and a token", target)
		return
	}
	ctx := r.Context()
	if _, err := h.roomVersion(ctx, roomID); err != nil {
		writeErr(w, err)
		return
	}
	// The DAG checks the event against the current state with the auth
	// rules, which verify the signed block; only the content the rules
	// read is kept, so nothing else of the request is signed as ours.
	stored := map[string]any{
		"membership": "invite",
		"third_party_invite": map[string]any{
			"display_name": content.ThirdPartyInvite.DisplayName,
			"signed":       content.ThirdPartyInvite.Signed,
		},
	}
	c, err := json.Marshal(stored)
	if err != nil {
		writeErr(w, err)
		return
	}
	if _, err := h.dag.Send(ctx, roomID, room.Proto{Sender: body.Sender, Type: "m.room.member", StateKey: &target, Content: c}); err != nil {
		if errors.Is(err, room.ErrNotAllowed) {
			forbid("%v", err)
			return
		}
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{})
}
