package accounts

import (
	"context"
	"errors"
	"fmt"

	"hearth/persist"
)

// Profile limits, in bytes, as Synapse enforces them.
const (
	MaxDisplayNameLength = 256
	MaxAvatarURLLength   = 1000
)

// ErrProfileTooLong reports a display name or avatar URL over its limit.
var ErrProfileTooLong = errors.New("accounts: profile field too long")

// Profile is a user's global profile, with the field names of the client
// API's /profile responses. Empty fields are unset.
type Profile struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// Profile returns a local user's profile, or an error wrapping
// ErrUserNotFound. Registration sets the display name to the localpart;
// deactivation clears both fields.
func (a *Accounts) Profile(ctx context.Context, userID string) (Profile, error) {
	localpart, err := a.localpart(userID)
	if err != nil {
		return Profile{}, err
	}
	var p Profile
	err = a.store.View(ctx, func(tx persist.Tx) error {
		if _, err := tx.Get([]byte(UserPrefix + localpart)); errors.Is(err, persist.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrUserNotFound, userID)
		} else if err != nil {
			return err
		}
		err := getJSON(tx, []byte(ProfilePrefix+localpart), &p)
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		return err
	})
	return p, err
}

// SetDisplayName sets (or, with "", removes) a user's display name. It fails
// with ErrUserNotFound, ErrUserDeactivated or ErrProfileTooLong. Changing
// the membership events of the user's rooms is the caller's business.
func (a *Accounts) SetDisplayName(ctx context.Context, userID, name string) error {
	if len(name) > MaxDisplayNameLength {
		return fmt.Errorf("%w: display name over %d bytes", ErrProfileTooLong, MaxDisplayNameLength)
	}
	return a.updateProfile(ctx, userID, func(p *Profile) { p.DisplayName = name })
}

// SetAvatarURL sets (or, with "", removes) a user's avatar URL, like
// SetDisplayName.
func (a *Accounts) SetAvatarURL(ctx context.Context, userID, url string) error {
	if len(url) > MaxAvatarURLLength {
		return fmt.Errorf("%w: avatar URL over %d bytes", ErrProfileTooLong, MaxAvatarURLLength)
	}
	return a.updateProfile(ctx, userID, func(p *Profile) { p.AvatarURL = url })
}

func (a *Accounts) updateProfile(ctx context.Context, userID string, change func(*Profile)) error {
	localpart, err := a.localpart(userID)
	if err != nil {
		return err
	}
	return a.store.Update(ctx, func(tx persist.Tx) error {
		if _, err := getUser(tx, localpart, userID); err != nil {
			return err
		}
		key := []byte(ProfilePrefix + localpart)
		var p Profile
		if err := getJSON(tx, key, &p); err != nil && !errors.Is(err, persist.ErrNotFound) {
			return err
		}
		change(&p)
		return putJSON(tx, key, p)
	})
}

func isNotFound(err error) bool { return errors.Is(err, persist.ErrNotFound) }

func wrapUserNotFound(userID string) error { return fmt.Errorf("%w: %s", ErrUserNotFound, userID) }

// getUser reads a user that must exist and be active, failing with
// ErrUserNotFound or ErrUserDeactivated.
func getUser(tx persist.Tx, localpart, userID string) (User, error) {
	var u User
	if err := getJSON(tx, []byte(UserPrefix+localpart), &u); errors.Is(err, persist.ErrNotFound) {
		return User{}, fmt.Errorf("%w: %s", ErrUserNotFound, userID)
	} else if err != nil {
		return User{}, err
	}
	if u.Deactivated {
		return User{}, fmt.Errorf("%w: %s", ErrUserDeactivated, userID)
	}
	return u, nil
}
