package keys

import (
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/e2ee"
	"hearth/core/matrixerr"
)

// upload serves POST /keys/upload.
func (h *Handlers) upload(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body e2ee.Upload
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	counts, err := h.e2ee.UploadKeys(r.Context(), c.UserID, c.DeviceID, body)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_key_counts": counts})
}

// query serves POST /keys/query.
func (h *Handlers) query(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if body.DeviceKeys == nil {
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing device_keys"))
		return
	}
	res, err := h.e2ee.QueryKeys(r.Context(), c.UserID, body.DeviceKeys)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, res)
}

// claim serves POST /keys/claim.
func (h *Handlers) claim(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if body.OneTimeKeys == nil {
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing one_time_keys"))
		return
	}
	res, err := h.e2ee.ClaimKeys(r.Context(), body.OneTimeKeys)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, res)
}

// changes serves GET /keys/changes?from=&to=. to is optional (Synapse
// treats it as a hint too): without it the changes run to now.
func (h *Handlers) changes(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	q := r.URL.Query()
	fromToken := q.Get("from")
	if fromToken == "" {
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing from"))
		return
	}
	from, err := deviceListPosition(fromToken)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	lists := h.e2ee.DeviceKeys()
	to := lists.Position()
	if t := q.Get("to"); t != "" {
		if to, err = deviceListPosition(t); err != nil {
			clientapi.WriteError(w, err)
			return
		}
	}
	changed, left, err := lists.ListChanges(r.Context(), c.UserID, from, to)
	if err != nil {
		writeError(w, err)
		return
	}
	if changed == nil {
		changed = []string{}
	}
	if left == nil {
		left = []string{}
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string][]string{"changed": changed, "left": left})
}
