// Package account serves the client-server API's account endpoints: server
// discovery (/.well-known/matrix/client), login and logout, registration
// with user-interactive authentication, whoami, password change,
// deactivation, devices, capabilities, and honest refusals of the
// third-party identifier (3PID) endpoints, since hearth binds no email
// addresses or phone numbers to accounts.
//
// Every rule about accounts lives in core/accounts; this package turns HTTP
// requests into its calls and its errors into Matrix errors.
package account

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// RegistrationMode says who may create an account through POST /register.
type RegistrationMode string

// Registration modes.
const (
	// RegistrationOpen lets anyone register (UIA flow: m.login.dummy).
	RegistrationOpen RegistrationMode = "open"
	// RegistrationToken requires a registration token (UIA flow:
	// m.login.registration_token).
	RegistrationToken RegistrationMode = "token"
	// RegistrationDisabled refuses client registration with 403
	// M_FORBIDDEN; administrators still create accounts.
	RegistrationDisabled RegistrationMode = "disabled"
)

// Error codes that core/matrixerr does not name.
const (
	codeUnauthorized         = "M_UNAUTHORIZED"
	codeThreepidDenied       = "M_THREEPID_DENIED"
	codeGuestAccessForbidden = "M_GUEST_ACCESS_FORBIDDEN"
)

// Config configures the handlers.
type Config struct {
	// Accounts keeps the users, devices and tokens; required.
	Accounts *accounts.Accounts
	// ServerName is the homeserver's name; it must be the one Accounts
	// uses.
	ServerName string
	// Registration is the registration mode; empty means RegistrationToken,
	// the homeserver's default.
	Registration RegistrationMode
	// BaseURL is the public base URL of the client API (such as
	// "https://matrix.example.org"), served by /.well-known/matrix/client
	// and in login responses. Empty means no discovery information: the
	// well-known endpoint answers 404.
	BaseURL string
}

// Handlers serves the account endpoints.
type Handlers struct {
	acc     *accounts.Accounts
	server  string
	mode    RegistrationMode
	baseURL string
}

// New checks cfg and returns the handlers.
func New(cfg Config) (*Handlers, error) {
	switch {
	case cfg.Accounts == nil:
		return nil, errors.New("account: no Accounts")
	case cfg.ServerName == "":
		return nil, errors.New("account: no server name")
	case cfg.ServerName != cfg.Accounts.ServerName():
		return nil, fmt.Errorf("account: server name %q differs from the accounts' %q", cfg.ServerName, cfg.Accounts.ServerName())
	}
	mode := cfg.Registration
	if mode == "" {
		mode = RegistrationToken
	}
	switch mode {
	case RegistrationOpen, RegistrationToken, RegistrationDisabled:
	default:
		return nil, fmt.Errorf("account: unknown registration mode %q (want open, token or disabled)", mode)
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("account: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
		}
	}
	return &Handlers{acc: cfg.Accounts, server: cfg.ServerName, mode: mode, baseURL: cfg.BaseURL}, nil
}

// Register adds the account endpoints to rt.
func (h *Handlers) Register(rt *clientapi.Router) {
	rt.HandleRaw("GET /.well-known/matrix/client", h.wellKnown)

	rt.Handle("GET /login", h.loginFlows)
	rt.Handle("POST /login", h.login)
	rt.HandleAuth("POST /logout", h.logout)
	rt.HandleAuth("POST /logout/all", h.logoutAll)

	rt.Handle("POST /register", h.register)
	rt.Handle("GET /register/available", h.available)

	rt.HandleAuth("GET /account/whoami", h.whoami)
	rt.Handle("POST /account/password", h.optionalAuth(rt, h.changePassword))
	rt.Handle("POST /account/deactivate", h.optionalAuth(rt, h.deactivate))
	rt.HandleAuth("GET /capabilities", h.capabilities)

	rt.HandleAuth("GET /devices", h.devices)
	rt.HandleAuth("GET /devices/{deviceId}", h.device)
	rt.HandleAuth("PUT /devices/{deviceId}", h.updateDevice)
	rt.HandleAuth("DELETE /devices/{deviceId}", h.deleteDevice)
	rt.HandleAuth("POST /delete_devices", h.deleteDevices)

	rt.HandleAuth("GET /account/3pid", h.threepids)
	for _, p := range []string{"/account/3pid", "/account/3pid/add", "/account/3pid/bind", "/account/3pid/delete", "/account/3pid/unbind"} {
		rt.HandleAuth("POST "+p, func(w http.ResponseWriter, r *http.Request, _ clientapi.Caller) { threepidDenied(w, r) })
	}
	for _, p := range []string{"/register", "/account/password", "/account/3pid"} {
		rt.Handle("POST "+p+"/email/requestToken", threepidDenied)
		rt.Handle("POST "+p+"/msisdn/requestToken", threepidDenied)
	}
}

// optionalAuth adapts a handler for endpoints where an access token is
// optional: a request with one is authenticated (and refused if the token
// is bad); one without gets the zero Caller.
func (h *Handlers) optionalAuth(rt *clientapi.Router, next func(http.ResponseWriter, *http.Request, clientapi.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var c clientapi.Caller
		if clientapi.BearerToken(r) != "" || r.Header.Get("Authorization") != "" {
			var err error
			if c, err = rt.Authenticate(r); err != nil {
				clientapi.WriteError(w, err)
				return
			}
		}
		next(w, r, c)
	}
}

// clientIP is where a request came from: what the server put in the context
// with accounts.WithClientIP, or else the connection's address.
func clientIP(r *http.Request) string {
	if ip := accounts.ClientIP(r.Context()); ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// accountsError maps an error of core/accounts to a Matrix error; others
// pass through (and become 500).
func accountsError(err error) error {
	mx := func(status int, code string) error {
		return matrixerr.New(status, code, "%s", message(err))
	}
	switch {
	case errors.Is(err, accounts.ErrInvalidLocalpart):
		return mx(http.StatusBadRequest, matrixerr.CodeInvalidUsername)
	case errors.Is(err, accounts.ErrUserExists):
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeUserInUse, "desired user ID is already taken")
	case errors.Is(err, accounts.ErrEmptyPassword):
		return mx(http.StatusBadRequest, matrixerr.CodeMissingParam)
	case errors.Is(err, accounts.ErrPasswordTooLong), errors.Is(err, accounts.ErrInvalidDeviceID),
		errors.Is(err, accounts.ErrDeviceNameTooLong):
		return mx(http.StatusBadRequest, matrixerr.CodeInvalidParam)
	case errors.Is(err, accounts.ErrDeviceNotFound):
		return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "unknown device")
	case errors.Is(err, accounts.ErrUserDeactivated):
		return matrixerr.New(http.StatusForbidden, matrixerr.CodeUserDeactivated, "this account has been deactivated")
	case errors.Is(err, accounts.ErrUserNotFound):
		return mx(http.StatusForbidden, matrixerr.CodeForbidden)
	case errors.Is(err, accounts.ErrUnknownAccessToken):
		return matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unrecognised access token")
	case errors.Is(err, accounts.ErrBadAuth):
		return mx(http.StatusBadRequest, matrixerr.CodeBadJSON)
	case errors.Is(err, accounts.ErrUnknownSession):
		return mx(http.StatusBadRequest, matrixerr.CodeUnknown)
	case errors.Is(err, accounts.ErrSessionMismatch), errors.Is(err, accounts.ErrSessionUsed),
		errors.Is(err, accounts.ErrAuthIncomplete):
		return mx(http.StatusForbidden, matrixerr.CodeForbidden)
	}
	return err
}

// message is an error's text without the "accounts: " prefix.
func message(err error) string {
	msg := err.Error()
	const p = "accounts: "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// badRequest is a 400 with code.
func badRequest(code, format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, code, format, args...)
}

func threepidDenied(w http.ResponseWriter, _ *http.Request) {
	clientapi.WriteError(w, matrixerr.New(http.StatusForbidden, codeThreepidDenied,
		"this server does not associate email addresses or phone numbers with accounts"))
}

// empty is the {} answer.
var empty = struct{}{}
