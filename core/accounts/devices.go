package accounts

import (
	"context"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"hearth/persist"
)

// Device limits, in bytes.
const (
	// MaxDeviceIDLength bounds client-chosen device IDs.
	MaxDeviceIDLength = 255
	// MaxDeviceDisplayNameLength bounds device display names, as Synapse
	// does.
	MaxDeviceDisplayNameLength = 100
	// GeneratedDeviceIDLength is the length of the device IDs Accounts makes
	// up: upper-case letters, as Synapse's.
	GeneratedDeviceIDLength = 10
)

// Device errors.
var (
	ErrDeviceNotFound    = errors.New("accounts: no such device")
	ErrInvalidDeviceID   = fmt.Errorf("accounts: device ID must be 1 to %d bytes of printable UTF-8", MaxDeviceIDLength)
	ErrDeviceNameTooLong = fmt.Errorf("accounts: device display name longer than %d bytes", MaxDeviceDisplayNameLength)
	errGeneratedIDInUse  = errors.New("accounts: generated ID already in use")
)

// Device is one of a user's devices (a login), with the field names of the
// client API's /devices responses.
type Device struct {
	UserID      string `json:"user_id"`
	ID          string `json:"device_id"`
	DisplayName string `json:"display_name,omitempty"`
	// LastSeenTS is when the device last used its access token, in
	// milliseconds since the Unix epoch; it lags by up to LastSeenInterval.
	LastSeenTS int64 `json:"last_seen_ts,omitempty"`
	// LastSeenIP is the address it was last seen from, when known.
	LastSeenIP string `json:"last_seen_ip,omitempty"`
	// CreatedTS is when the device was created.
	CreatedTS int64 `json:"created_ts"`
}

// deviceRecord is a device as stored: with the hash of its access token.
type deviceRecord struct {
	Device
	TokenHash string `json:"token_hash"`
}

// NewDevice describes the device a login is for.
type NewDevice struct {
	// ID is the client's device ID; empty means generate one. A known
	// device is reused, and its previous access token revoked.
	ID string
	// DisplayName names a device that the login creates; it is ignored
	// for a known device.
	DisplayName string
	// IP is where the login came from, recorded as last seen.
	IP string
}

// LoginResult is what a login gives the client.
type LoginResult struct {
	UserID      string
	DeviceID    string
	AccessToken string
}

// ValidDeviceID reports whether a client may choose id as a device ID: 1 to
// MaxDeviceIDLength bytes of UTF-8 without control characters.
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > MaxDeviceIDLength || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func (d NewDevice) check() error {
	if d.ID != "" && !ValidDeviceID(d.ID) {
		return ErrInvalidDeviceID
	}
	if len(d.DisplayName) > MaxDeviceDisplayNameLength {
		return ErrDeviceNameTooLong
	}
	return nil
}

func deviceKey(localpart, deviceID string) []byte {
	return []byte(DevicePrefix + localpart + ":" + deviceID)
}

func devicesPrefix(localpart string) []byte {
	return []byte(DevicePrefix + localpart + ":")
}

// Login checks a user's password and logs them in on a device with a new
// access token. It fails with the errors of CheckPassword and IssueLogin.
func (a *Accounts) Login(ctx context.Context, userID, password string, d NewDevice) (LoginResult, error) {
	if err := d.check(); err != nil {
		return LoginResult{}, err
	}
	if _, err := a.CheckPassword(ctx, userID, password); err != nil {
		return LoginResult{}, err
	}
	return a.IssueLogin(ctx, userID, d)
}

// IssueLogin logs in a user whom the caller has already authenticated: it
// creates the device (or reuses the known one, revoking its old access
// token) and returns a new access token. It fails with ErrUserNotFound,
// ErrUserDeactivated, ErrInvalidDeviceID or ErrDeviceNameTooLong.
func (a *Accounts) IssueLogin(ctx context.Context, userID string, d NewDevice) (LoginResult, error) {
	if err := d.check(); err != nil {
		return LoginResult{}, err
	}
	localpart, err := a.localpart(userID)
	if err != nil {
		return LoginResult{}, err
	}
	for attempt := 0; ; attempt++ {
		nl, err := a.prepareLogin(d)
		if err != nil {
			return LoginResult{}, err
		}
		var old string
		err = a.store.Update(ctx, func(tx persist.Tx) error {
			if _, err := getUser(tx, localpart, userID); err != nil {
				return err
			}
			old, err = nl.put(tx, localpart, userID)
			return err
		})
		if errors.Is(err, errGeneratedIDInUse) && attempt < 3 {
			continue
		}
		if err != nil {
			return LoginResult{}, err
		}
		a.cache.invalidate(old)
		return LoginResult{UserID: userID, DeviceID: nl.deviceID, AccessToken: nl.token}, nil
	}
}

// pendingLogin is a login whose random parts are drawn, ready to store.
type pendingLogin struct {
	deviceID    string
	generated   bool
	displayName string
	ip          string
	token       string
	now         int64
}

func (a *Accounts) prepareLogin(d NewDevice) (pendingLogin, error) {
	nl := pendingLogin{deviceID: d.ID, displayName: d.DisplayName, ip: d.IP, now: a.now().UnixMilli()}
	if nl.deviceID == "" {
		id, err := a.randomString(GeneratedDeviceIDLength, upper)
		if err != nil {
			return pendingLogin{}, err
		}
		nl.deviceID, nl.generated = id, true
	}
	tok, err := a.newAccessToken()
	if err != nil {
		return pendingLogin{}, err
	}
	nl.token = tok
	return nl, nil
}

// put stores the device and its access token, replacing a known device's
// token, whose hash it returns so that the caller can drop it from the cache.
func (nl pendingLogin) put(tx persist.Tx, localpart, userID string) (oldHash string, err error) {
	key := deviceKey(localpart, nl.deviceID)
	var rec deviceRecord
	switch err := getJSON(tx, key, &rec); {
	case err == nil && nl.generated:
		return "", errGeneratedIDInUse
	case err == nil:
		oldHash = rec.TokenHash
		if oldHash != "" {
			if err := tx.Delete(accessKey(oldHash)); err != nil {
				return "", err
			}
		}
	case errors.Is(err, persist.ErrNotFound):
		rec = deviceRecord{Device: Device{UserID: userID, ID: nl.deviceID, DisplayName: nl.displayName, CreatedTS: nl.now}}
	default:
		return "", err
	}
	h := hashAccessToken(nl.token)
	rec.TokenHash = h
	rec.LastSeenTS = nl.now
	if nl.ip != "" {
		rec.LastSeenIP = nl.ip
	}
	if err := putJSON(tx, key, rec); err != nil {
		return "", err
	}
	return oldHash, putJSON(tx, accessKey(h), accessRecord{UserID: userID, DeviceID: nl.deviceID, CreatedTS: nl.now})
}

// Devices returns a user's devices, ordered by device ID.
func (a *Accounts) Devices(ctx context.Context, userID string) ([]Device, error) {
	localpart, err := a.localpart(userID)
	if err != nil {
		return nil, err
	}
	var out []Device
	err = a.store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: devicesPrefix(localpart)})
		defer it.Close()
		for it.Next() {
			var rec deviceRecord
			if err := unmarshalRecord(it.Key(), it.Value(), &rec); err != nil {
				return err
			}
			out = append(out, rec.Device)
		}
		return it.Err()
	})
	return out, err
}

// Device returns one of a user's devices, or an error wrapping
// ErrDeviceNotFound.
func (a *Accounts) Device(ctx context.Context, userID, deviceID string) (Device, error) {
	localpart, err := a.localpart(userID)
	if err != nil {
		return Device{}, err
	}
	var rec deviceRecord
	err = a.store.View(ctx, func(tx persist.Tx) error {
		return getDevice(tx, localpart, deviceID, &rec)
	})
	return rec.Device, err
}

func getDevice(tx persist.Tx, localpart, deviceID string, rec *deviceRecord) error {
	if !ValidDeviceID(deviceID) {
		return fmt.Errorf("%w: %q", ErrDeviceNotFound, deviceID)
	}
	err := getJSON(tx, deviceKey(localpart, deviceID), rec)
	if errors.Is(err, persist.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrDeviceNotFound, deviceID)
	}
	return err
}

// SetDeviceDisplayName renames one of a user's devices ("" removes the
// name). It fails with ErrDeviceNotFound or ErrDeviceNameTooLong.
func (a *Accounts) SetDeviceDisplayName(ctx context.Context, userID, deviceID, name string) error {
	if len(name) > MaxDeviceDisplayNameLength {
		return ErrDeviceNameTooLong
	}
	localpart, err := a.localpart(userID)
	if err != nil {
		return err
	}
	changed := false
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		var rec deviceRecord
		if err := getDevice(tx, localpart, deviceID, &rec); err != nil {
			return err
		}
		if rec.DisplayName == name {
			return nil
		}
		rec.DisplayName, changed = name, true
		return putJSON(tx, deviceKey(localpart, deviceID), rec)
	})
	if err == nil && changed && a.hooks.deviceUpdated != nil {
		a.hooks.deviceUpdated(ctx, userID, deviceID)
	}
	return err
}

// DeleteDevices deletes some of a user's devices with their access tokens.
// Device IDs the user does not have are skipped, so deleting is idempotent.
func (a *Accounts) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error {
	localpart, err := a.localpart(userID)
	if err != nil {
		return err
	}
	var gone []deletedDevice
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		gone = gone[:0]
		for _, id := range deviceIDs {
			var rec deviceRecord
			err := getDevice(tx, localpart, id, &rec)
			if errors.Is(err, ErrDeviceNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := deleteDevice(tx, localpart, rec); err != nil {
				return err
			}
			gone = append(gone, deletedDevice{rec.ID, rec.TokenHash})
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.afterDeletion(ctx, userID, gone)
	return nil
}

// Logout deletes the device of an access token, and so the token. It fails
// with ErrUnknownAccessToken for a token that is not (or no longer) valid.
func (a *Accounts) Logout(ctx context.Context, accessToken string) error {
	h := hashAccessToken(accessToken)
	var (
		rec  accessRecord
		gone []deletedDevice
	)
	err := a.store.Update(ctx, func(tx persist.Tx) error {
		gone = gone[:0]
		if err := getJSON(tx, accessKey(h), &rec); errors.Is(err, persist.ErrNotFound) {
			return ErrUnknownAccessToken
		} else if err != nil {
			return err
		}
		localpart, err := a.localpart(rec.UserID)
		if err != nil {
			return err
		}
		var dev deviceRecord
		if err := getDevice(tx, localpart, rec.DeviceID, &dev); errors.Is(err, ErrDeviceNotFound) {
			// A token without its device: drop the token alone.
			gone = append(gone, deletedDevice{tokenHash: h})
			return tx.Delete(accessKey(h))
		} else if err != nil {
			return err
		}
		gone = append(gone, deletedDevice{dev.ID, dev.TokenHash})
		return deleteDevice(tx, localpart, dev)
	})
	if err != nil {
		return err
	}
	a.afterDeletion(ctx, rec.UserID, gone)
	return nil
}

// LogoutAll deletes every device of a user, and so every access token.
func (a *Accounts) LogoutAll(ctx context.Context, userID string) error {
	localpart, err := a.localpart(userID)
	if err != nil {
		return err
	}
	var gone []deletedDevice
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		var err error
		gone, err = deleteDevicesExcept(tx, localpart, "")
		return err
	})
	if err != nil {
		return err
	}
	a.afterDeletion(ctx, userID, gone)
	return nil
}

// deletedDevice is a device removed in a transaction: its ID for the
// OnDeviceDeleted hook ("" for a token without a device) and its token's
// hash for the cache.
type deletedDevice struct {
	id        string
	tokenHash string
}

func deleteDevice(tx persist.Tx, localpart string, rec deviceRecord) error {
	if rec.TokenHash != "" {
		if err := tx.Delete(accessKey(rec.TokenHash)); err != nil {
			return err
		}
	}
	return tx.Delete(deviceKey(localpart, rec.ID))
}

// deleteDevicesExcept deletes every device of a user but keep ("" keeps
// none).
func deleteDevicesExcept(tx persist.Tx, localpart, keep string) ([]deletedDevice, error) {
	var recs []deviceRecord
	it := tx.Iterate(persist.IterOptions{Prefix: devicesPrefix(localpart)})
	for it.Next() {
		var rec deviceRecord
		if err := unmarshalRecord(it.Key(), it.Value(), &rec); err != nil {
			it.Close()
			return nil, err
		}
		if keep == "" || rec.ID != keep {
			recs = append(recs, rec)
		}
	}
	err := it.Err()
	it.Close()
	if err != nil {
		return nil, err
	}
	gone := make([]deletedDevice, 0, len(recs))
	for _, rec := range recs {
		if err := deleteDevice(tx, localpart, rec); err != nil {
			return nil, err
		}
		gone = append(gone, deletedDevice{rec.ID, rec.TokenHash})
	}
	return gone, nil
}

// afterDeletion runs once deletions are durable: it forgets the tokens and
// tells the hook.
func (a *Accounts) afterDeletion(ctx context.Context, userID string, gone []deletedDevice) {
	hashes := make([]string, 0, len(gone))
	for _, d := range gone {
		hashes = append(hashes, d.tokenHash)
	}
	a.cache.invalidate(hashes...)
	if a.hooks.deviceDeleted == nil {
		return
	}
	for _, d := range gone {
		if d.id != "" {
			a.hooks.deviceDeleted(ctx, userID, d.id)
		}
	}
}
