// Package keys serves the client-server API's end-to-end encryption
// endpoints over core/e2ee: key upload, query, claim and changes,
// cross-signing keys and signatures, send-to-device messages and
// server-side key backups (spec v1.12, "End-to-End Encryption" and
// "Send-to-Device messaging").
package keys

import (
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/e2ee"
	"hearth/core/matrixerr"
	"hearth/core/syncer"
)

// Authorize runs one step of user-interactive authentication for the
// caller's request to do op, whose auth object is auth (nil when the request
// has none). It returns true once the caller has completed a flow;
// otherwise it has answered the request itself: 401 with the flows and the
// session, or an error. The account area's UIA over core/accounts sessions
// implements it, offering the m.login.password flow.
type Authorize func(w http.ResponseWriter, r *http.Request, c clientapi.Caller, op string, auth json.RawMessage) bool

// Config is what Handlers need.
type Config struct {
	// E2EE stores the keys, inboxes and backups.
	E2EE *e2ee.Service
	// Authorize guards the replacement of cross-signing keys.
	Authorize Authorize
}

// Handlers serves the end-to-end encryption endpoints.
type Handlers struct {
	e2ee      *e2ee.Service
	authorize Authorize
}

// New returns the handlers for cfg.
func New(cfg Config) (*Handlers, error) {
	switch {
	case cfg.E2EE == nil:
		return nil, errors.New("keys: Config.E2EE is nil")
	case cfg.Authorize == nil:
		return nil, errors.New("keys: Config.Authorize is nil")
	}
	return &Handlers{e2ee: cfg.E2EE, authorize: cfg.Authorize}, nil
}

// Register adds the endpoints to rt.
func (h *Handlers) Register(rt *clientapi.Router) {
	rt.HandleAuth("POST /keys/upload", h.upload)
	rt.HandleAuth("POST /keys/query", h.query)
	rt.HandleAuth("POST /keys/claim", h.claim)
	rt.HandleAuth("GET /keys/changes", h.changes)
	rt.HandleAuth("POST /keys/device_signing/upload", noGuests(h.uploadCrossSigning))
	rt.HandleAuth("POST /keys/signatures/upload", noGuests(h.uploadSignatures))
	rt.HandleAuth("PUT /sendToDevice/{eventType}/{txnId}", h.sendToDevice)

	rt.HandleAuth("POST /room_keys/version", noGuests(h.createBackup))
	rt.HandleAuth("GET /room_keys/version", noGuests(h.getBackup))
	rt.HandleAuth("GET /room_keys/version/{version}", noGuests(h.getBackup))
	rt.HandleAuth("PUT /room_keys/version/{version}", noGuests(h.updateBackup))
	rt.HandleAuth("DELETE /room_keys/version/{version}", noGuests(h.deleteBackup))
	for _, path := range []string{"/room_keys/keys", "/room_keys/keys/{roomId}", "/room_keys/keys/{roomId}/{sessionId}"} {
		rt.HandleAuth("GET "+path, noGuests(h.getRoomKeys))
		rt.HandleAuth("PUT "+path, noGuests(h.putRoomKeys))
		rt.HandleAuth("DELETE "+path, noGuests(h.deleteRoomKeys))
	}
}

type handler = func(w http.ResponseWriter, r *http.Request, c clientapi.Caller)

// noGuests refuses guest accounts, which may not hold cross-signing keys
// or backups.
func noGuests(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		if c.IsGuest {
			clientapi.WriteError(w, matrixerr.New(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN", "guests may not use this endpoint"))
			return
		}
		h(w, r, c)
	}
}

// writeError sends err, with the current backup version for
// M_WRONG_ROOM_KEYS_VERSION.
func writeError(w http.ResponseWriter, err error) {
	var wrong *e2ee.WrongVersionError
	if errors.As(err, &wrong) {
		clientapi.WriteJSON(w, http.StatusForbidden, wrong.Body())
		return
	}
	clientapi.WriteError(w, err)
}

// empty is the {} of endpoints that answer nothing.
var empty = struct{}{}

// deviceListPosition reads the device list position of a sync token.
func deviceListPosition(token string) (uint64, error) {
	t, err := syncer.ParseToken(token)
	if err != nil {
		return 0, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "%q is not a sync token", token)
	}
	return t.DeviceKeys, nil
}
