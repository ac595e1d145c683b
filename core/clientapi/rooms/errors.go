package rooms

import (
	"errors"
	"net/http"

	"hearth/core/event"
	"hearth/core/matrixerr"
	"hearth/core/room"
)

// Error codes this package answers with that matrixerr does not name.
const (
	codeRoomInUse              = "M_ROOM_IN_USE"
	codeUnsupportedRoomVersion = "M_UNSUPPORTED_ROOM_VERSION"
	codeInvalidRoomState       = "M_INVALID_ROOM_STATE"
	codeGuestAccessForbidden   = "M_GUEST_ACCESS_FORBIDDEN"
	codeBadAlias               = "M_BAD_ALIAS"
)

// nearMaxContent is the content size from which an event the room version
// refuses is taken to be too large rather than malformed: the rest of an
// event takes well under 2 KiB.
const nearMaxContent = event.MaxPDUSize - 2048

func forbidden(format string, args ...any) error {
	return matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, format, args...)
}

func notFound(format string, args ...any) error {
	return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, format, args...)
}

func invalidParam(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, format, args...)
}

func missingParam(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, format, args...)
}

func badJSON(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, format, args...)
}

func errGuest() error {
	return matrixerr.New(http.StatusForbidden, codeGuestAccessForbidden, "guest accounts may not do this")
}

// notInRoom is the answer to reading a room the user may not read, and to
// a room this server does not know: the two look alike, so that the
// answer does not reveal which rooms exist.
func notInRoom() error { return forbidden("you are not a member of this room") }

// sendError turns an error of the DAG's Send into a client error: the
// auth rules' refusal is 403 M_FORBIDDEN, an unknown room 404 M_NOT_FOUND,
// an event the room version cannot hold 400 M_BAD_JSON (or 413 M_TOO_LARGE
// when it is too big). contentLen is the size of the content the client
// gave.
func sendError(err error, contentLen int) error {
	var me matrixerr.Error
	switch {
	case errors.As(err, &me):
		return me
	case errors.Is(err, room.ErrNotAllowed):
		return forbidden("%s", trimPrefix(err))
	case errors.Is(err, room.ErrUnknownRoom):
		return notFound("unknown room")
	case errors.Is(err, event.ErrInvalid) && contentLen > nearMaxContent:
		return matrixerr.New(http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge, "event is too large")
	case errors.Is(err, event.ErrInvalid):
		return badJSON("%s", trimPrefix(err))
	}
	return err
}

// trimPrefix returns err's text for a client: the auth rules' explanation
// without the wrapping packages' prefixes.
func trimPrefix(err error) string {
	s := err.Error()
	for _, p := range []string{"room: event not allowed: ", "auth: event not allowed: ", "room: build "} {
		if len(s) >= len(p) && s[:len(p)] == p {
			s = s[len(p):]
		}
	}
	return s
}
