package syncapi

import (
	"errors"
	"net/http"
	"time"

	"hearth/core/clientapi"
	"hearth/core/filter"
	"hearth/core/matrixerr"
	"hearth/core/syncer"
)

// sync serves GET /sync.
func (h *Handlers) sync(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	req, err := h.request(r, c)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	resp, err := h.cfg.Syncer.Sync(r.Context(), req)
	if err != nil {
		if r.Context().Err() != nil {
			// The client went away while waiting: nobody to answer.
			return
		}
		clientapi.WriteError(w, err)
		return
	}
	// AppendJSON rather than encoding/json: a /sync is the largest and
	// most frequent answer, and mostly events that are JSON already.
	clientapi.WriteJSONBody(w, http.StatusOK, resp.AppendJSON(nil))
}

// request reads the parameters of GET /sync.
func (h *Handlers) request(r *http.Request, c clientapi.Caller) (syncer.Request, error) {
	q := r.URL.Query()
	req := syncer.Request{UserID: c.UserID, DeviceID: c.DeviceID}
	if s := q.Get("since"); s != "" {
		t, err := syncer.ParseToken(s)
		if err != nil {
			return req, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "since is not a sync token from this server")
		}
		req.Since = &t
	}
	switch q.Get("full_state") {
	case "", "false":
	case "true":
		req.FullState = true
	default:
		return req, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "full_state must be true or false")
	}
	switch p := q.Get("set_presence"); p {
	case "", "online", "offline", "unavailable":
		req.SetPresence = p
	default:
		return req, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "set_presence must be online, offline or unavailable")
	}
	ms, err := clientapi.QueryInt(r, "timeout", 0)
	if err != nil {
		return req, err
	}
	req.Timeout = h.cfg.MaxTimeout
	if ms < int64(h.cfg.MaxTimeout/time.Millisecond) {
		req.Timeout = time.Duration(ms) * time.Millisecond
	}
	if param := q.Get("filter"); param != "" {
		key := "inline\x00" + param
		load := func() ([]byte, error) { return []byte(param), nil }
		if !filter.IsInlineJSON(param) {
			key = "stored\x00" + c.UserID + "\x00" + param
			load = func() ([]byte, error) {
				stored, err := h.cfg.Syncer.GetFilter(r.Context(), c.UserID, param)
				if errors.Is(err, syncer.ErrUnknownFilter) {
					return nil, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "no such filter")
				}
				return stored, err
			}
		}
		f, err := h.filters.get(key, load)
		if err != nil {
			return req, err // a matrixerr.Error, or the store's
		}
		req.Filter = f
	}
	return req, nil
}
