package pushrules

import (
	"fmt"
	"net/http"
)

// Matrix error codes the push rule endpoints answer with. They are spelled
// out here, rather than imported, so that this package stays a leaf.
const (
	CodeNotFound     = "M_NOT_FOUND"
	CodeInvalidParam = "M_INVALID_PARAM"
	CodeMissingParam = "M_MISSING_PARAM"
	CodeUnknown      = "M_UNKNOWN"
	CodeNotJSON      = "M_NOT_JSON"
	CodeBadJSON      = "M_BAD_JSON"
)

// Error is what every failing operation of this package returns: the HTTP
// status and Matrix errcode the client-server API layer must answer with, and
// a message that is safe to show to the client. Err, when set, is the
// underlying cause (for example a JSON syntax error) and is reachable through
// errors.Unwrap; its text is already part of Message.
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
	return fmt.Sprintf("pushrules: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// notFound reports that no rule of kind has ID id (404 M_NOT_FOUND, the
// answer the spec gives for every endpoint that names a missing rule).
func notFound(kind Kind, id string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: fmt.Sprintf("push rule %s/%s was not found", kind, id)}
}

// invalidParam reports a request parameter with a value the spec forbids.
func invalidParam(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidParam, Message: fmt.Sprintf(format, args...)}
}

// missingParam reports a required parameter that the request left out.
func missingParam(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeMissingParam, Message: fmt.Sprintf(format, args...)}
}
