package accounts

import (
	"errors"
	"strings"
)

// Identifier types of the client API's user identifier objects.
const (
	IdentifierUser       = "m.id.user"
	IdentifierThirdParty = "m.id.thirdparty"
	IdentifierPhone      = "m.id.phone"
)

// Identifier errors.
var (
	ErrMissingIdentifier = errors.New("accounts: no user identifier given")
	ErrUnknownIdentifier = errors.New("accounts: unknown identifier type")
	// ErrUnknownThreepid reports a third-party identifier: hearth binds
	// none to accounts, so it never knows one.
	ErrUnknownThreepid = errors.New("accounts: no account has that third-party identifier")
)

// Identifier is the client API's user identifier object, as /login and the
// m.login.password stage take it.
type Identifier struct {
	Type    string `json:"type"`
	User    string `json:"user,omitempty"`
	Medium  string `json:"medium,omitempty"`
	Address string `json:"address,omitempty"`
	Country string `json:"country,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

// IdentifiedUser returns the user ID that an identifier, or failing one the
// deprecated top-level user field, names: a full user ID or a localpart,
// compared without regard to case (local user IDs are lower case). It fails
// with ErrMissingIdentifier, ErrUnknownIdentifier, ErrUnknownThreepid, or
// ErrUserNotFound for a remote or malformed user ID. It does not check that
// the user exists.
func (a *Accounts) IdentifiedUser(id *Identifier, user string) (string, error) {
	if id != nil {
		switch id.Type {
		case IdentifierUser:
			user = id.User
		case IdentifierThirdParty, IdentifierPhone:
			return "", ErrUnknownThreepid
		case "":
			return "", ErrMissingIdentifier
		default:
			return "", ErrUnknownIdentifier
		}
	}
	if user == "" {
		return "", ErrMissingIdentifier
	}
	localpart := user
	if strings.HasPrefix(user, "@") {
		l, server, err := SplitUserID(user)
		if err != nil || server != a.serverName {
			return "", wrapUserNotFound(user)
		}
		localpart = l
	}
	localpart = strings.ToLower(localpart)
	if ValidateLocalpart(localpart, a.serverName) != nil {
		return "", wrapUserNotFound(user)
	}
	return UserID(localpart, a.serverName), nil
}
