package keys

import (
	"encoding/json"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/e2ee"
	"hearth/core/matrixerr"
)

// backupParams is the body of POST and PUT /room_keys/version.
type backupParams struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Version   *string         `json:"version"`
}

// createBackup serves POST /room_keys/version.
func (h *Handlers) createBackup(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body backupParams
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	version, err := h.e2ee.CreateBackup(r.Context(), c.UserID, body.Algorithm, body.AuthData)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"version": version})
}

// getBackup serves GET /room_keys/version and /room_keys/version/{version}.
func (h *Handlers) getBackup(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	info, err := h.e2ee.Backup(r.Context(), c.UserID, r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, info)
}

// updateBackup serves PUT /room_keys/version/{version}.
func (h *Handlers) updateBackup(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body backupParams
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	version := r.PathValue("version")
	if body.Version != nil && *body.Version != version {
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "the version in the body does not match the path"))
		return
	}
	if err := h.e2ee.UpdateBackup(r.Context(), c.UserID, version, body.Algorithm, body.AuthData); err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// deleteBackup serves DELETE /room_keys/version/{version}.
func (h *Handlers) deleteBackup(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if err := h.e2ee.DeleteBackup(r.Context(), c.UserID, r.PathValue("version")); err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// backupVersion reads the required version query parameter.
func backupVersion(r *http.Request) (string, error) {
	v := r.URL.Query().Get("version")
	if v == "" {
		return "", matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing version")
	}
	return v, nil
}

// updateResponse is the answer to writes of backed-up keys.
type updateResponse struct {
	ETag  string `json:"etag"`
	Count int    `json:"count"`
}

// putRoomKeys serves PUT /room_keys/keys, /room_keys/keys/{roomId} and
// /room_keys/keys/{roomId}/{sessionId}, whose bodies hold all rooms, one
// room's sessions, and one session's key data.
func (h *Handlers) putRoomKeys(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	version, err := backupVersion(r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	room, session := r.PathValue("roomId"), r.PathValue("sessionId")
	rooms := map[string]map[string]e2ee.KeyBackupData{}
	switch {
	case session != "":
		var d e2ee.KeyBackupData
		if err := clientapi.ReadJSON(w, r, &d); err != nil {
			clientapi.WriteError(w, err)
			return
		}
		rooms[room] = map[string]e2ee.KeyBackupData{session: d}
	case room != "":
		var body e2ee.RoomKeyBackup
		if err := clientapi.ReadJSON(w, r, &body); err != nil {
			clientapi.WriteError(w, err)
			return
		}
		if body.Sessions == nil {
			clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing sessions"))
			return
		}
		rooms[room] = body.Sessions
	default:
		var body struct {
			Rooms map[string]e2ee.RoomKeyBackup `json:"rooms"`
		}
		if err := clientapi.ReadJSON(w, r, &body); err != nil {
			clientapi.WriteError(w, err)
			return
		}
		if body.Rooms == nil {
			clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing rooms"))
			return
		}
		for id, rk := range body.Rooms {
			rooms[id] = rk.Sessions
		}
	}
	count, etag, err := h.e2ee.PutRoomKeys(r.Context(), c.UserID, version, rooms)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, updateResponse{ETag: etag, Count: count})
}

// getRoomKeys serves GET /room_keys/keys and its per-room and per-session
// forms.
func (h *Handlers) getRoomKeys(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	version, err := backupVersion(r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	room, session := r.PathValue("roomId"), r.PathValue("sessionId")
	keys, err := h.e2ee.RoomKeys(r.Context(), c.UserID, version, room, session)
	if err != nil {
		writeError(w, err)
		return
	}
	switch {
	case session != "":
		d, ok := keys[room][session]
		if !ok {
			clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "no key found for this session"))
			return
		}
		clientapi.WriteJSON(w, http.StatusOK, d)
	case room != "":
		sessions := keys[room]
		if sessions == nil {
			sessions = map[string]json.RawMessage{}
		}
		clientapi.WriteJSON(w, http.StatusOK, map[string]any{"sessions": sessions})
	default:
		rooms := make(map[string]any, len(keys))
		for id, sessions := range keys {
			rooms[id] = map[string]any{"sessions": sessions}
		}
		clientapi.WriteJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
	}
}

// deleteRoomKeys serves DELETE /room_keys/keys and its per-room and
// per-session forms.
func (h *Handlers) deleteRoomKeys(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	version, err := backupVersion(r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	count, etag, err := h.e2ee.DeleteRoomKeys(r.Context(), c.UserID, version, r.PathValue("roomId"), r.PathValue("sessionId"))
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, updateResponse{ETag: etag, Count: count})
}
