package profile

import (
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// turnServer answers GET /voip/turnServer. hearth has no TURN server
// configured, and like Synapse without turn_uris it answers an empty
// object, which clients read as "no TURN server" (calls then rely on STUN
// or direct connections).
func (h *Handlers) turnServer(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// thirdPartyProtocols answers GET /thirdparty/protocols: without
// application services bridging other networks there are none.
func (h *Handlers) thirdPartyProtocols(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// thirdPartyProtocol answers GET /thirdparty/protocol/{protocol}: no
// protocol is known.
func (h *Handlers) thirdPartyProtocol(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "unknown protocol %q", r.PathValue("protocol")))
}
