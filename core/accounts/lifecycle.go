package accounts

import (
	"context"

	"hearth/persist"
)

// ChangePassword sets a user's password. With logoutDevices, every device
// but keepDevice (the one making the request; "" keeps none) is deleted with
// its access token, as the client API's logout_devices asks. It fails with
// ErrUserNotFound, ErrUserDeactivated, ErrEmptyPassword or
// ErrPasswordTooLong.
func (a *Accounts) ChangePassword(ctx context.Context, userID, newPassword, keepDevice string, logoutDevices bool) error {
	localpart, err := a.localpart(userID)
	if err != nil {
		return err
	}
	hash, err := a.newPasswordHash(newPassword)
	if err != nil {
		return err
	}
	var gone []deletedDevice
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		u, err := getUser(tx, localpart, userID)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := putJSON(tx, []byte(UserPrefix+localpart), u); err != nil {
			return err
		}
		gone = nil
		if logoutDevices {
			gone, err = deleteDevicesExcept(tx, localpart, keepDevice)
		}
		return err
	})
	if err != nil {
		return err
	}
	a.afterDeletion(ctx, userID, gone)
	return nil
}

// Deactivate deactivates a user for good: the account can no longer log
// in, every device and access token is deleted, and the profile is cleared
// (as Synapse does). The user ID stays taken. The OnDeviceDeleted hook hears
// of every device, then OnDeactivated of the user. Deactivating a
// deactivated user changes nothing more and succeeds; an unknown user fails
// with ErrUserNotFound.
func (a *Accounts) Deactivate(ctx context.Context, userID string) error {
	localpart, err := a.localpart(userID)
	if err != nil {
		return err
	}
	var gone []deletedDevice
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		var u User
		if err := getJSON(tx, []byte(UserPrefix+localpart), &u); err != nil {
			if isNotFound(err) {
				return wrapUserNotFound(userID)
			}
			return err
		}
		u.Deactivated = true
		if err := putJSON(tx, []byte(UserPrefix+localpart), u); err != nil {
			return err
		}
		if err := putJSON(tx, []byte(ProfilePrefix+localpart), Profile{}); err != nil {
			return err
		}
		gone, err = deleteDevicesExcept(tx, localpart, "")
		return err
	})
	if err != nil {
		return err
	}
	a.afterDeletion(ctx, userID, gone)
	if a.hooks.deactivated != nil {
		a.hooks.deactivated(ctx, userID)
	}
	return nil
}
