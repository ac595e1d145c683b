package keys

import (
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/e2ee"
)

// opDeviceSigning names the operation a UIA session authorises.
const opDeviceSigning = "keys/device_signing/upload"

// uploadCrossSigning serves POST /keys/device_signing/upload. The first
// upload, and a retry of a successful one, need no authentication;
// replacing keys needs user-interactive authentication.
func (h *Handlers) uploadCrossSigning(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body struct {
		e2ee.CrossSigningUpload
		Auth json.RawMessage `json:"auth"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	err := h.e2ee.UploadCrossSigningKeys(r.Context(), c.UserID, body.CrossSigningUpload, false)
	if errors.Is(err, e2ee.ErrAuthRequired) {
		if !h.authorize(w, r, c, opDeviceSigning, body.Auth) {
			return
		}
		err = h.e2ee.UploadCrossSigningKeys(r.Context(), c.UserID, body.CrossSigningUpload, true)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// uploadSignatures serves POST /keys/signatures/upload.
func (h *Handlers) uploadSignatures(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body map[string]map[string]json.RawMessage
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	failures, err := h.e2ee.UploadSignatures(r.Context(), c.UserID, body)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"failures": failures})
}
