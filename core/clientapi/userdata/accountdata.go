package userdata

import (
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/accountdata"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// serverManaged are the account data types the server writes itself,
// which clients may read but not set (client-server API, "Client Config:
// Server Behaviour").
var serverManaged = map[string]bool{"m.fully_read": true, "m.push_rules": true}

// handler is an authenticated endpoint.
type handler = func(w http.ResponseWriter, r *http.Request, c clientapi.Caller)

// target reads the user, room (when perRoom) and type of an account data
// path.
func target(r *http.Request, c clientapi.Caller, perRoom bool) (room, typ string, err error) {
	if err := ownUser(r, c, "account data"); err != nil {
		return "", "", err
	}
	if perRoom {
		if room, err = roomID(r); err != nil {
			return "", "", err
		}
	}
	return room, r.PathValue("type"), nil
}

func (h *Handlers) getAccountData(perRoom bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		room, typ, err := target(r, c, perRoom)
		if err != nil {
			writeError(w, err)
			return
		}
		content, err := h.cfg.AccountData.Get(r.Context(), c.UserID, room, typ)
		if err != nil {
			writeError(w, err)
			return
		}
		clientapi.WriteJSON(w, http.StatusOK, content)
	}
}

func (h *Handlers) putAccountData(perRoom bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		room, typ, err := target(r, c, perRoom)
		if err != nil {
			writeError(w, err)
			return
		}
		if serverManaged[typ] {
			writeError(w, matrixerr.New(http.StatusMethodNotAllowed, matrixerr.CodeBadJSON, "cannot set %s through this API", typ))
			return
		}
		body, err := clientapi.ReadJSONBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		if _, err := h.cfg.AccountData.Set(r.Context(), c.UserID, room, typ, body); err != nil {
			writeError(w, err)
			return
		}
		clientapi.WriteJSON(w, http.StatusOK, empty)
	}
}

// tagType is the room account data type that holds a room's tags.
const tagType = "m.tag"

// maxTagLength is the spec's limit on a tag name, in bytes.
const maxTagLength = 255

// tagContent is the content of m.tag.
type tagContent struct {
	Tags map[string]json.RawMessage `json:"tags"`
}

// decodeTags reads stored m.tag content; nil means no tags.
func decodeTags(raw json.RawMessage) (tagContent, error) {
	t := tagContent{Tags: map[string]json.RawMessage{}}
	if raw == nil {
		return t, nil
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, err
	}
	if t.Tags == nil {
		t.Tags = map[string]json.RawMessage{}
	}
	return t, nil
}

func (h *Handlers) getTags(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	room, _, err := target(r, c, true)
	if err != nil {
		writeError(w, err)
		return
	}
	raw, err := h.cfg.AccountData.Get(r.Context(), c.UserID, room, tagType)
	if err != nil && !errors.Is(err, accountdata.ErrNotFound) {
		writeError(w, err)
		return
	}
	t, err := decodeTags(raw)
	if err != nil {
		// Stored by a client through the account data API in another
		// shape: the room has no tags this API understands.
		t = tagContent{Tags: map[string]json.RawMessage{}}
	}
	clientapi.WriteJSON(w, http.StatusOK, t)
}

// editTags changes the room's tags atomically.
func (h *Handlers) editTags(w http.ResponseWriter, r *http.Request, c clientapi.Caller, edit func(tags map[string]json.RawMessage)) {
	room, _, err := target(r, c, true)
	if err != nil {
		writeError(w, err)
		return
	}
	_, err = h.cfg.AccountData.Update(r.Context(), c.UserID, room, tagType, func(cur json.RawMessage, _ bool) (json.RawMessage, error) {
		t, err := decodeTags(cur)
		if err != nil {
			t = tagContent{Tags: map[string]json.RawMessage{}}
		}
		edit(t.Tags)
		return json.Marshal(t)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

func (h *Handlers) putTag(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	tag := r.PathValue("tag")
	if tag == "" || len(tag) > maxTagLength {
		writeError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "a tag must be 1 to %d bytes", maxTagLength))
		return
	}
	body, err := clientapi.ReadJSONBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var info struct {
		Order *json.Number `json:"order"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		writeError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "order must be a number"))
		return
	}
	h.editTags(w, r, c, func(tags map[string]json.RawMessage) { tags[tag] = body })
}

func (h *Handlers) deleteTag(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	tag := r.PathValue("tag")
	h.editTags(w, r, c, func(tags map[string]json.RawMessage) { delete(tags, tag) })
}
