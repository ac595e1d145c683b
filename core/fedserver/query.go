package fedserver

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"

	"hearth/core/matrixerr"
	"hearth/core/media"
)

func unrecognized(w http.ResponseWriter, r *http.Request) {
	writeErr(w, errorf(http.StatusNotFound, matrixerr.CodeUnrecognized, "unrecognized request: %s %s", r.Method, r.URL.Path))
}

// queryDirectory serves GET /_matrix/federation/v1/query/directory?room_alias=.
func (h *Handlers) queryDirectory(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Aliases == nil {
		unrecognized(w, r)
		return
	}
	ctx := r.Context()
	alias := r.URL.Query().Get("room_alias")
	if alias == "" {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeMissingParam, "room_alias is required"))
		return
	}
	roomID, ok, err := h.cfg.Aliases.ResolveLocalAlias(ctx, alias)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, matrixerr.CodeNotFound, "room alias %s not found", alias))
		return
	}
	servers := []string{h.cfg.ServerName}
	if evs, err := h.currentEvents(ctx, roomID); err == nil {
		servers = h.serversIn(evs)
		if len(servers) == 0 || servers[0] != h.cfg.ServerName {
			servers = append([]string{h.cfg.ServerName}, servers...)
		}
	}
	writeJSON(w, map[string]any{"room_id": roomID, "servers": servers})
}

// queryProfile serves GET /_matrix/federation/v1/query/profile?user_id=&field=.
func (h *Handlers) queryProfile(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Profiles == nil {
		unrecognized(w, r)
		return
	}
	q := r.URL.Query()
	userID, field := q.Get("user_id"), q.Get("field")
	switch {
	case userID == "":
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeMissingParam, "user_id is required"))
		return
	case serverOf(userID) != h.cfg.ServerName:
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeInvalidParam, "user %s is not a user of this server", userID))
		return
	case field != "" && field != "displayname" && field != "avatar_url":
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeInvalidParam, "unknown profile field %q", field))
		return
	}
	name, avatar, ok, err := h.cfg.Profiles.LocalProfile(r.Context(), userID)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, matrixerr.CodeNotFound, "no such user %s", userID))
		return
	}
	out := map[string]string{}
	if name != "" && field != "avatar_url" {
		out["displayname"] = name
	}
	if avatar != "" && field != "displayname" {
		out["avatar_url"] = avatar
	}
	writeJSON(w, out)
}

// userDevices serves GET /_matrix/federation/v1/user/devices/{userId}.
func (h *Handlers) userDevices(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Devices == nil || h.cfg.Keys == nil {
		unrecognized(w, r)
		return
	}
	ctx := r.Context()
	userID := r.PathValue("userId")
	if serverOf(userID) != h.cfg.ServerName {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeInvalidParam, "user %s is not a user of this server", userID))
		return
	}
	devs, err := h.cfg.Devices.DeviceList(ctx, userID)
	if err != nil {
		writeErr(w, err)
		return
	}
	keys, err := h.cfg.Keys.QueryKeys(ctx, "", map[string][]string{userID: nil})
	if err != nil {
		writeErr(w, err)
		return
	}
	for i := range devs {
		if k, ok := keys.DeviceKeys[userID][devs[i].DeviceID]; ok {
			devs[i].Keys = k
		}
	}
	out := map[string]any{"user_id": userID, "stream_id": 0, "devices": devs}
	if k, ok := keys.MasterKeys[userID]; ok {
		out["master_key"] = k
	}
	if k, ok := keys.SelfSigningKeys[userID]; ok {
		out["self_signing_key"] = k
	}
	writeJSON(w, out)
}

// keysQuery serves POST /_matrix/federation/v1/user/keys/query for local
// users.
func (h *Handlers) keysQuery(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Keys == nil {
		unrecognized(w, r)
		return
	}
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := readBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	users := map[string][]string{}
	for u, d := range req.DeviceKeys {
		if serverOf(u) == h.cfg.ServerName {
			users[u] = d
		}
	}
	res, err := h.cfg.Keys.QueryKeys(r.Context(), "", users)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"device_keys": res.DeviceKeys, "master_keys": res.MasterKeys, "self_signing_keys": res.SelfSigningKeys})
}

// keysClaim serves POST /_matrix/federation/v1/user/keys/claim for local
// users.
func (h *Handlers) keysClaim(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Keys == nil {
		unrecognized(w, r)
		return
	}
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := readBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	claims := map[string]map[string]string{}
	for u, d := range req.OneTimeKeys {
		if serverOf(u) == h.cfg.ServerName {
			claims[u] = d
		}
	}
	res, err := h.cfg.Keys.ClaimKeys(r.Context(), claims)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"one_time_keys": res.OneTimeKeys})
}

// mediaDownload serves GET /_matrix/federation/v1/media/download/{mediaId}
// as multipart/mixed: an empty JSON metadata part, then the file.
func (h *Handlers) mediaDownload(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Media == nil {
		unrecognized(w, r)
		return
	}
	ctx := r.Context()
	f, err := h.cfg.Media.Get(ctx, h.cfg.ServerName, r.PathValue("mediaId"), false)
	switch {
	case errors.Is(err, media.ErrNotFound), errors.Is(err, media.ErrInvalidID):
		writeErr(w, errorf(http.StatusNotFound, matrixerr.CodeNotFound, "media not found"))
		return
	case errors.Is(err, media.ErrNotYetUploaded):
		writeErr(w, errorf(http.StatusGatewayTimeout, "M_NOT_YET_UPLOADED", "media not yet uploaded"))
		return
	case err != nil:
		writeErr(w, err)
		return
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(http.StatusOK)
	meta, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	json.NewEncoder(meta).Encode(struct{}{})
	hdr := textproto.MIMEHeader{"Content-Type": {f.ContentType}}
	if f.ContentType == "" {
		hdr.Set("Content-Type", "application/octet-stream")
	}
	if f.FileName != "" {
		hdr.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.FileName}))
	}
	part, _ := mw.CreatePart(hdr)
	io.Copy(part, f.Open(ctx))
	mw.Close()
}
