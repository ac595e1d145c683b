// Package accounts keeps a homeserver's local users and its registration
// tokens in a [persist.Store].
//
// Passwords are stored as bcrypt hashes. Every value is JSON, under these keys
// (localparts and tokens are written as they are: both are restricted to
// printable ASCII and always end the key):
//
//	accounts/user/<localpart>   a user: ID, bcrypt hash, admin flag, creation time
//	accounts/token/<token>      a registration token: uses allowed and made, expiry
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
	UserPrefix  = "accounts/user/"
	TokenPrefix = "accounts/token/"
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
}

// Accounts stores users and registration tokens. It is safe for concurrent
// use: every operation is one store transaction.
type Accounts struct {
	serverName string
	store      persist.Store
	now        func() time.Time
	rand       io.Reader
	cost       int
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
	return &Accounts{serverName: cfg.ServerName, store: cfg.Store, now: cfg.Now, rand: cfg.Rand, cost: cost}, nil
}

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

// CreateUser creates a user. It fails with an error wrapping
// ErrInvalidLocalpart, ErrEmptyPassword, ErrPasswordTooLong or ErrUserExists
// when the request cannot be met.
func (a *Accounts) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	if err := ValidateLocalpart(nu.Localpart, a.serverName); err != nil {
		return User{}, err
	}
	if nu.Password == "" {
		return User{}, ErrEmptyPassword
	}
	if len(nu.Password) > MaxPasswordBytes {
		return User{}, ErrPasswordTooLong
	}
	// Hash before the transaction: bcrypt is slow on purpose.
	hash, err := hashPassword(a.rand, []byte(nu.Password), a.cost)
	if err != nil {
		return User{}, err
	}
	u := User{
		ID:           UserID(nu.Localpart, a.serverName),
		PasswordHash: hash,
		Admin:        nu.Admin,
		CreatedTS:    a.now().UnixMilli(),
	}
	key := []byte(UserPrefix + nu.Localpart)
	err = a.store.Update(ctx, func(tx persist.Tx) error {
		if _, err := tx.Get(key); err == nil {
			return ErrUserExists
		} else if !errors.Is(err, persist.ErrNotFound) {
			return err
		}
		return putJSON(tx, key, u)
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// User returns the local user with the given user ID, or an error wrapping
// ErrUserNotFound.
func (a *Accounts) User(ctx context.Context, userID string) (User, error) {
	localpart, server, err := SplitUserID(userID)
	if err != nil || server != a.serverName {
		return User{}, fmt.Errorf("%w: %s", ErrUserNotFound, userID)
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
// ErrUserNotFound or ErrWrongPassword.
func (a *Accounts) CheckPassword(ctx context.Context, userID, password string) (User, error) {
	u, err := a.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	if u.PasswordHash == "" || !checkPassword(u.PasswordHash, []byte(password)) {
		return User{}, ErrWrongPassword
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

// randomToken makes a token of n characters of [A-Za-z0-9].
func (a *Accounts) randomToken(n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		// Rejection sampling keeps the characters uniform: 248 = 4*62.
		for {
			var c [1]byte
			if _, err := io.ReadFull(a.rand, c[:]); err != nil {
				return "", fmt.Errorf("accounts: generating token: %w", err)
			}
			if c[0] < 248 {
				b[i] = alphabet[int(c[0])%len(alphabet)]
				break
			}
		}
	}
	return string(b), nil
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

// TokenValid reports whether token exists, has not expired and has uses left.
func (a *Accounts) TokenValid(ctx context.Context, token string) (bool, error) {
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
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("accounts: record %q: %w", key, err)
	}
	return nil
}
