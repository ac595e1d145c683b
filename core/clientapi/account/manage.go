package account

import (
	"encoding/json"
	"net/http"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	"hearth/core/roomversion"
)

// UIA operations of the account-changing endpoints.
const (
	opPassword   = "password"
	opDeactivate = "deactivate"
)

// GET /account/whoami
func (h *Handlers) whoami(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	clientapi.WriteJSON(w, http.StatusOK, struct {
		UserID   string `json:"user_id"`
		DeviceID string `json:"device_id,omitempty"`
		IsGuest  bool   `json:"is_guest"`
	}{c.UserID, c.DeviceID, c.IsGuest})
}

type passwordRequest struct {
	NewPassword   string          `json:"new_password"`
	LogoutDevices *bool           `json:"logout_devices"`
	Auth          json.RawMessage `json:"auth"`
}

// POST /account/password
//
// With an access token the UIA session is the caller's; without one, the
// m.login.password stage decides whose password changes. The requesting
// device keeps its token; with logout_devices (the default) every other
// device is logged out.
func (h *Handlers) changePassword(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req passwordRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.NewPassword == "" {
		clientapi.WriteError(w, badRequest(matrixerr.CodeMissingParam, "missing new_password"))
		return
	}
	if len(req.NewPassword) > accounts.MaxPasswordBytes {
		clientapi.WriteError(w, accountsError(accounts.ErrPasswordTooLong))
		return
	}
	st, ok := h.userInteractiveAuth(w, r, opPassword, passwordFlows, c.UserID, req.Auth)
	if !ok {
		return
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	keep := ""
	if c.UserID == st.UserID {
		keep = c.DeviceID
	}
	if err := h.acc.ChangePassword(r.Context(), st.UserID, req.NewPassword, keep, logout); err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

type deactivateRequest struct {
	Auth     json.RawMessage `json:"auth"`
	IDServer string          `json:"id_server"`
	Erase    bool            `json:"erase"`
}

// POST /account/deactivate
//
// The account has no third-party identifiers to unbind, so the answer is
// "success", as the specification requires in that case.
func (h *Handlers) deactivate(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req deactivateRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	st, ok := h.userInteractiveAuth(w, r, opDeactivate, passwordFlows, c.UserID, req.Auth)
	if !ok {
		return
	}
	if err := h.acc.Deactivate(r.Context(), st.UserID); err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"id_server_unbind_result": "success"})
}

// GET /account/3pid
func (h *Handlers) threepids(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	clientapi.WriteJSON(w, http.StatusOK, map[string][]struct{}{"threepids": {}})
}

type enabled struct {
	Enabled bool `json:"enabled"`
}

// GET /capabilities
func (h *Handlers) capabilities(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	available := make(map[string]string)
	for _, v := range roomversion.All() {
		if v.Stable {
			available[v.ID] = "stable"
		} else {
			available[v.ID] = "unstable"
		}
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{"capabilities": map[string]any{
		"m.change_password": enabled{true},
		"m.room_versions": map[string]any{
			"default":   roomversion.Default,
			"available": available,
		},
		"m.set_displayname": enabled{true},
		"m.set_avatar_url":  enabled{true},
		"m.3pid_changes":    enabled{false},
		"m.get_login_token": enabled{false},
	}})
}
