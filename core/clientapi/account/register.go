package account

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

type registerRequest struct {
	Auth                     json.RawMessage `json:"auth"`
	Username                 string          `json:"username"`
	Password                 *string         `json:"password"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name"`
	InhibitLogin             bool            `json:"inhibit_login"`
}

// registrationFlows are the UIA flows of the registration mode.
func (h *Handlers) registrationFlows() []accounts.Flow {
	if h.mode == RegistrationOpen {
		return []accounts.Flow{{Stages: []string{accounts.StageDummy}}}
	}
	return []accounts.Flow{{Stages: []string{accounts.StageRegistrationToken}}}
}

// registrationAllowed answers 403 unless some registration is possible.
func (h *Handlers) registrationAllowed(w http.ResponseWriter) bool {
	if h.mode == RegistrationDisabled {
		clientapi.WriteError(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "registration has been disabled"))
		return false
	}
	return true
}

// POST /register
//
// The checks that need no authentication come first, as the specification
// asks: the kind, the mode, the body's shape, the username (which is
// lower-cased, as Synapse does), and the password and device limits. Then
// user-interactive authentication; once a flow is complete, the account is
// created. A retry with a session that already registered a user logs that
// user in again rather than failing.
func (h *Handlers) register(w http.ResponseWriter, r *http.Request) {
	switch kind := r.URL.Query().Get("kind"); kind {
	case "", "user":
	case "guest":
		clientapi.WriteError(w, matrixerr.New(http.StatusForbidden, codeGuestAccessForbidden, "guest access is not allowed on this server"))
		return
	default:
		clientapi.WriteError(w, badRequest(matrixerr.CodeInvalidParam, "unknown kind %q", kind))
		return
	}
	if !h.registrationAllowed(w) {
		return
	}
	var req registerRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	localpart := strings.ToLower(req.Username)
	if done, err := h.retried(w, r, req, localpart); done || err != nil {
		if err != nil {
			clientapi.WriteError(w, err)
		}
		return
	}
	if localpart != "" {
		if err := h.checkAvailable(r.Context(), localpart); err != nil {
			clientapi.WriteError(w, err)
			return
		}
	}
	if req.Password != nil && len(*req.Password) > accounts.MaxPasswordBytes {
		clientapi.WriteError(w, accountsError(accounts.ErrPasswordTooLong))
		return
	}
	device := h.newDevice(r, req)
	if req.DeviceID != "" && !accounts.ValidDeviceID(req.DeviceID) {
		clientapi.WriteError(w, accountsError(accounts.ErrInvalidDeviceID))
		return
	}
	if len(device.DisplayName) > accounts.MaxDeviceDisplayNameLength {
		clientapi.WriteError(w, accountsError(accounts.ErrDeviceNameTooLong))
		return
	}

	st, ok := h.userInteractiveAuth(w, r, accounts.OpRegister, h.registrationFlows(), "", req.Auth)
	if !ok {
		return
	}
	if st.Registered != "" {
		h.registeredAgain(w, r, st.Registered, req.InhibitLogin, h.newDevice(r, req))
		return
	}
	if req.Password == nil || *req.Password == "" {
		clientapi.WriteError(w, badRequest(matrixerr.CodeMissingParam, "missing password"))
		return
	}
	u, login, err := h.acc.Register(r.Context(), accounts.Registration{
		Localpart:    localpart,
		Password:     *req.Password,
		Session:      st.Session,
		InhibitLogin: req.InhibitLogin,
		Device:       device,
	})
	if err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	if req.InhibitLogin {
		clientapi.WriteJSON(w, http.StatusOK, loginResponse{UserID: u.ID, HomeServer: h.server})
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, registerResponse(login, h.server))
}

// registerResponse is a registration's answer: a login without the
// well_known that only /login returns.
func registerResponse(l accounts.LoginResult, server string) loginResponse {
	return loginResponse{UserID: l.UserID, AccessToken: l.AccessToken, DeviceID: l.DeviceID, HomeServer: server}
}

// retried answers a request whose UIA session already registered a user
// (with the same username, if one is given): its first answer was lost, so
// it gets that user logged in again. It reports whether it answered.
func (h *Handlers) retried(w http.ResponseWriter, r *http.Request, req registerRequest, localpart string) (bool, error) {
	var auth struct {
		Session string `json:"session"`
	}
	if len(req.Auth) == 0 || json.Unmarshal(req.Auth, &auth) != nil || auth.Session == "" {
		return false, nil
	}
	userID, err := h.acc.SessionRegistered(r.Context(), auth.Session)
	if err != nil || userID == "" {
		return false, err
	}
	if localpart != "" && accounts.UserID(localpart, h.server) != userID {
		return false, nil
	}
	h.registeredAgain(w, r, userID, req.InhibitLogin, h.newDevice(r, req))
	return true, nil
}

func (h *Handlers) newDevice(r *http.Request, req registerRequest) accounts.NewDevice {
	return accounts.NewDevice{ID: req.DeviceID, DisplayName: req.InitialDeviceDisplayName, IP: clientIP(r)}
}

// registeredAgain answers a retried registration whose session already
// created userID, as if the first answer had arrived.
func (h *Handlers) registeredAgain(w http.ResponseWriter, r *http.Request, userID string, inhibitLogin bool, device accounts.NewDevice) {
	if inhibitLogin {
		clientapi.WriteJSON(w, http.StatusOK, loginResponse{UserID: userID, HomeServer: h.server})
		return
	}
	login, err := h.acc.IssueLogin(r.Context(), userID, device)
	if err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, registerResponse(login, h.server))
}

// checkAvailable reports why localpart cannot be registered, or nil.
func (h *Handlers) checkAvailable(ctx context.Context, localpart string) error {
	if err := accounts.ValidateLocalpart(localpart, h.server); err != nil {
		return accountsError(err)
	}
	_, err := h.acc.User(ctx, accounts.UserID(localpart, h.server))
	switch {
	case err == nil:
		return accountsError(accounts.ErrUserExists)
	case errors.Is(err, accounts.ErrUserNotFound):
		return nil
	}
	return err
}

// GET /register/available
func (h *Handlers) available(w http.ResponseWriter, r *http.Request) {
	if !h.registrationAllowed(w) {
		return
	}
	username := r.URL.Query().Get("username")
	if username == "" {
		clientapi.WriteError(w, badRequest(matrixerr.CodeMissingParam, "missing username"))
		return
	}
	if err := h.checkAvailable(r.Context(), strings.ToLower(username)); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]bool{"available": true})
}
