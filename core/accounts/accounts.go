// Package accounts keeps a homeserver's local users in a [persist.Store]:
// their passwords, devices, access tokens and profiles, the registration
// tokens that gate sign-up, and the user-interactive authentication (UIA)
// sessions that guard registration and account changes.
//
// Passwords are stored as bcrypt hashes; access tokens only as their SHA-256
// (they are long random strings, so a fast hash is enough to make a stolen
// database useless for logging in). Every value is JSON, under these keys
// (localparts and registration tokens are written as they are: both are
// restricted to printable ASCII; a localpart never contains ':', so it
// separates the localpart from a device ID):
//
//	accounts/user/<localpart>              a user: ID, bcrypt hash, admin and deactivated flags, creation time
//	accounts/token/<token>                 a registration token: uses allowed, pending and made, expiry
//	accounts/profile/<localpart>           a user's display name and avatar URL
//	accounts/device/<localpart>:<device>   a device: display name, last seen, creation time, its access token's hash
//	accounts/access/<sha256 hex>           an access token: its user and device
//	accounts/uia/<session>                 a UIA session: operation, flows, completed stages, bound user
//	accounts/uiaexp/<ms, 20 digits>/<id>   the expiry index of UIA sessions
//
// Each device has exactly one access token: logging in again with a known
// device ID replaces it, and logging out deletes the device with its token.
//
// Accounts reads the time and randomness only through the functions it is
// given, so it runs the same natively, in a browser, and under test.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"hearth/persist"
)

// Key prefixes of the records that Accounts stores.
const (
	UserPrefix      = "accounts/user/"
	TokenPrefix     = "accounts/token/"
	ProfilePrefix   = "accounts/profile/"
	DevicePrefix    = "accounts/device/"
	AccessPrefix    = "accounts/access/"
	UIAPrefix       = "accounts/uia/"
	UIAExpiryPrefix = "accounts/uiaexp/"
)

// DefaultBcryptCost is the bcrypt cost used when Config.BcryptCost is zero.
const DefaultBcryptCost = 10

// GeneratedTokenLength is the length of registration tokens that Accounts
// makes up when none is given.
const GeneratedTokenLength = 16

// Errors reported by Accounts. Callers map them to Matrix errors.
var (
	ErrUserExists      = errors.New("accounts: user ID already taken")
	ErrUserNotFound    = errors.New("accounts: no such user")
	ErrWrongPassword   = errors.New("accounts: wrong password")
	ErrPasswordTooLong = fmt.Errorf("accounts: password longer than %d bytes", MaxPasswordBytes)
	ErrEmptyPassword   = errors.New("accounts: empty password")
	ErrTokenExists     = errors.New("accounts: registration token already exists")
	ErrTokenNotFound   = errors.New("accounts: no such registration token")
	ErrTokenInvalid    = errors.New("accounts: registration token is malformed")
	ErrTokenUsedUp     = errors.New("accounts: registration token has no uses left")
	ErrTokenExpired    = errors.New("accounts: registration token has expired")
	ErrBadUses         = errors.New("accounts: uses_allowed must be zero or more")
	ErrBadLength       = fmt.Errorf("accounts: token length must be 1 to %d", MaxTokenLength)
	ErrExpiryInPast    = errors.New("accounts: expiry time is in the past")
	ErrUserDeactivated = errors.New("accounts: user is deactivated")
)

// Config configures Accounts.
type Config struct {
	// ServerName is the homeserver's name, the part after ':' in user IDs.
	ServerName string
	// Store holds the records.
	Store persist.Store
	// Now returns the current time.
	Now func() time.Time
	// Rand supplies password salts and generated tokens.
	Rand io.Reader
	// BcryptCost is the bcrypt work factor for new hashes, 4 to 31;
	// zero means DefaultBcryptCost.
	BcryptCost int
	// UIASessionLifetime is how long a user-interactive authentication
	// session stays usable after it starts; zero means
	// DefaultUIASessionLifetime.
	UIASessionLifetime time.Duration

	// OnDeviceDeleted, if set, is called after a device and its access
	// token are durably gone (logout, device deletion, password change with
	// logout_devices, deactivation), so that other areas can drop what they
	// keep per device, such as end-to-end encryption keys.
	OnDeviceDeleted func(ctx context.Context, userID, deviceID string)
	// OnDeviceUpdated, if set, is called after a device's display name has
	// durably changed, for device list updates.
	OnDeviceUpdated func(ctx context.Context, userID, deviceID string)
	// OnDeactivated, if set, is called after a user has durably been
	// deactivated (and every device deleted, each reported to
	// OnDeviceDeleted first), so that other areas can leave the user's rooms
	// and drop their data.
	OnDeactivated func(ctx context.Context, userID string)
}

// Accounts stores users, their devices, access tokens and profiles,
// registration tokens and UIA sessions. It is safe for concurrent use: every
// change is one store transaction.
type Accounts struct {
	serverName string
	store      persist.Store
	now        func() time.Time
	rand       io.Reader
	cost       int
	uiaTTL     time.Duration
	hooks      hooks
	cache      *tokenCache
}

// hooks are the Config callbacks, any of which may be nil.
type hooks struct {
	deviceDeleted func(ctx context.Context, userID, deviceID string)
	deviceUpdated func(ctx context.Context, userID, deviceID string)
	deactivated   func(ctx context.Context, userID string)
}

// New returns Accounts for cfg; all fields but BcryptCost are required.
func New(cfg Config) (*Accounts, error) {
	switch {
	case cfg.ServerName == "":
		return nil, errors.New("accounts: no server name")
	case cfg.Store == nil:
		return nil, errors.New("accounts: no store")
	case cfg.Now == nil:
		return nil, errors.New("accounts: no clock")
	case cfg.Rand == nil:
		return nil, errors.New("accounts: no random source")
	}
	cost := cfg.BcryptCost
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	if cost < 4 || cost > 31 {
		return nil, fmt.Errorf("accounts: bcrypt cost %d outside 4..31", cost)
	}
	ttl := cfg.UIASessionLifetime
	if ttl == 0 {
		ttl = DefaultUIASessionLifetime
	}
	if ttl < 0 {
		return nil, errors.New("accounts: negative UIA session lifetime")
	}
	return &Accounts{
		serverName: cfg.ServerName,
		store:      cfg.Store,
		now:        cfg.Now,
		rand:       &lockedReader{r: cfg.Rand},
		cost:       cost,
		uiaTTL:     ttl,
		hooks: hooks{
			deviceDeleted: cfg.OnDeviceDeleted,
			deviceUpdated: cfg.OnDeviceUpdated,
			deactivated:   cfg.OnDeactivated,
		},
		cache: newTokenCache(),
	}, nil
}

// ServerName returns the server name of the users Accounts keeps.
func (a *Accounts) ServerName() string { return a.serverName }

// User is a local user account.
type User struct {
	// ID is the full user ID, "@localpart:server".
	ID string `json:"user_id"`
	// PasswordHash is the bcrypt hash of the password; empty means the user
	// cannot log in with a password.
	PasswordHash string `json:"password_hash,omitempty"`
	// Admin marks server administrators.
	Admin bool `json:"admin"`
	// CreatedTS is the creation time in milliseconds since the Unix epoch.
	CreatedTS int64 `json:"creation_ts"`
	// Deactivated marks a deactivated account: it keeps its user ID, so the
	// ID is never reused, but cannot log in.
	Deactivated bool `json:"deactivated,omitempty"`
}

// NewUser describes a user to create.
type NewUser struct {
	// Localpart is the user ID's localpart; see ValidateLocalpart.
	Localpart string
	// Password is the user's password, 1 to MaxPasswordBytes bytes.
	Password string
	// Admin makes the user a server administrator.
	Admin bool
}

// CreateUser creates a user whose display name is its localpart. It fails
// with an error wrapping ErrInvalidLocalpart, ErrEmptyPassword,
// ErrPasswordTooLong or ErrUserExists when the request cannot be met.
func (a *Accounts) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	if err := ValidateLocalpart(nu.Localpart, a.serverName); err != nil {
		return User{}, err
	}
	hash, err := a.newPasswordHash(nu.Password)
	if err != nil {
		return User{}, err
	}
	u := a.newUser(nu.Localpart, hash, nu.Admin)
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		return putNewUser(tx, nu.Localpart, u)
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// newPasswordHash checks a new password and hashes it. Callers hash before
// their transaction: bcrypt is slow on purpose.
func (a *Accounts) newPasswordHash(password string) (string, error) {
	if password == "" {
		return "", ErrEmptyPassword
	}
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	return hashPassword(a.rand, []byte(password), a.cost)
}

func (a *Accounts) newUser(localpart, hash string, admin bool) User {
	return User{
		ID:           UserID(localpart, a.serverName),
		PasswordHash: hash,
		Admin:        admin,
		CreatedTS:    a.now().UnixMilli(),
	}
}

// putNewUser stores a new user and its default profile, or fails with
// ErrUserExists.
func putNewUser(tx persist.Tx, localpart string, u User) error {
	key := []byte(UserPrefix + localpart)
	if _, err := tx.Get(key); err == nil {
		return ErrUserExists
	} else if !errors.Is(err, persist.ErrNotFound) {
		return err
	}
	if err := putJSON(tx, key, u); err != nil {
		return err
	}
	return putJSON(tx, []byte(ProfilePrefix+localpart), Profile{DisplayName: localpart})
}

// localpart returns the localpart of a local user ID, or an error wrapping
// ErrUserNotFound for a malformed or remote one.
func (a *Accounts) localpart(userID string) (string, error) {
	localpart, server, err := SplitUserID(userID)
	if err != nil || server != a.serverName {
		return "", fmt.Errorf("%w: %s", ErrUserNotFound, userID)
	}
	return localpart, nil
}

// User returns the local user with the given user ID, or an error wrapping
// ErrUserNotFound.
func (a *Accounts) User(ctx context.Context, userID string) (User, error) {
	localpart, err := a.localpart(userID)
	if err != nil {
		return User{}, err
	}
	var u User
	err = a.store.View(ctx, func(tx persist.Tx) error {
		return getJSON(tx, []byte(UserPrefix+localpart), &u)
	})
	if errors.Is(err, persist.ErrNotFound) {
		return User{}, fmt.Errorf("%w: %s", ErrUserNotFound, userID)
	}
	return u, err
}

// CheckPassword returns the user if password is theirs, or an error wrapping
// ErrUserNotFound or ErrWrongPassword, or ErrUserDeactivated when the
// password is right but the account is deactivated (so that only someone who
// knows the password learns that).
func (a *Accounts) CheckPassword(ctx context.Context, userID, password string) (User, error) {
	u, err := a.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	if u.PasswordHash == "" || !checkPassword(u.PasswordHash, []byte(password)) {
		return User{}, ErrWrongPassword
	}
	if u.Deactivated {
		return User{}, ErrUserDeactivated
	}
	return u, nil
}

// Token is a registration token, with Synapse's admin API field names.
type Token struct {
	// Token is the token itself.
	Token string `json:"token"`
	// UsesAllowed is how many registrations the token allows; nil means
	// no limit.
	UsesAllowed *int `json:"uses_allowed"`
	// Pending counts registrations under way with this token.
	Pending int `json:"pending"`
	// Completed counts registrations completed with this token.
	Completed int `json:"completed"`
	// ExpiryTime is when the token stops being valid, in milliseconds since
	// the Unix epoch; nil means never.
	ExpiryTime *int64 `json:"expiry_time"`
}

// NewToken describes a registration token to create.
type NewToken struct {
	// Token is the token; empty means generate one.
	Token string
	// Length is the length of a generated token, 1 to MaxTokenLength;
	// zero means GeneratedTokenLength.
	Length int
	// UsesAllowed limits registrations; nil means no limit.
	UsesAllowed *int
	// ExpiryTime, in milliseconds since the Unix epoch, ends the token's
	// validity; nil means never.
	ExpiryTime *int64
}

// CreateToken creates a registration token. It fails with ErrTokenInvalid,
// ErrBadLength, ErrBadUses, ErrExpiryInPast or ErrTokenExists when the request
// cannot be met.
func (a *Accounts) CreateToken(ctx context.Context, nt NewToken) (Token, error) {
	if nt.UsesAllowed != nil && *nt.UsesAllowed < 0 {
		return Token{}, ErrBadUses
	}
	if nt.ExpiryTime != nil && *nt.ExpiryTime <= a.now().UnixMilli() {
		return Token{}, ErrExpiryInPast
	}
	generate := nt.Token == ""
	length := nt.Length
	if length == 0 {
		length = GeneratedTokenLength
	}
	if length < 1 || length > MaxTokenLength {
		return Token{}, ErrBadLength
	}
	if !generate && !ValidToken(nt.Token) {
		return Token{}, ErrTokenInvalid
	}
	for attempt := 0; ; attempt++ {
		tok := Token{Token: nt.Token, UsesAllowed: nt.UsesAllowed, ExpiryTime: nt.ExpiryTime}
		if generate {
			s, err := a.randomToken(length)
			if err != nil {
				return Token{}, err
			}
			tok.Token = s
		}
		key := []byte(TokenPrefix + tok.Token)
		err := a.store.Update(ctx, func(tx persist.Tx) error {
			if _, err := tx.Get(key); err == nil {
				return ErrTokenExists
			} else if !errors.Is(err, persist.ErrNotFound) {
				return err
			}
			return putJSON(tx, key, tok)
		})
		if errors.Is(err, ErrTokenExists) && generate && attempt < 3 {
			continue
		}
		if err != nil {
			return Token{}, err
		}
		return tok, nil
	}
}

// randomToken makes a registration token of n characters of [A-Za-z0-9].
func (a *Accounts) randomToken(n int) (string, error) {
	return a.randomString(n, alnum)
}

// Token returns a registration token, or an error wrapping ErrTokenNotFound.
func (a *Accounts) Token(ctx context.Context, token string) (Token, error) {
	if !ValidToken(token) {
		return Token{}, ErrTokenNotFound
	}
	var t Token
	err := a.store.View(ctx, func(tx persist.Tx) error {
		return getJSON(tx, []byte(TokenPrefix+token), &t)
	})
	if errors.Is(err, persist.ErrNotFound) {
		return Token{}, ErrTokenNotFound
	}
	return t, err
}

// Tokens returns every registration token, ordered by token.
func (a *Accounts) Tokens(ctx context.Context) ([]Token, error) {
	var out []Token
	err := a.store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: []byte(TokenPrefix)})
		defer it.Close()
		for it.Next() {
			var t Token
			if err := json.Unmarshal(it.Value(), &t); err != nil {
				return fmt.Errorf("accounts: record %q: %w", it.Key(), err)
			}
			out = append(out, t)
		}
		return it.Err()
	})
	return out, err
}

// DeleteToken removes a registration token, or reports ErrTokenNotFound.
func (a *Accounts) DeleteToken(ctx context.Context, token string) error {
	if !ValidToken(token) {
		return ErrTokenNotFound
	}
	key := []byte(TokenPrefix + token)
	return a.store.Update(ctx, func(tx persist.Tx) error {
		if _, err := tx.Get(key); errors.Is(err, persist.ErrNotFound) {
			return ErrTokenNotFound
		} else if err != nil {
			return err
		}
		return tx.Delete(key)
	})
}

// usable reports why t cannot be used for one more registration at now, or nil.
func (t Token) usable(now time.Time) error {
	if t.ExpiryTime != nil && *t.ExpiryTime <= now.UnixMilli() {
		return ErrTokenExpired
	}
	if t.UsesAllowed != nil && t.Pending+t.Completed >= *t.UsesAllowed {
		return ErrTokenUsedUp
	}
	return nil
}

// TokenValid reports whether token exists, has not expired and has uses left
// (uses reserved by UIA sessions under way count as used).
func (a *Accounts) TokenValid(ctx context.Context, token string) (bool, error) {
	if err := a.sweepSessions(ctx); err != nil {
		return false, err
	}
	t, err := a.Token(ctx, token)
	if errors.Is(err, ErrTokenNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.usable(a.now()) == nil, nil
}

// UseToken records one completed registration with token, failing with an
// error wrapping ErrTokenNotFound, ErrTokenExpired or ErrTokenUsedUp if the
// token cannot be used.
func (a *Accounts) UseToken(ctx context.Context, token string) (Token, error) {
	if !ValidToken(token) {
		return Token{}, ErrTokenNotFound
	}
	key := []byte(TokenPrefix + token)
	var t Token
	err := a.store.Update(ctx, func(tx persist.Tx) error {
		if err := getJSON(tx, key, &t); errors.Is(err, persist.ErrNotFound) {
			return ErrTokenNotFound
		} else if err != nil {
			return err
		}
		if err := t.usable(a.now()); err != nil {
			return err
		}
		t.Completed++
		return putJSON(tx, key, t)
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

func putJSON(tx persist.Tx, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Set(key, b)
}

func getJSON(tx persist.Tx, key []byte, v any) error {
	b, err := tx.Get(key)
	if err != nil {
		return err
	}
	return unmarshalRecord(key, b, v)
}

func unmarshalRecord(key, value []byte, v any) error {
	if err := json.Unmarshal(value, v); err != nil {
		return fmt.Errorf("accounts: record %q: %w", key, err)
	}
	return nil
}
