package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"hearth/persist"
)

// DefaultUIASessionLifetime is how long a UIA session lasts by default.
const DefaultUIASessionLifetime = time.Hour

// The authentication stages Accounts checks.
const (
	StagePassword          = "m.login.password"
	StageDummy             = "m.login.dummy"
	StageRegistrationToken = "m.login.registration_token"
)

// OpRegister is the operation of registration sessions: Register consumes
// only sessions started for it.
const OpRegister = "register"

// UIASessionIDLength is the length of UIA session IDs.
const UIASessionIDLength = 24

// sweepBatch bounds how many expired sessions one call clears.
const sweepBatch = 32

// UIA errors. UserInteractiveAuth returns the first four as errors; the
// others, and the password and registration token errors, come in
// AuthStatus.Err as the reason an attempt at a stage failed.
var (
	ErrUnknownSession  = errors.New("accounts: unknown or expired UIA session")
	ErrSessionMismatch = errors.New("accounts: the UIA session was started for another request or user")
	ErrBadAuth         = errors.New("accounts: auth is not an object of the expected shape")
	ErrAuthIncomplete  = errors.New("accounts: the UIA session has not completed a flow")
	ErrSessionUsed     = errors.New("accounts: the UIA session already registered a user")

	ErrUnknownStage     = errors.New("accounts: unknown authentication type")
	ErrStageNotExpected = errors.New("accounts: authentication type not expected next in any flow")
	ErrMissingAuthParam = errors.New("accounts: auth lacks a required parameter")
	ErrWrongUser        = errors.New("accounts: auth is for another user than the session's")
)

// Flow is one sequence of stages that completes a UIA session, as in the
// client API's 401 responses.
type Flow struct {
	Stages []string `json:"stages"`
}

// AuthRequest is one request to an endpoint guarded by user-interactive
// authentication.
type AuthRequest struct {
	// Op names what the session authorises, such as OpRegister or
	// "delete_devices A,B": a session serves only the operation it was
	// started for.
	Op string
	// Flows are the flows offered; a session keeps those it started with.
	Flows []Flow
	// UserID is the authenticated caller; "" when the request has no access
	// token. A session started by a caller serves only that caller, with
	// its access token.
	UserID string
	// Auth is the request's auth object; nil (or JSON null) when absent.
	Auth json.RawMessage
}

// AuthStatus is the state of a UIA session after a request.
type AuthStatus struct {
	Session   string
	Flows     []Flow
	Completed []string
	// Done reports that every stage of a flow is complete: the operation
	// may go ahead.
	Done bool
	// UserID is the user the session authenticated: the caller who started
	// it, or the user an m.login.password stage proved.
	UserID string
	// Registered is the user a registration session already created, so
	// that a retry gets the same answer.
	Registered string
	// Err, when not nil, is why this request's attempt at a stage failed;
	// the client may try again.
	Err error
}

type uiaSession struct {
	ID         string   `json:"session"`
	Op         string   `json:"op"`
	Flows      []Flow   `json:"flows"`
	Completed  []string `json:"completed"`
	UserID     string   `json:"user_id,omitempty"`
	Caller     string   `json:"caller,omitempty"`
	RegToken   string   `json:"registration_token,omitempty"`
	Registered string   `json:"registered,omitempty"`
	ExpiresTS  int64    `json:"expires_ts"`
}

// authDict is the auth object with the fields of the stages Accounts checks.
type authDict struct {
	Type       string      `json:"type"`
	Session    string      `json:"session"`
	Token      string      `json:"token"`
	Password   string      `json:"password"`
	Identifier *Identifier `json:"identifier"`
	User       string      `json:"user"`
}

func (s *uiaSession) status() AuthStatus {
	st := AuthStatus{
		Session:    s.ID,
		Flows:      s.Flows,
		Completed:  slices.Clone(s.Completed),
		UserID:     s.UserID,
		Registered: s.Registered,
	}
	if st.Completed == nil {
		st.Completed = []string{}
	}
	for _, f := range s.Flows {
		if slices.Equal(f.Stages, s.Completed) {
			st.Done = true
		}
	}
	return st
}

// expects reports whether stage is the next stage of a flow whose earlier
// stages are all complete.
func (s *uiaSession) expects(stage string) bool {
	n := len(s.Completed)
	for _, f := range s.Flows {
		if len(f.Stages) > n && slices.Equal(f.Stages[:n], s.Completed) && f.Stages[n] == stage {
			return true
		}
	}
	return false
}

func sessionKey(id string) []byte { return []byte(UIAPrefix + id) }

func sessionExpiryKey(expires int64, id string) []byte {
	return fmt.Appendf(nil, "%s%020d/%s", UIAExpiryPrefix, expires, id)
}

// UserInteractiveAuth runs one step of user-interactive authentication:
// without auth it starts a session; with auth it checks the attempted stage
// (m.login.dummy, m.login.registration_token or m.login.password) and
// records it as complete. An auth object without a session starts one and
// checks its stage in it, as Synapse allows; one without a type only reports
// the session's state. A completed registration token stage reserves one use
// of the token (Token.Pending) until Register consumes it or the session
// expires.
//
// It fails with ErrBadAuth, ErrUnknownSession or ErrSessionMismatch for a
// request the client must not simply retry; a failed stage is reported in
// AuthStatus.Err instead.
func (a *Accounts) UserInteractiveAuth(ctx context.Context, req AuthRequest) (AuthStatus, error) {
	if len(req.Flows) == 0 {
		return AuthStatus{}, errors.New("accounts: UIA request offers no flows")
	}
	if err := a.sweepSessions(ctx); err != nil {
		return AuthStatus{}, err
	}
	var d authDict
	absent := len(bytes.TrimSpace(req.Auth)) == 0 || bytes.Equal(bytes.TrimSpace(req.Auth), []byte("null"))
	if !absent {
		if err := json.Unmarshal(req.Auth, &d); err != nil {
			return AuthStatus{}, fmt.Errorf("%w: %v", ErrBadAuth, err)
		}
	}
	var s uiaSession
	if d.Session == "" {
		var err error
		if s, err = a.startSession(ctx, req); err != nil {
			return AuthStatus{}, err
		}
	} else {
		if err := a.store.View(ctx, func(tx persist.Tx) error {
			return a.getSession(tx, d.Session, req, &s)
		}); err != nil {
			return AuthStatus{}, err
		}
	}
	if d.Type == "" || s.Registered != "" || s.status().Done || slices.Contains(s.Completed, d.Type) {
		return s.status(), nil
	}
	switch d.Type {
	case StageDummy, StageRegistrationToken, StagePassword:
	default:
		return failed(s, fmt.Errorf("%w: %q", ErrUnknownStage, d.Type)), nil
	}
	if !s.expects(d.Type) {
		return failed(s, fmt.Errorf("%w: %q", ErrStageNotExpected, d.Type)), nil
	}
	switch d.Type {
	case StageDummy:
		return a.completeStage(ctx, s, req, d.Type, nil)
	case StageRegistrationToken:
		return a.registrationTokenStage(ctx, s, req, d)
	default:
		return a.passwordStage(ctx, s, req, d)
	}
}

func failed(s uiaSession, err error) AuthStatus {
	st := s.status()
	st.Err = err
	return st
}

func (a *Accounts) startSession(ctx context.Context, req AuthRequest) (uiaSession, error) {
	id, err := a.randomString(UIASessionIDLength, alnum)
	if err != nil {
		return uiaSession{}, err
	}
	s := uiaSession{
		ID:        id,
		Op:        req.Op,
		Flows:     req.Flows,
		Completed: []string{},
		UserID:    req.UserID,
		Caller:    req.UserID,
		ExpiresTS: a.now().Add(a.uiaTTL).UnixMilli(),
	}
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		if err := putJSON(tx, sessionKey(id), s); err != nil {
			return err
		}
		return tx.Set(sessionExpiryKey(s.ExpiresTS, id), nil)
	})
	return s, err
}

// getSession reads a live session and checks that it serves req.
func (a *Accounts) getSession(tx persist.Tx, id string, req AuthRequest, s *uiaSession) error {
	if len(id) > 255 {
		return ErrUnknownSession
	}
	err := getJSON(tx, sessionKey(id), s)
	if isNotFound(err) || (err == nil && s.ExpiresTS <= a.now().UnixMilli()) {
		return ErrUnknownSession
	}
	if err != nil {
		return err
	}
	if s.Op != req.Op {
		return ErrSessionMismatch
	}
	// A session started with an access token serves only that caller; one
	// started without serves anyone until a stage proves a user, then only
	// requests without a token or with that user's.
	if s.Caller != "" && req.UserID != s.Caller {
		return ErrSessionMismatch
	}
	if req.UserID != "" && s.UserID != "" && req.UserID != s.UserID {
		return ErrSessionMismatch
	}
	return nil
}

// completeStage records stage as complete, re-reading the session in the
// transaction so that concurrent requests do not lose each other's stages.
// extra, if set, runs in the same transaction; an error it returns that
// stageError recognises fails the stage rather than the request.
func (a *Accounts) completeStage(ctx context.Context, s uiaSession, req AuthRequest, stage string, extra func(tx persist.Tx, s *uiaSession) error) (AuthStatus, error) {
	var stageErr error
	err := a.store.Update(ctx, func(tx persist.Tx) error {
		stageErr = nil
		if err := a.getSession(tx, s.ID, req, &s); err != nil {
			return err
		}
		if slices.Contains(s.Completed, stage) || s.status().Done {
			return nil
		}
		if !s.expects(stage) {
			stageErr = fmt.Errorf("%w: %q", ErrStageNotExpected, stage)
			return nil
		}
		if extra != nil {
			if err := extra(tx, &s); err != nil {
				if isStageError(err) {
					stageErr = err
					return nil
				}
				return err
			}
		}
		s.Completed = append(s.Completed, stage)
		return putJSON(tx, sessionKey(s.ID), s)
	})
	if err != nil {
		return AuthStatus{}, err
	}
	if stageErr != nil {
		return failed(s, stageErr), nil
	}
	return s.status(), nil
}

// isStageError reports errors that fail an attempt at a stage.
func isStageError(err error) bool {
	for _, e := range []error{ErrTokenNotFound, ErrTokenExpired, ErrTokenUsedUp, ErrWrongUser, ErrUserDeactivated, ErrUserNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (a *Accounts) registrationTokenStage(ctx context.Context, s uiaSession, req AuthRequest, d authDict) (AuthStatus, error) {
	if d.Token == "" {
		return failed(s, fmt.Errorf("%w: token", ErrMissingAuthParam)), nil
	}
	if !ValidToken(d.Token) {
		return failed(s, ErrTokenNotFound), nil
	}
	return a.completeStage(ctx, s, req, StageRegistrationToken, func(tx persist.Tx, s *uiaSession) error {
		key := []byte(TokenPrefix + d.Token)
		var t Token
		if err := getJSON(tx, key, &t); isNotFound(err) {
			return ErrTokenNotFound
		} else if err != nil {
			return err
		}
		if err := t.usable(a.now()); err != nil {
			return err
		}
		t.Pending++
		s.RegToken = d.Token
		return putJSON(tx, key, t)
	})
}

func (a *Accounts) passwordStage(ctx context.Context, s uiaSession, req AuthRequest, d authDict) (AuthStatus, error) {
	userID, err := a.IdentifiedUser(d.Identifier, d.User)
	if err != nil {
		return failed(s, err), nil
	}
	if d.Password == "" {
		return failed(s, fmt.Errorf("%w: password", ErrMissingAuthParam)), nil
	}
	if s.UserID != "" && s.UserID != userID {
		return failed(s, ErrWrongUser), nil
	}
	// bcrypt runs outside the transaction: it is slow on purpose.
	if _, err := a.CheckPassword(ctx, userID, d.Password); err != nil {
		if errors.Is(err, ErrUserNotFound) || errors.Is(err, ErrWrongPassword) || errors.Is(err, ErrUserDeactivated) {
			return failed(s, err), nil
		}
		return AuthStatus{}, err
	}
	return a.completeStage(ctx, s, req, StagePassword, func(tx persist.Tx, s *uiaSession) error {
		if s.UserID != "" && s.UserID != userID {
			return ErrWrongUser
		}
		s.UserID = userID
		return nil
	})
}

// sweepSessions deletes a batch of expired sessions, giving back the token
// uses that their registration token stages reserved.
func (a *Accounts) sweepSessions(ctx context.Context) error {
	now := a.now().UnixMilli()
	end := sessionExpiryKey(now+1, "")
	var keys [][]byte
	err := a.store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: []byte(UIAExpiryPrefix), End: end, KeysOnly: true})
		defer it.Close()
		for len(keys) < sweepBatch && it.Next() {
			keys = append(keys, bytes.Clone(it.Key()))
		}
		return it.Err()
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return a.store.Update(ctx, func(tx persist.Tx) error {
		for _, k := range keys {
			id := string(k[strings.LastIndexByte(string(k), '/')+1:])
			var s uiaSession
			err := getJSON(tx, sessionKey(id), &s)
			if err != nil && !isNotFound(err) {
				return err
			}
			if err == nil && s.RegToken != "" {
				if err := releaseToken(tx, s.RegToken, false); err != nil {
					return err
				}
			}
			if err := tx.Delete(sessionKey(id)); err != nil {
				return err
			}
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// releaseToken ends a registration token reservation: the pending use
// becomes a completed one if completed, or is given back. A token deleted
// meanwhile is left alone.
func releaseToken(tx persist.Tx, token string, completed bool) error {
	key := []byte(TokenPrefix + token)
	var t Token
	if err := getJSON(tx, key, &t); isNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if t.Pending > 0 {
		t.Pending--
	}
	if completed {
		t.Completed++
	}
	return putJSON(tx, key, t)
}
