package keys

import (
	"encoding/json"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// sendToDevice serves PUT /sendToDevice/{eventType}/{txnId}.
func (h *Handlers) sendToDevice(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if body.Messages == nil {
		clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing messages"))
		return
	}
	err := h.e2ee.SendToDevice(r.Context(), c.UserID, c.DeviceID, r.PathValue("eventType"), r.PathValue("txnId"), body.Messages)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}
