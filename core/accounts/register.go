package accounts

import (
	"context"
	"errors"

	"hearth/persist"
)

// GeneratedLocalpartLength is the length of the localparts Register makes up
// for clients that ask for no username.
const GeneratedLocalpartLength = 12

// Registration is a client's request for an account, once its UIA session
// is complete.
type Registration struct {
	// Localpart is the desired localpart; empty means generate one.
	Localpart string
	// Password is the account's password.
	Password string
	// Session is the completed UIA session (started with OpRegister) that
	// authorises the registration; Register consumes the registration
	// token use it reserved. Empty means the caller authorised it some
	// other way.
	Session string
	// InhibitLogin skips creating a device and access token.
	InhibitLogin bool
	// Device is the first device, unless InhibitLogin.
	Device NewDevice
}

// Register creates a user (with its default profile) and, unless
// InhibitLogin, its first device and access token, all in one transaction
// that also marks the UIA session as having registered the user. It fails
// with ErrInvalidLocalpart, ErrUserExists, ErrEmptyPassword,
// ErrPasswordTooLong, ErrInvalidDeviceID, ErrDeviceNameTooLong,
// ErrUnknownSession, ErrSessionMismatch, ErrSessionUsed or
// ErrAuthIncomplete.
func (a *Accounts) Register(ctx context.Context, r Registration) (User, LoginResult, error) {
	generate := r.Localpart == ""
	if !generate {
		if err := ValidateLocalpart(r.Localpart, a.serverName); err != nil {
			return User{}, LoginResult{}, err
		}
	}
	if err := r.Device.check(); err != nil {
		return User{}, LoginResult{}, err
	}
	hash, err := a.newPasswordHash(r.Password)
	if err != nil {
		return User{}, LoginResult{}, err
	}
	for attempt := 0; ; attempt++ {
		localpart := r.Localpart
		if generate {
			if localpart, err = a.randomString(GeneratedLocalpartLength, lowerDigit); err != nil {
				return User{}, LoginResult{}, err
			}
		}
		u := a.newUser(localpart, hash, false)
		var nl pendingLogin
		if !r.InhibitLogin {
			if nl, err = a.prepareLogin(r.Device); err != nil {
				return User{}, LoginResult{}, err
			}
		}
		err = a.store.Update(ctx, func(tx persist.Tx) error {
			var s uiaSession
			if r.Session != "" {
				if err := a.getSession(tx, r.Session, AuthRequest{Op: OpRegister}, &s); err != nil {
					return err
				}
				if s.Registered != "" {
					return ErrSessionUsed
				}
				if !s.status().Done {
					return ErrAuthIncomplete
				}
			}
			if err := putNewUser(tx, localpart, u); err != nil {
				return err
			}
			if r.Session != "" {
				if s.RegToken != "" {
					if err := releaseToken(tx, s.RegToken, true); err != nil {
						return err
					}
				}
				s.RegToken, s.Registered = "", u.ID
				if err := putJSON(tx, sessionKey(s.ID), s); err != nil {
					return err
				}
			}
			if r.InhibitLogin {
				return nil
			}
			_, err := nl.put(tx, localpart, u.ID)
			return err
		})
		if generate && errors.Is(err, ErrUserExists) && attempt < 3 {
			continue
		}
		if err != nil {
			return User{}, LoginResult{}, err
		}
		var login LoginResult
		if !r.InhibitLogin {
			login = LoginResult{UserID: u.ID, DeviceID: nl.deviceID, AccessToken: nl.token}
		}
		return u, login, nil
	}
}

// SessionRegistered returns the user that a live registration UIA session
// has registered, or "" when it has registered none (or is unknown), so
// that a retried registration can be answered before its username is found
// taken by its own first attempt.
func (a *Accounts) SessionRegistered(ctx context.Context, session string) (string, error) {
	var s uiaSession
	err := a.store.View(ctx, func(tx persist.Tx) error {
		return a.getSession(tx, session, AuthRequest{Op: OpRegister}, &s)
	})
	if errors.Is(err, ErrUnknownSession) || errors.Is(err, ErrSessionMismatch) {
		return "", nil
	}
	return s.Registered, err
}
