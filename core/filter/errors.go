package filter

import (
	"net/http"

	"hearth/core/matrixerr"
)

// Parse and ParseRoomEventFilter fail with a [matrixerr.Error] for a filter
// the spec does not allow: the HTTP status and Matrix errcode the
// client-server API layer answers with, and a message that is safe to show
// to the client. A JSON decoding error stays reachable through
// errors.Unwrap. Callers find it with errors.As (or pass the error to
// matrixerr.Write unchanged).

// invalidParam reports a filter field whose value the spec forbids (400
// M_INVALID_PARAM).
func invalidParam(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, format, args...)
}
