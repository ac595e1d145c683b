package userdata

import (
	"encoding/json"
	"net/http"
	"time"

	"hearth/core/clientapi"
	"hearth/core/ephemeral"
	"hearth/core/matrixerr"
)

func missingParam(name string) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing %s", name)
}

func invalidParam(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, format, args...)
}

func (h *Handlers) putTyping(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	room, err := roomID(r)
	if err == nil {
		err = ownUser(r, c, "typing notifications")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	var body struct {
		Typing  *bool  `json:"typing"`
		Timeout *int64 `json:"timeout"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	if body.Typing == nil {
		writeError(w, missingParam("typing"))
		return
	}
	var timeout time.Duration
	if body.Timeout != nil {
		if *body.Timeout < 0 {
			writeError(w, invalidParam("timeout must not be negative"))
			return
		}
		timeout = time.Duration(min(*body.Timeout, int64(ephemeral.MaxTypingTimeout/time.Millisecond))) * time.Millisecond
	}
	if err := h.cfg.Ephemeral.Typing.Set(r.Context(), c.UserID, room, *body.Typing, timeout); err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// threadID reads an optional thread_id: absent is "", anything but a
// non-empty string is refused.
func threadID(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", nil
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || id == "" {
		return "", invalidParam("thread_id field must be a non-empty string")
	}
	return id, nil
}

func (h *Handlers) postReceipt(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	room, err := roomID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	typ := r.PathValue("receiptType")
	switch typ {
	case ephemeral.ReceiptRead, ephemeral.ReceiptReadPrivate, ephemeral.FullyRead:
	default:
		writeError(w, invalidParam("receipt type must be %s, %s or %s", ephemeral.ReceiptRead, ephemeral.ReceiptReadPrivate, ephemeral.FullyRead))
		return
	}
	var body struct {
		ThreadID json.RawMessage `json:"thread_id"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	thread, err := threadID(body.ThreadID)
	if err != nil {
		writeError(w, err)
		return
	}
	m := ephemeral.Marker{Type: typ, EventID: r.PathValue("eventId"), ThreadID: thread}
	if err := h.cfg.Ephemeral.Receipts.Mark(r.Context(), c.UserID, room, m); err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

func (h *Handlers) postReadMarkers(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	room, err := roomID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var body map[string]json.RawMessage
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	var markers []ephemeral.Marker
	for _, typ := range []string{ephemeral.FullyRead, ephemeral.ReceiptRead, ephemeral.ReceiptReadPrivate} {
		raw, ok := body[typ]
		if !ok || string(raw) == "null" {
			continue
		}
		var id string
		if err := json.Unmarshal(raw, &id); err != nil || id == "" {
			writeError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "%s must be an event ID", typ))
			return
		}
		markers = append(markers, ephemeral.Marker{Type: typ, EventID: id})
	}
	if err := h.cfg.Ephemeral.Receipts.Mark(r.Context(), c.UserID, room, markers...); err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

func (h *Handlers) getPresence(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	st, err := h.cfg.Ephemeral.Presence.Get(r.Context(), c.UserID, r.PathValue("userId"))
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, st)
}

func (h *Handlers) putPresence(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if err := ownUser(r, c, "presence"); err != nil {
		writeError(w, err)
		return
	}
	var body struct {
		Presence  *string `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	if body.Presence == nil {
		writeError(w, missingParam("presence"))
		return
	}
	if err := h.cfg.Ephemeral.Presence.Set(r.Context(), c.UserID, *body.Presence, body.StatusMsg); err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}
