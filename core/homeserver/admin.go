package homeserver

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"hearth/core/accounts"
	"hearth/core/matrixerr"
)

// maxNonces bounds the outstanding shared-secret registration nonces.
const maxNonces = 10000

// nonceStore holds single-use registration nonces until they expire.
type nonceStore struct {
	ttl time.Duration

	mu     sync.Mutex
	expiry map[string]time.Time
}

func newNonceStore(ttl time.Duration) *nonceStore {
	return &nonceStore{ttl: ttl, expiry: map[string]time.Time{}}
}

// add remembers nonce from now on, or reports false when too many are
// outstanding.
func (n *nonceStore) add(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.expiry) >= maxNonces {
		for k, exp := range n.expiry {
			if !now.Before(exp) {
				delete(n.expiry, k)
			}
		}
		if len(n.expiry) >= maxNonces {
			return false
		}
	}
	n.expiry[nonce] = now.Add(n.ttl)
	return true
}

// take forgets nonce and reports whether it was known and unexpired.
func (n *nonceStore) take(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	exp, ok := n.expiry[nonce]
	delete(n.expiry, nonce)
	return ok && now.Before(exp)
}

// SharedSecretMAC returns the hex HMAC-SHA1 that shared-secret registration
// expects: keyed with the shared secret, over nonce, user, password and
// "admin" or "notadmin" joined by NUL bytes, followed by NUL and userType when
// userType is not empty (Synapse's admin API).
func SharedSecretMAC(secret, nonce, user, password string, admin bool, userType string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	io.WriteString(mac, nonce+"\x00"+user+"\x00"+password+"\x00")
	if admin {
		io.WriteString(mac, "admin")
	} else {
		io.WriteString(mac, "notadmin")
	}
	if userType != "" {
		io.WriteString(mac, "\x00"+userType)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

var errSharedSecretDisabled = matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "shared secret registration is not enabled")

// GET /_synapse/admin/v1/register
func (s *Server) registerNonce(w http.ResponseWriter, r *http.Request) {
	if s.cfg.RegistrationSharedSecret == "" {
		matrixerr.Write(w, errSharedSecretDisabled)
		return
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		s.log.Error("generating nonce", "err", err)
		matrixerr.Write(w, err)
		return
	}
	nonce := hex.EncodeToString(b)
	if !s.nonces.add(nonce, s.cfg.Now()) {
		matrixerr.Write(w, matrixerr.New(http.StatusTooManyRequests, matrixerr.CodeLimitExceeded, "too many outstanding registration nonces"))
		return
	}
	matrixerr.WriteJSON(w, http.StatusOK, map[string]string{"nonce": nonce})
}

// sharedSecretRequest is the body of POST /_synapse/admin/v1/register.
type sharedSecretRequest struct {
	Nonce       *string `json:"nonce"`
	Username    *string `json:"username"`
	Password    *string `json:"password"`
	Admin       bool    `json:"admin"`
	UserType    string  `json:"user_type"`
	Displayname string  `json:"displayname"`
	MAC         *string `json:"mac"`
}

// RegisterResponse is the body of a successful shared-secret registration.
type RegisterResponse struct {
	UserID     string `json:"user_id"`
	HomeServer string `json:"home_server"`
}

// POST /_synapse/admin/v1/register
func (s *Server) sharedSecretRegister(w http.ResponseWriter, r *http.Request) {
	if s.cfg.RegistrationSharedSecret == "" {
		matrixerr.Write(w, errSharedSecretDisabled)
		return
	}
	var req sharedSecretRequest
	if err := readJSON(w, r, &req); err != nil {
		matrixerr.Write(w, err)
		return
	}
	for _, f := range []struct {
		name  string
		value *string
	}{{"nonce", req.Nonce}, {"username", req.Username}, {"password", req.Password}, {"mac", req.MAC}} {
		if f.value == nil {
			matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing %s", f.name))
			return
		}
	}
	// The nonce is used up whatever happens next, as in Synapse.
	if !s.nonces.take(*req.Nonce, s.cfg.Now()) {
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "unrecognised or expired nonce"))
		return
	}
	want := SharedSecretMAC(s.cfg.RegistrationSharedSecret, *req.Nonce, *req.Username, *req.Password, req.Admin, req.UserType)
	if subtle.ConstantTimeCompare([]byte(want), []byte(*req.MAC)) != 1 {
		matrixerr.Write(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "HMAC incorrect"))
		return
	}
	if req.UserType != "" {
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "user_type %q is not supported", req.UserType))
		return
	}
	u, err := s.accounts.CreateUser(r.Context(), accounts.NewUser{Localpart: *req.Username, Password: *req.Password, Admin: req.Admin})
	if err != nil {
		matrixerr.Write(w, accountsError(err))
		return
	}
	s.log.Info("registered user via shared secret", "user_id", u.ID, "admin", u.Admin)
	matrixerr.WriteJSON(w, http.StatusOK, RegisterResponse{UserID: u.ID, HomeServer: s.cfg.ServerName})
}

// accountsError maps an error of core/accounts to a Matrix error.
func accountsError(err error) error {
	bad := func(code string) error {
		return matrixerr.New(http.StatusBadRequest, code, "%s", trimPrefix(err))
	}
	switch {
	case errors.Is(err, accounts.ErrInvalidLocalpart):
		return bad(matrixerr.CodeInvalidUsername)
	case errors.Is(err, accounts.ErrUserExists):
		return bad(matrixerr.CodeUserInUse)
	case errors.Is(err, accounts.ErrEmptyPassword), errors.Is(err, accounts.ErrPasswordTooLong),
		errors.Is(err, accounts.ErrTokenInvalid), errors.Is(err, accounts.ErrBadUses),
		errors.Is(err, accounts.ErrExpiryInPast), errors.Is(err, accounts.ErrBadLength):
		return bad(matrixerr.CodeInvalidParam)
	case errors.Is(err, accounts.ErrTokenExists):
		return bad(matrixerr.CodeInvalidParam)
	case errors.Is(err, accounts.ErrTokenNotFound), errors.Is(err, accounts.ErrUserNotFound):
		return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "%s", trimPrefix(err))
	}
	return err
}

// trimPrefix drops the "accounts: " package prefix from an error message.
func trimPrefix(err error) string {
	msg := err.Error()
	const p = "accounts: "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// requireAdmin lets a request through only if it carries the registration
// shared secret as its bearer token.
func (s *Server) requireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.RegistrationSharedSecret == "" {
			matrixerr.Write(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "the admin API is disabled: no registration shared secret is configured"))
			return
		}
		tok := bearerToken(r)
		if tok == "" {
			matrixerr.Write(w, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeMissingToken, "missing access token"))
			return
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.RegistrationSharedSecret)) != 1 {
			matrixerr.Write(w, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unrecognised access token"))
			return
		}
		next(w, r)
	}
}

// newTokenRequest is the body of POST /_synapse/admin/v1/registration_tokens/new.
type newTokenRequest struct {
	Token       string `json:"token"`
	UsesAllowed *int   `json:"uses_allowed"`
	ExpiryTime  *int64 `json:"expiry_time"`
	Length      int    `json:"length"`
}

// POST /_synapse/admin/v1/registration_tokens/new
func (s *Server) newToken(w http.ResponseWriter, r *http.Request) {
	var req newTokenRequest
	if err := readJSON(w, r, &req); err != nil {
		matrixerr.Write(w, err)
		return
	}
	if req.Token != "" && req.Length != 0 {
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "give token or length, not both"))
		return
	}
	tok, err := s.accounts.CreateToken(r.Context(), accounts.NewToken{Token: req.Token, Length: req.Length, UsesAllowed: req.UsesAllowed, ExpiryTime: req.ExpiryTime})
	if err != nil {
		matrixerr.Write(w, accountsError(err))
		return
	}
	s.log.Info("created registration token", "uses_allowed", fmtOptional(tok.UsesAllowed), "expiry_time", fmtOptional(tok.ExpiryTime))
	matrixerr.WriteJSON(w, http.StatusOK, tok)
}

func fmtOptional[T any](p *T) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

// GET /_synapse/admin/v1/registration_tokens
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := s.accounts.Tokens(r.Context())
	if err != nil {
		matrixerr.Write(w, err)
		return
	}
	if toks == nil {
		toks = []accounts.Token{}
	}
	matrixerr.WriteJSON(w, http.StatusOK, map[string][]accounts.Token{"registration_tokens": toks})
}

// GET /_synapse/admin/v1/registration_tokens/{token}
func (s *Server) getToken(w http.ResponseWriter, r *http.Request) {
	tok, err := s.accounts.Token(r.Context(), r.PathValue("token"))
	if err != nil {
		matrixerr.Write(w, accountsError(err))
		return
	}
	matrixerr.WriteJSON(w, http.StatusOK, tok)
}

// DELETE /_synapse/admin/v1/registration_tokens/{token}
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	if err := s.accounts.DeleteToken(r.Context(), r.PathValue("token")); err != nil {
		matrixerr.Write(w, accountsError(err))
		return
	}
	matrixerr.WriteJSON(w, http.StatusOK, struct{}{})
}

// GET /_matrix/client/v1/register/m.login.registration_token/validity
func (s *Server) tokenValidity(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" {
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing token"))
		return
	}
	valid, err := s.accounts.TokenValid(r.Context(), token)
	if err != nil {
		matrixerr.Write(w, err)
		return
	}
	matrixerr.WriteJSON(w, http.StatusOK, map[string]bool{"valid": valid})
}
