// Package userdata serves the client-server API's per-user data and
// ephemeral room data: account data and room tags, typing notifications,
// receipts and read markers, presence, push rules, pushers and the
// notification list. The data lives in core/accountdata, core/ephemeral and
// core/notifications; this package checks requests and maps their errors
// to the Matrix error codes of the spec.
package userdata

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"hearth/core/accountdata"
	"hearth/core/clientapi"
	"hearth/core/ephemeral"
	"hearth/core/matrixerr"
	"hearth/core/notifications"
)

// Config is what the handlers need.
type Config struct {
	AccountData   *accountdata.Store
	Ephemeral     *ephemeral.Ephemeral
	Notifications *notifications.Service
	// Now returns the current time, for the age of events in GET
	// /notifications.
	Now func() time.Time
}

// Handlers serves the endpoints.
type Handlers struct {
	cfg Config
}

// New returns the handlers over cfg.
func New(cfg Config) (*Handlers, error) {
	if cfg.AccountData == nil || cfg.Ephemeral == nil || cfg.Notifications == nil || cfg.Now == nil {
		return nil, errors.New("userdata: Config needs AccountData, Ephemeral, Notifications and Now")
	}
	return &Handlers{cfg: cfg}, nil
}

// Register adds the endpoints to rt.
func (h *Handlers) Register(rt *clientapi.Router) {
	rt.HandleAuth("GET /user/{userId}/account_data/{type}", h.getAccountData(false))
	rt.HandleAuth("PUT /user/{userId}/account_data/{type}", h.putAccountData(false))
	rt.HandleAuth("GET /user/{userId}/rooms/{roomId}/account_data/{type}", h.getAccountData(true))
	rt.HandleAuth("PUT /user/{userId}/rooms/{roomId}/account_data/{type}", h.putAccountData(true))
	rt.HandleAuth("GET /user/{userId}/rooms/{roomId}/tags", h.getTags)
	rt.HandleAuth("PUT /user/{userId}/rooms/{roomId}/tags/{tag}", h.putTag)
	rt.HandleAuth("DELETE /user/{userId}/rooms/{roomId}/tags/{tag}", h.deleteTag)

	rt.HandleAuth("PUT /rooms/{roomId}/typing/{userId}", h.putTyping)
	rt.HandleAuth("POST /rooms/{roomId}/receipt/{receiptType}/{eventId}", h.postReceipt)
	rt.HandleAuth("POST /rooms/{roomId}/read_markers", h.postReadMarkers)
	rt.HandleAuth("GET /presence/{userId}/status", h.getPresence)
	rt.HandleAuth("PUT /presence/{userId}/status", h.putPresence)

	rt.HandleAuth("GET /pushrules/{$}", h.getPushRules)
	rt.HandleAuth("GET /pushrules", h.getPushRules)
	rt.HandleAuth("GET /pushrules/{scope}/{$}", h.getPushRulesScope)
	rt.HandleAuth("GET /pushrules/{scope}/{kind}/{ruleId}", h.getPushRule)
	rt.HandleAuth("PUT /pushrules/{scope}/{kind}/{ruleId}", h.putPushRule)
	rt.HandleAuth("DELETE /pushrules/{scope}/{kind}/{ruleId}", h.deletePushRule)
	rt.HandleAuth("GET /pushrules/{scope}/{kind}/{ruleId}/enabled", h.getPushRuleEnabled)
	rt.HandleAuth("PUT /pushrules/{scope}/{kind}/{ruleId}/enabled", h.putPushRuleEnabled)
	rt.HandleAuth("GET /pushrules/{scope}/{kind}/{ruleId}/actions", h.getPushRuleActions)
	rt.HandleAuth("PUT /pushrules/{scope}/{kind}/{ruleId}/actions", h.putPushRuleActions)

	rt.HandleAuth("GET /pushers", h.getPushers)
	rt.HandleAuth("POST /pushers/set", h.setPusher)
	rt.HandleAuth("GET /notifications", h.getNotifications)
}

// empty is the {} body of successful writes.
var empty = struct{}{}

// writeError answers with err mapped to its Matrix error.
func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, accountdata.ErrNotFound):
		err = matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "account data not found")
	case errors.Is(err, accountdata.ErrInvalid), errors.Is(err, ephemeral.ErrInvalid):
		err = matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "%s", err.Error())
	case errors.Is(err, ephemeral.ErrNotJoined):
		err = matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "you are not joined to this room")
	case errors.Is(err, ephemeral.ErrUnknownEvent):
		err = matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "unknown event")
	case errors.Is(err, ephemeral.ErrNotVisible):
		err = matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "you are not allowed to see their presence")
	}
	clientapi.WriteError(w, err)
}

// ownUser checks that the {userId} of the path is the caller.
func ownUser(r *http.Request, c clientapi.Caller, what string) error {
	if r.PathValue("userId") != c.UserID {
		return matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "cannot access %s of other users", what)
	}
	return nil
}

// roomID returns the {roomId} of the path after checking that it looks
// like a room ID.
func roomID(r *http.Request) (string, error) {
	id := r.PathValue("roomId")
	if !strings.HasPrefix(id, "!") || len(id) < 2 || strings.ContainsRune(id, 0) {
		return "", matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "%q is not a valid room ID", id)
	}
	return id, nil
}
