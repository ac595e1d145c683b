// Package matrixerr writes the JSON error bodies that the Matrix APIs return:
// {"errcode":"M_FORBIDDEN","error":"..."} with a matching HTTP status.
//
// Handlers return or build an [Error] and hand it to [Write]; any other error
// becomes a 500 M_UNKNOWN whose text is not shown to the client.
package matrixerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error codes from the Matrix specification used across hearth.
const (
	CodeUnknown         = "M_UNKNOWN"
	CodeUnrecognized    = "M_UNRECOGNIZED"
	CodeForbidden       = "M_FORBIDDEN"
	CodeNotFound        = "M_NOT_FOUND"
	CodeNotJSON         = "M_NOT_JSON"
	CodeBadJSON         = "M_BAD_JSON"
	CodeMissingParam    = "M_MISSING_PARAM"
	CodeInvalidParam    = "M_INVALID_PARAM"
	CodeInvalidUsername = "M_INVALID_USERNAME"
	CodeUserInUse       = "M_USER_IN_USE"
	CodeLimitExceeded   = "M_LIMIT_EXCEEDED"
	CodeMissingToken    = "M_MISSING_TOKEN"
	CodeUnknownToken    = "M_UNKNOWN_TOKEN"
	CodeTooLarge        = "M_TOO_LARGE"
	CodeWeakPassword    = "M_WEAK_PASSWORD"
	CodeUserDeactivated = "M_USER_DEACTIVATED"
	CodeThreepidInUse   = "M_THREEPID_IN_USE"
	CodeExclusive       = "M_EXCLUSIVE"
)

// Error is a Matrix API error: an HTTP status, an errcode and a human-readable
// message. RetryAfterMS, when positive, is sent as retry_after_ms (used with
// M_LIMIT_EXCEEDED); SoftLogout is sent as soft_logout (with
// M_UNKNOWN_TOKEN, when the client may log in again without losing its
// device).
type Error struct {
	Status       int
	Code         string
	Message      string
	RetryAfterMS int64
	SoftLogout   bool
}

// New returns an Error with the given status, errcode and formatted message.
func New(status int, code, format string, args ...any) Error {
	return Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error implements the error interface.
func (e Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// body is the JSON shape of an Error.
type body struct {
	Code         string `json:"errcode"`
	Message      string `json:"error"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	SoftLogout   bool   `json:"soft_logout,omitempty"`
}

// MarshalJSON encodes e as a Matrix error body.
func (e Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(body{Code: e.Code, Message: e.Message, RetryAfterMS: e.RetryAfterMS, SoftLogout: e.SoftLogout})
}

// As reports err as an Error: the Error inside err's chain if there is one,
// otherwise a 500 M_UNKNOWN that hides err's text.
func As(err error) Error {
	var e Error
	if errors.As(err, &e) {
		if e.Status == 0 {
			e.Status = http.StatusInternalServerError
		}
		if e.Code == "" {
			e.Code = CodeUnknown
		}
		return e
	}
	return Error{Status: http.StatusInternalServerError, Code: CodeUnknown, Message: "internal server error"}
}

// Write sends err to w as a Matrix error (see [As]).
func Write(w http.ResponseWriter, err error) {
	e := As(err)
	WriteJSON(w, e.Status, e)
}

// WriteJSON sends v as a JSON response with the given status. It sends the
// body's length too, so that a large answer (a /sync) is not sent in
// chunks.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errcode":"M_UNKNOWN","error":"internal server error"}`)
	}
	WriteJSONBody(w, status, b)
}

// WriteJSONBody sends body, a JSON document that is already encoded, with
// the given status, the Content-Type and the Content-Length, as [WriteJSON]
// does. It does not check body. Like any io.Writer, w must not keep body
// once its Write returns, so the caller may reuse body after
// WriteJSONBody.
func WriteJSONBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
