// Package synctoken reads and writes the stream tokens that /sync and the
// room endpoints hand to clients, so that a token from either works as the
// from or to of the other: /sync's next_batch and prev_batch, /messages'
// start and end, and the tokens of /context, /members?at= and /relations.
//
// Every token names a position p in the server-wide room stream (see
// room.DAG.Position), meaning the point just after the event at p, as a
// /sync since token means "seen everything up to and including p":
// paginating backwards from it returns the event at p and older ones,
// paginating forwards returns events after p. So /sync's next_batch is
// "s<watermark>_...", and the prev_batch of a timeline whose oldest event is
// at position f is Before(f). A /sync token is "s<p>_<other streams...>",
// whose other fields belong to sync; a token of the room endpoints is
// "t<p>". The room endpoints read only p.
package synctoken

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by the errors of ParsePosition.
var ErrInvalid = errors.New("synctoken: invalid token")

// Format returns the room endpoints' token for position pos: "t<pos>".
func Format(pos uint64) string { return "t" + strconv.FormatUint(pos, 10) }

// Before returns the token for the point just before the event at stream
// position pos: backwards from it lies everything older than that event.
// It is the prev_batch of a timeline that starts with the event at pos.
func Before(pos uint64) string {
	if pos == 0 {
		return Format(0)
	}
	return Format(pos - 1)
}

// ParsePosition returns the room stream position of a /sync token
// ("s<pos>" optionally followed by "_" and fields of sync's own) or of a
// room endpoint token ("t<pos>", likewise). Anything else is an error
// wrapping ErrInvalid.
func ParsePosition(token string) (uint64, error) {
	if len(token) < 2 || (token[0] != 's' && token[0] != 't') {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, token)
	}
	digits, _, _ := strings.Cut(token[1:], "_")
	if digits == "" || digits[0] == '+' || digits[0] == '-' {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, token)
	}
	pos, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, token)
	}
	return pos, nil
}
