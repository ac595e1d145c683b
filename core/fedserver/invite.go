package fedserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"hearth/core/clientevent"
	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/syncer"
	"hearth/persist"
)

// Invite is an invite of a local user to a room this server is not in:
// the DAG has no place for it, so this package keeps it until the user
// joins (the room then comes in through the join) or it is dropped.
type Invite struct {
	RoomID string `json:"room_id"`
	// Event is the invite event, signed by both servers.
	Event json.RawMessage `json:"event"`
	// RoomVersion is the room's version.
	RoomVersion string `json:"room_version"`
	// StrippedState describes the room to the invitee.
	StrippedState []json.RawMessage `json:"invite_room_state,omitempty"`
	// TS is the invite's origin_server_ts in milliseconds.
	TS int64 `json:"ts"`
	// Pos is the invite's position in the remote invite stream: when it
	// arrived, or when it was rejected.
	Pos uint64 `json:"pos"`
	// Left is the user's leave event (client form) once the invite was
	// rejected: the record stays so that incremental syncs show it.
	Left json.RawMessage `json:"left,omitempty"`
}

func invitePrefix(userID string) []byte { return []byte("fedserver/invite/" + userID + "\x00") }

func inviteKey(userID, roomID string) []byte { return append(invitePrefix(userID), roomID...) }

// invitePosKey holds the last position of the remote invite stream.
var invitePosKey = []byte("fedserver/invitepos")

// loadInvitePos reads the remote invite stream's last position.
func loadInvitePos(ctx context.Context, store persist.Store) (uint64, error) {
	var last uint64
	err := store.View(ctx, func(tx persist.Tx) error {
		b, err := tx.Get(invitePosKey)
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &last)
	})
	return last, err
}

// putInvite stores inv under a new stream position.
func (h *Handlers) putInvite(ctx context.Context, userID string, inv Invite) error {
	p := h.invitePos.Allocate()
	defer h.invitePos.Finish(p)
	inv.Pos = p
	b, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	return h.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		var last uint64
		if cur, err := tx.Get(invitePosKey); err == nil {
			json.Unmarshal(cur, &last)
		}
		if p > last {
			pb, _ := json.Marshal(p)
			if err := tx.Set(invitePosKey, pb); err != nil {
				return err
			}
		}
		return tx.Set(inviteKey(userID, inv.RoomID), b)
	})
}

// Position is the remote invite stream's watermark (syncer.RemoteInvites).
func (h *Handlers) Position() uint64 {
	p, _ := h.invitePos.Position()
	return p
}

// Stream is the watermark and a channel closed when it next moves
// (syncer.StreamWatcher).
func (h *Handlers) Stream() (uint64, <-chan struct{}) { return h.invitePos.Position() }

// RemoteInvites returns the user's invites to rooms this server is not in
// that arrived or were rejected in (from, to]; from == 0 means every
// pending one (syncer.RemoteInvites).
func (h *Handlers) RemoteInvites(ctx context.Context, userID string, from, to uint64) ([]syncer.RemoteInvite, error) {
	invs, err := h.allInvites(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []syncer.RemoteInvite
	for _, inv := range invs {
		if inv.Pos <= from || inv.Pos > to || (from == 0 && inv.Left != nil) {
			continue
		}
		if _, err := h.dag.Version(ctx, inv.RoomID); err == nil {
			// This server joined the room since: the DAG has the
			// user's membership.
			continue
		}
		ri := syncer.RemoteInvite{RoomID: inv.RoomID, StrippedState: inv.StrippedState, Left: inv.Left}
		if inv.Left == nil {
			v, ok := roomversion.Lookup(inv.RoomVersion)
			if !ok {
				continue
			}
			pdu, err := event.Parse(inv.Event, v)
			if err != nil {
				continue
			}
			ri.Inviter = pdu.Sender()
			if ri.Event, err = clientevent.Format(pdu, clientevent.Options{OmitRoomID: true, NowMS: h.cfg.Now().UnixMilli()}); err != nil {
				return nil, err
			}
		}
		out = append(out, ri)
	}
	return out, nil
}

// Invites returns the pending invites of a local user to rooms this server
// is not in.
func (h *Handlers) Invites(ctx context.Context, userID string) ([]Invite, error) {
	all, err := h.allInvites(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, inv := range all {
		if inv.Left == nil {
			out = append(out, inv)
		}
	}
	return out, nil
}

// InviteSender returns who invited userID to roomID, when a pending invite
// is stored (for the joining side: the inviter's server is in the room).
func (h *Handlers) InviteSender(ctx context.Context, userID, roomID string) (string, bool, error) {
	var inv Invite
	found := false
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		b, err := tx.Get(inviteKey(userID, roomID))
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return json.Unmarshal(b, &inv)
	})
	if err != nil || !found || inv.Left != nil {
		return "", false, err
	}
	var head struct {
		Sender string `json:"sender"`
	}
	if err := json.Unmarshal(inv.Event, &head); err != nil {
		return "", false, fmt.Errorf("fedserver: invite record: %w", err)
	}
	return head.Sender, true, nil
}

// RejectInvite records that userID rejected the invite to roomID with the
// leave event left (client form), and wakes the user's sync.
func (h *Handlers) RejectInvite(ctx context.Context, userID, roomID string, left json.RawMessage) error {
	inv := Invite{RoomID: roomID, Left: left}
	if err := h.putInvite(ctx, userID, inv); err != nil {
		return err
	}
	if h.cfg.OnInvite != nil {
		h.cfg.OnInvite(userID)
	}
	return nil
}

func (h *Handlers) allInvites(ctx context.Context, userID string) ([]Invite, error) {
	var out []Invite
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: invitePrefix(userID)})
		defer it.Close()
		for it.Next() {
			var inv Invite
			if err := json.Unmarshal(it.Value(), &inv); err != nil {
				return fmt.Errorf("fedserver: invite record: %w", err)
			}
			out = append(out, inv)
		}
		return it.Err()
	})
	return out, err
}

// DropInvite forgets a stored invite, once the user joined or rejected it.
func (h *Handlers) DropInvite(ctx context.Context, userID, roomID string) error {
	return h.cfg.Store.Update(ctx, func(tx persist.Tx) error { return tx.Delete(inviteKey(userID, roomID)) })
}

type inviteRequest struct {
	RoomVersion     string            `json:"room_version"`
	Event           json.RawMessage   `json:"event"`
	InviteRoomState []json.RawMessage `json:"invite_room_state"`
}

// inviteV2 serves PUT /_matrix/federation/v2/invite/{roomId}/{eventId}.
func (h *Handlers) inviteV2(w http.ResponseWriter, r *http.Request) {
	var req inviteRequest
	if err := readBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	signed, err := h.invite(r.Context(), r.PathValue("roomId"), r.PathValue("eventId"), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"event": signed})
}

// inviteV1 serves the deprecated v1 invite: the body is the event itself
// (room versions 1 and 2 only, in practice) and the answer [200, {event}].
func (h *Handlers) inviteV1(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := readBody(r, &raw); err != nil {
		writeErr(w, err)
		return
	}
	var u struct {
		Unsigned struct {
			State []json.RawMessage `json:"invite_room_state"`
		} `json:"unsigned"`
	}
	json.Unmarshal(raw, &u)
	ver := "1"
	if v, err := h.dag.Version(r.Context(), r.PathValue("roomId")); err == nil {
		ver = v.ID
	}
	signed, err := h.invite(r.Context(), r.PathValue("roomId"), r.PathValue("eventId"),
		inviteRequest{RoomVersion: ver, Event: raw, InviteRoomState: u.Unsigned.State})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, []any{200, map[string]any{"event": signed}})
}

// invite checks an invite of a local user, signs it as this server and
// records it: in the DAG when this server has the room, else in the invite
// store.
func (h *Handlers) invite(ctx context.Context, roomID, eventID string, req inviteRequest) (json.RawMessage, error) {
	v, ok := roomversion.Lookup(req.RoomVersion)
	if !ok {
		return nil, incompatibleVersion(req.RoomVersion)
	}
	pdu, err := event.Parse(req.Event, v)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "%v", err)
	}
	sk, _ := pdu.StateKey()
	origin := fedauth.Origin(ctx)
	switch {
	case pdu.ID() != eventID || pdu.RoomID() != roomID:
		return nil, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "the event's ID or room does not match the path")
	case pdu.Type() != "m.room.member" || pdu.Membership() != "invite":
		return nil, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "not an invite")
	case serverOf(sk) != h.cfg.ServerName:
		return nil, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "the invitee is not a user of this server")
	case serverOf(pdu.Sender()) != origin:
		return nil, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "the inviter does not belong to the requesting server")
	case !fedauth.Allowed(ctx, roomID):
		return nil, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "denied by the room's server ACL")
	}
	if h.cfg.EventKeys != nil {
		if err := event.VerifySignatures(pdu, h.cfg.EventKeys); err != nil {
			return nil, errorf(http.StatusForbidden, matrixerr.CodeForbidden, "%v", err)
		}
	}
	signed, err := pdu.Sign(h.cfg.ServerName, h.cfg.Key)
	if err != nil {
		return nil, err
	}
	if known, err := h.dag.Version(ctx, roomID); err == nil {
		if known.ID != v.ID {
			return nil, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "the room's version is %s", known.ID)
		}
		// The inviting server also sends the event in a transaction;
		// accepting it now lets the invitee see it at once when its
		// ancestors are known here.
		if _, err := h.dag.Accept(ctx, signed); err != nil {
			var missing *room.MissingEventsError
			if !errors.As(err, &missing) {
				return nil, err
			}
		}
		return signed.JSON(), nil
	} else if !errors.Is(err, room.ErrUnknownRoom) {
		return nil, err
	}
	inv := Invite{RoomID: roomID, Event: signed.JSON(), RoomVersion: v.ID, StrippedState: req.InviteRoomState, TS: pdu.OriginServerTS()}
	if err := h.putInvite(ctx, sk, inv); err != nil {
		return nil, err
	}
	if h.cfg.OnInvite != nil {
		h.cfg.OnInvite(sk)
	}
	return signed.JSON(), nil
}
