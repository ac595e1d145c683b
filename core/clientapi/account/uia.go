package account

import (
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// uiaResponse is the 401 body of user-interactive authentication: the
// flows, their (empty) params, the session, the completed stages and, after
// a failed attempt at a stage, errcode and error.
type uiaResponse struct {
	Errcode   string          `json:"errcode,omitempty"`
	Error     string          `json:"error,omitempty"`
	Flows     []accounts.Flow `json:"flows"`
	Params    map[string]any  `json:"params"`
	Session   string          `json:"session"`
	Completed []string        `json:"completed"`
}

// passwordFlows is what the account-changing endpoints ask for.
var passwordFlows = []accounts.Flow{{Stages: []string{accounts.StagePassword}}}

// userInteractiveAuth runs one UIA step for a request. It returns the
// session's status and true when a flow is complete; otherwise it has
// answered (401 with the UIA body, or an error) and returns false.
func (h *Handlers) userInteractiveAuth(w http.ResponseWriter, r *http.Request, op string, flows []accounts.Flow, userID string, auth json.RawMessage) (accounts.AuthStatus, bool) {
	st, err := h.acc.UserInteractiveAuth(r.Context(), accounts.AuthRequest{Op: op, Flows: flows, UserID: userID, Auth: auth})
	if err != nil {
		clientapi.WriteError(w, accountsError(err))
		return st, false
	}
	if st.Done {
		return st, true
	}
	body := uiaResponse{Flows: st.Flows, Params: map[string]any{}, Session: st.Session, Completed: st.Completed}
	if st.Err != nil {
		body.Errcode, body.Error = stageError(st.Err)
	}
	clientapi.WriteJSON(w, http.StatusUnauthorized, body)
	return st, false
}

// stageError is the errcode and message of a failed attempt at a stage.
func stageError(err error) (code, msg string) {
	switch {
	case errors.Is(err, accounts.ErrWrongPassword), errors.Is(err, accounts.ErrUserNotFound),
		errors.Is(err, accounts.ErrUnknownThreepid):
		return matrixerr.CodeForbidden, "invalid username or password"
	case errors.Is(err, accounts.ErrWrongUser):
		return matrixerr.CodeForbidden, "you may only authenticate as yourself"
	case errors.Is(err, accounts.ErrUserDeactivated):
		return matrixerr.CodeUserDeactivated, "this account has been deactivated"
	case errors.Is(err, accounts.ErrTokenNotFound), errors.Is(err, accounts.ErrTokenExpired),
		errors.Is(err, accounts.ErrTokenUsedUp):
		return codeUnauthorized, "invalid registration token"
	case errors.Is(err, accounts.ErrMissingAuthParam), errors.Is(err, accounts.ErrMissingIdentifier):
		return matrixerr.CodeMissingParam, message(err)
	case errors.Is(err, accounts.ErrUnknownIdentifier):
		return matrixerr.CodeUnknown, message(err)
	case errors.Is(err, accounts.ErrUnknownStage):
		return matrixerr.CodeUnrecognized, message(err)
	}
	return matrixerr.CodeForbidden, message(err)
}

// Authorize runs one step of the m.login.password flow for another area's
// request by c to do op, such as replacing cross-signing keys. It returns
// true once the flow is complete; otherwise it has answered the request
// (401 with the UIA body, or an error). Its signature matches
// keys.Authorize.
func (h *Handlers) Authorize(w http.ResponseWriter, r *http.Request, c clientapi.Caller, op string, auth json.RawMessage) bool {
	_, done := h.userInteractiveAuth(w, r, op, passwordFlows, c.UserID, auth)
	return done
}
