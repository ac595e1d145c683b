package accounts

import (
	"errors"
	"fmt"
	"hearth/core/mxid"
	"strings"
)

// MaxUserIDLength is the longest user ID, sigil and server name included,
// that the specification allows (in bytes).
const MaxUserIDLength = mxid.MaxIDLength

// MaxTokenLength is the longest registration token accepted, as in Synapse.
const MaxTokenLength = 64

// ErrInvalidLocalpart is wrapped by the errors of [ValidateLocalpart].
var ErrInvalidLocalpart = errors.New("invalid localpart")

// ValidateLocalpart checks a user ID localpart against the specification's
// rules for new users: at least one character, only a-z, 0-9, '.', '_', '=',
// '-', '/' and '+', and a whole user ID "@localpart:server" no longer than
// [MaxUserIDLength] bytes.
func ValidateLocalpart(localpart, serverName string) error {
	if localpart == "" {
		return fmt.Errorf("%w: empty", ErrInvalidLocalpart)
	}
	if !mxid.ValidLocalpart(localpart) {
		return fmt.Errorf("%w: %q may only contain a-z, 0-9, and . _ = - / +", ErrInvalidLocalpart, localpart)
	}
	if n := len(UserID(localpart, serverName)); n > MaxUserIDLength {
		return fmt.Errorf("%w: the user ID would be %d bytes long, more than %d", ErrInvalidLocalpart, n, MaxUserIDLength)
	}
	return nil
}

// UserID returns the user ID "@localpart:serverName".
func UserID(localpart, serverName string) string { return mxid.UserID(localpart, serverName) }

// SplitUserID returns the localpart and server name of a user ID
// "@localpart:server". The server name is everything after the first colon,
// so it may carry a port.
func SplitUserID(userID string) (localpart, serverName string, err error) {
	if !strings.HasPrefix(userID, "@") {
		return "", "", fmt.Errorf("user ID %q does not start with @", userID)
	}
	localpart, serverName, ok := mxid.Split(userID, '@')
	if !ok {
		return "", "", fmt.Errorf("user ID %q is not @localpart:server", userID)
	}
	return localpart, serverName, nil
}

// ValidToken reports whether s may be a registration token: 1 to
// [MaxTokenLength] characters from A-Z, a-z, 0-9, '.', '_', '~' and '-'
// (the URL-safe unreserved set, as Synapse requires).
func ValidToken(s string) bool {
	if s == "" || len(s) > MaxTokenLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return false
		}
	}
	return true
}

func tokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '.' || c == '_' || c == '~' || c == '-'
}
