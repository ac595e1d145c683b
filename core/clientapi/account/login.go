package account

import (
	"errors"
	"net/http"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// Login types.
const loginPassword = "m.login.password"

// wellKnownBody is the discovery information of /.well-known/matrix/client
// and of login responses.
type wellKnownBody struct {
	Homeserver struct {
		BaseURL string `json:"base_url"`
	} `json:"m.homeserver"`
}

func (h *Handlers) wellKnownInfo() *wellKnownBody {
	if h.baseURL == "" {
		return nil
	}
	var b wellKnownBody
	b.Homeserver.BaseURL = h.baseURL
	return &b
}

// GET /.well-known/matrix/client
func (h *Handlers) wellKnown(w http.ResponseWriter, r *http.Request) {
	info := h.wellKnownInfo()
	if info == nil {
		clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "no client discovery information is configured"))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, info)
}

// GET /login
func (h *Handlers) loginFlows(w http.ResponseWriter, r *http.Request) {
	type flow struct {
		Type string `json:"type"`
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string][]flow{"flows": {{Type: loginPassword}}})
}

type loginRequest struct {
	Type       string               `json:"type"`
	Identifier *accounts.Identifier `json:"identifier"`
	// User, Medium and Address are the deprecated forms of identifier.
	User                     string  `json:"user"`
	Medium                   string  `json:"medium"`
	Address                  string  `json:"address"`
	Password                 *string `json:"password"`
	DeviceID                 string  `json:"device_id"`
	InitialDeviceDisplayName string  `json:"initial_device_display_name"`
}

// loginResponse answers login and registration.
type loginResponse struct {
	UserID      string         `json:"user_id"`
	AccessToken string         `json:"access_token,omitempty"`
	DeviceID    string         `json:"device_id,omitempty"`
	HomeServer  string         `json:"home_server"`
	WellKnown   *wellKnownBody `json:"well_known,omitempty"`
}

// POST /login
func (h *Handlers) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	switch req.Type {
	case loginPassword:
	case "":
		clientapi.WriteError(w, badRequest(matrixerr.CodeMissingParam, "missing login type"))
		return
	default:
		clientapi.WriteError(w, badRequest(matrixerr.CodeUnknown, "unsupported login type %q", req.Type))
		return
	}
	if req.Identifier == nil && req.User == "" && (req.Medium != "" || req.Address != "") {
		req.Identifier = &accounts.Identifier{Type: accounts.IdentifierThirdParty, Medium: req.Medium, Address: req.Address}
	}
	userID, err := h.acc.IdentifiedUser(req.Identifier, req.User)
	switch {
	case errors.Is(err, accounts.ErrMissingIdentifier):
		clientapi.WriteError(w, badRequest(matrixerr.CodeMissingParam, "missing identifier"))
		return
	case errors.Is(err, accounts.ErrUnknownIdentifier):
		clientapi.WriteError(w, badRequest(matrixerr.CodeUnknown, "unsupported identifier type %q", req.Identifier.Type))
		return
	case err != nil:
		clientapi.WriteError(w, forbiddenLogin())
		return
	}
	if req.Password == nil {
		clientapi.WriteError(w, badRequest(matrixerr.CodeMissingParam, "missing password"))
		return
	}
	login, err := h.acc.Login(r.Context(), userID, *req.Password, accounts.NewDevice{
		ID:          req.DeviceID,
		DisplayName: req.InitialDeviceDisplayName,
		IP:          clientIP(r),
	})
	switch {
	case errors.Is(err, accounts.ErrWrongPassword), errors.Is(err, accounts.ErrUserNotFound):
		clientapi.WriteError(w, forbiddenLogin())
		return
	case err != nil:
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, h.loginResponse(login))
}

func forbiddenLogin() error {
	return matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "invalid username or password")
}

func (h *Handlers) loginResponse(l accounts.LoginResult) loginResponse {
	return loginResponse{
		UserID:      l.UserID,
		AccessToken: l.AccessToken,
		DeviceID:    l.DeviceID,
		HomeServer:  h.server,
		WellKnown:   h.wellKnownInfo(),
	}
}

// POST /logout
func (h *Handlers) logout(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if err := h.acc.Logout(r.Context(), c.AccessToken); err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// POST /logout/all
func (h *Handlers) logoutAll(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if err := h.acc.LogoutAll(r.Context(), c.UserID); err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}
