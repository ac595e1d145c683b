package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"hearth/core/b64"
	"hearth/core/clientapi"
	"hearth/core/e2ee"
	"hearth/core/matrixerr"
)

// The one user-interactive authentication stage offered.
const stagePassword = "m.login.password"

// authDict is the auth member of a request that needs user-interactive
// authentication, for the password stage.
type authDict struct {
	Type       string `json:"type"`
	Session    string `json:"session"`
	Password   string `json:"password"`
	User       string `json:"user"` // deprecated form of identifier
	Identifier *struct {
		Type string `json:"type"`
		User string `json:"user"`
	} `json:"identifier"`
}

// uiaResponse is the 401 body that asks for (more) authentication.
type uiaResponse struct {
	Flows     []uiaFlow      `json:"flows"`
	Params    map[string]any `json:"params"`
	Session   string         `json:"session"`
	Completed []string       `json:"completed"`
	ErrCode   string         `json:"errcode,omitempty"`
	Error     string         `json:"error,omitempty"`
}

type uiaFlow struct {
	Stages []string `json:"stages"`
}

// uploadCrossSigning serves POST /keys/device_signing/upload. The first
// upload, and a retry of a successful one, need no authentication;
// replacing keys needs the user's password.
func (h *Handlers) uploadCrossSigning(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var body struct {
		e2ee.CrossSigningUpload
		Auth *authDict `json:"auth"`
	}
	if err := clientapi.ReadJSON(w, r, &body); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	authenticated := false
	if body.Auth != nil {
		if err := h.checkAuth(r, c, body.Auth); err != nil {
			if e, ok := errors.AsType[matrixerr.Error](err); ok {
				h.challenge(w, body.Auth.Session, e)
				return
			}
			clientapi.WriteError(w, err)
			return
		}
		authenticated = true
	}
	err := h.e2ee.UploadCrossSigningKeys(r.Context(), c.UserID, body.CrossSigningUpload, authenticated)
	if errors.Is(err, e2ee.ErrAuthRequired) {
		h.challenge(w, "", matrixerr.Error{})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// checkAuth checks a password stage for the caller. Client mistakes are
// matrixerr.Errors.
func (h *Handlers) checkAuth(r *http.Request, c clientapi.Caller, auth *authDict) error {
	if auth.Type != stagePassword {
		return matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnrecognized, "unsupported authentication type %q", auth.Type)
	}
	user := auth.User
	if auth.Identifier != nil {
		if auth.Identifier.Type != "m.id.user" {
			return matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnrecognized, "unsupported identifier type %q", auth.Identifier.Type)
		}
		user = auth.Identifier.User
	}
	if user != "" && user != c.UserID && user != localpart(c.UserID) {
		return matrixerr.New(http.StatusUnauthorized, matrixerr.CodeForbidden, "the password must be that of the user who is logged in")
	}
	if err := h.passwords.CheckPassword(r.Context(), c.UserID, auth.Password); err != nil {
		if _, ok := errors.AsType[matrixerr.Error](err); ok {
			return matrixerr.New(http.StatusUnauthorized, matrixerr.CodeForbidden, "invalid password")
		}
		return fmt.Errorf("keys: checking the password of %s: %w", c.UserID, err)
	}
	return nil
}

// challenge answers 401 with the flows to complete, and with why the last
// attempt failed when e has a code. session is kept when the client sent
// one, so that it may continue the same session.
func (h *Handlers) challenge(w http.ResponseWriter, session string, e matrixerr.Error) {
	if session == "" {
		var b [18]byte
		if _, err := io.ReadFull(h.rand, b[:]); err != nil {
			clientapi.WriteError(w, fmt.Errorf("keys: making a session ID: %w", err))
			return
		}
		session = b64.EncodeURL(b[:])
	}
	clientapi.WriteJSON(w, http.StatusUnauthorized, uiaResponse{
		Flows:     []uiaFlow{{Stages: []string{stagePassword}}},
		Params:    map[string]any{},
		Session:   session,
		Completed: []string{},
		ErrCode:   e.Code,
		Error:     e.Message,
	})
}

// localpart returns the localpart of "@localpart:server".
func localpart(userID string) string {
	lp, _, _ := strings.Cut(strings.TrimPrefix(userID, "@"), ":")
	return lp
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
