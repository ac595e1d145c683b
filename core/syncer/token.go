package syncer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadToken is wrapped by ParseToken's errors: the since parameter is not a
// token this server hands out.
var ErrBadToken = errors.New("syncer: bad sync token")

// Token is a position in every stream /sync reads: what a client has seen.
// Its string form is "s" followed by the positions joined with "_" in field
// order, e.g. "s42_3_0_7_1_0_2". The last position, RemoteInvites, is
// written only when it is not 0 ("s42_3_0_7_1_0_2_5"), so tokens from
// before it existed stay valid and every token keeps one spelling.
type Token struct {
	// Rooms is the room DAG's stream position.
	Rooms       uint64
	AccountData uint64
	ToDevice    uint64
	DeviceKeys  uint64
	Receipts    uint64
	// Typing restarts at 0 with the server: a token whose typing position is
	// above the current one means "send the current typers".
	Typing   uint64
	Presence uint64
	// RemoteInvites is the position of the RemoteInvites source.
	RemoteInvites uint64
}

// tokenParts is the number of positions in a token; the last is optional.
const tokenParts = 8

// fields returns pointers to the positions in string order.
func (t *Token) fields() [tokenParts]*uint64 {
	return [tokenParts]*uint64{&t.Rooms, &t.AccountData, &t.ToDevice, &t.DeviceKeys, &t.Receipts, &t.Typing, &t.Presence, &t.RemoteInvites}
}

// String returns the token's wire form.
func (t Token) String() string {
	b := make([]byte, 0, 32)
	b = append(b, 's')
	for i, p := range t.fields() {
		if i == tokenParts-1 && *p == 0 {
			break
		}
		if i > 0 {
			b = append(b, '_')
		}
		b = strconv.AppendUint(b, *p, 10)
	}
	return string(b)
}

// ParseToken reads a token in the form String writes. Its errors wrap
// ErrBadToken.
func ParseToken(s string) (Token, error) {
	var t Token
	rest, ok := strings.CutPrefix(s, "s")
	if !ok {
		return t, fmt.Errorf("%w: %q does not start with \"s\"", ErrBadToken, s)
	}
	parts := strings.Split(rest, "_")
	if len(parts) != tokenParts && len(parts) != tokenParts-1 {
		return t, fmt.Errorf("%w: %q has %d positions, want %d or %d", ErrBadToken, s, len(parts), tokenParts-1, tokenParts)
	}
	if len(parts) == tokenParts && parts[tokenParts-1] == "0" {
		return t, fmt.Errorf("%w: %q spells out a last position of 0", ErrBadToken, s)
	}
	fields := t.fields()
	for i, p := range fields[:len(parts)] {
		// ParseUint accepts only decimal digits here (no sign, no base
		// prefix with base 10), so every token has one spelling.
		n, err := strconv.ParseUint(parts[i], 10, 64)
		if err != nil || (len(parts[i]) > 1 && parts[i][0] == '0') {
			return t, fmt.Errorf("%w: position %d of %q is not a number", ErrBadToken, i+1, s)
		}
		*p = n
	}
	return t, nil
}
