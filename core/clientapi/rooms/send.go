package rooms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/canonicaljson"
	"hearth/core/clientapi"
	"hearth/core/event"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/txn"
	"hearth/persist"
)

// guestMaySend reports whether guests may send events of eventType: the
// spec's guest access module lists only /send/m.room.message.
func guestMaySend(eventType string) bool { return eventType == "m.room.message" }

func (h *Handlers) send(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID, eventType, txnID := r.PathValue("roomId"), r.PathValue("eventType"), r.PathValue("txnId")
	if c.IsGuest && !guestMaySend(eventType) {
		clientapi.WriteError(w, errGuest())
		return
	}
	content, err := readContent(w, r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	p := room.Proto{Sender: c.UserID, Type: eventType, Content: content}
	if eventType == typeRedaction {
		var rc struct {
			Redacts string `json:"redacts"`
		}
		if json.Unmarshal(content, &rc) != nil || rc.Redacts == "" {
			clientapi.WriteError(w, badJSON("an m.room.redaction needs content.redacts"))
			return
		}
		if err := h.checkRedaction(ctx, roomID, c.UserID, rc.Redacts); err != nil {
			clientapi.WriteError(w, err)
			return
		}
		p.Redacts = rc.Redacts
		if p.Content, err = withoutKey(content, "redacts"); err != nil {
			clientapi.WriteError(w, err)
			return
		}
	}
	k := txn.Key{UserID: c.UserID, DeviceID: c.DeviceID, Scope: "send\x00" + roomID + "\x00" + eventType, TxnID: txnID}
	id, err := h.sendTransaction(ctx, k, roomID, p)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": id})
}

// readContent reads an event content body: a JSON object, refused with
// 413 M_TOO_LARGE when it could not fit in an event.
func readContent(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	body, err := clientapi.ReadJSONBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(body) > event.MaxPDUSize {
		return nil, matrixerr.New(http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge, "event content is larger than %d bytes", event.MaxPDUSize)
	}
	return body, nil
}

// withoutKey returns the JSON object content without the member name.
func withoutKey(content json.RawMessage, name string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(content, &m); err != nil {
		return nil, badJSON("content must be an object")
	}
	delete(m, name)
	return json.Marshal(m)
}

func (h *Handlers) putState(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID, eventType, stateKey := r.PathValue("roomId"), r.PathValue("eventType"), r.PathValue("stateKey")
	if c.IsGuest && !(eventType == typeMember && stateKey == c.UserID) {
		clientapi.WriteError(w, errGuest())
		return
	}
	content, err := readContent(w, r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if eventType == typeCanonicalAlias && stateKey == "" {
		if err := h.checkCanonicalAlias(ctx, roomID, content); err != nil {
			clientapi.WriteError(w, err)
			return
		}
	}
	// As Synapse: setting state to what it already is (same sender, same
	// content) returns the existing event instead of a new one.
	if id, err := h.unchangedState(ctx, roomID, c.UserID, eventType, stateKey, content); err != nil {
		clientapi.WriteError(w, sendError(err, len(content)))
		return
	} else if id != "" {
		clientapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": id})
		return
	}
	ev, err := h.dag.Send(ctx, roomID, room.Proto{Sender: c.UserID, Type: eventType, StateKey: &stateKey, Content: content})
	if err != nil {
		clientapi.WriteError(w, sendError(err, len(content)))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": ev.ID()})
}

// unchangedState returns the ID of the current state event under
// (eventType, stateKey) when sender sent it with the same content, and ""
// otherwise.
func (h *Handlers) unchangedState(ctx context.Context, roomID, sender, eventType, stateKey string, content json.RawMessage) (string, error) {
	s, err := h.currentState(ctx, roomID)
	if err != nil {
		return "", err
	}
	ev, err := h.stateEvent(ctx, s, eventType, stateKey)
	if err != nil || ev == nil || ev.Sender() != sender {
		return "", err
	}
	canon, err := canonicaljson.Canonicalize(content)
	if err != nil {
		return "", nil
	}
	if !bytes.Equal(canon, ev.Content()) {
		return "", nil
	}
	if m, _ := h.dag.MembershipOf(ctx, sender, roomID); m.Membership != "join" {
		// Only members may send; let the auth rules say so.
		return "", nil
	}
	return ev.ID(), nil
}

func (h *Handlers) redact(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ctx := r.Context()
	roomID, eventID, txnID := r.PathValue("roomId"), r.PathValue("eventId"), r.PathValue("txnId")
	body, err := readContent(w, r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	var req struct {
		Reason *string `json:"reason"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		clientapi.WriteError(w, badJSON("reason must be a string"))
		return
	}
	if err := h.checkRedaction(ctx, roomID, c.UserID, eventID); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	content := map[string]any{}
	if req.Reason != nil {
		content["reason"] = *req.Reason
	}
	raw, err := json.Marshal(content)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	k := txn.Key{UserID: c.UserID, DeviceID: c.DeviceID, Scope: "redact\x00" + roomID + "\x00" + eventID, TxnID: txnID}
	id, err := h.sendTransaction(ctx, k, roomID, room.Proto{Sender: c.UserID, Type: typeRedaction, Content: raw, Redacts: eventID})
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": id})
}

// checkRedaction refuses a redaction by sender of eventID that would not
// apply: the auth rules of room versions 3 and later accept any
// redaction, leaving it to servers to apply only those by the event's
// sender or by users with the power to redact, so the client API refuses
// the others up front (403), as Synapse does. Redactions of events this
// server does not know need the power to redact.
func (h *Handlers) checkRedaction(ctx context.Context, roomID, sender, eventID string) error {
	s, err := h.currentState(ctx, roomID)
	if err != nil {
		return sendError(err, 0)
	}
	orig, err := h.dag.Event(ctx, eventID)
	switch {
	case errors.Is(err, room.ErrUnknownEvent):
	case err != nil:
		return err
	case orig.RoomID() != roomID:
		return notFound("event %s is not in room %s", eventID, roomID)
	case orig.Sender() == sender:
		return nil
	}
	pl, err := h.powerLevels(ctx, s)
	if err != nil {
		return err
	}
	if pl.UserLevel(sender) < pl.Redact() {
		return forbidden("you may only redact your own events")
	}
	return nil
}

// sendTransaction sends p as transaction k, idempotently. The transaction
// ID is recorded in the transaction that stores the event (room.Proto's
// Also), so the two are durable together: the event never reaches /sync
// without its transaction_id, and a send whose record cannot be written
// fails as a whole and may be retried.
func (h *Handlers) sendTransaction(ctx context.Context, k txn.Key, roomID string, p room.Proto) (string, error) {
	return h.txns.Do(ctx, k, func(record txn.Recorder) (string, error) {
		p.Also = func(tx persist.Tx, ev *event.PDU) error { return record(tx, ev.ID()) }
		p.Transaction = &room.Transaction{UserID: k.UserID, DeviceID: k.DeviceID, TxnID: k.TxnID}
		ev, err := h.dag.Send(ctx, roomID, p)
		if err != nil {
			return "", sendError(err, len(p.Content))
		}
		return ev.ID(), nil
	})
}
