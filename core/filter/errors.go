package filter

import (
	"fmt"
	"net/http"
)

// Matrix error codes that Parse answers with. They are spelled out here,
// rather than imported, so that this package stays a leaf.
const (
	CodeNotJSON      = "M_NOT_JSON"
	CodeBadJSON      = "M_BAD_JSON"
	CodeInvalidParam = "M_INVALID_PARAM"
)

// Error is what Parse and ParseRoomEventFilter return for a filter the spec
// does not allow: the HTTP status and Matrix errcode the client-server API
// layer must answer with, and a message that is safe to show to the client.
// Err, when set, is the underlying cause (a JSON decoding error) and is
// reachable through errors.Unwrap; its text is already part of Message.
//
// Callers find it with errors.As and copy Status, Code and Message into the
// HTTP response unchanged.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

// Error formats the status, errcode and message for logs.
func (e *Error) Error() string {
	return fmt.Sprintf("filter: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// invalidParam reports a filter field whose value the spec forbids (400
// M_INVALID_PARAM).
func invalidParam(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidParam, Message: fmt.Sprintf(format, args...)}
}
