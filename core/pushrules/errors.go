package pushrules

import (
	"net/http"

	"hearth/core/matrixerr"
)

// Every failing operation of this package returns a [matrixerr.Error]: the
// HTTP status and Matrix errcode the client-server API layer answers with,
// and a message that is safe to show to the client. A JSON syntax error
// stays reachable through errors.Unwrap. Callers find it with errors.As (or
// pass the error to matrixerr.Write unchanged).

// notFound reports that no rule of kind has ID id (404 M_NOT_FOUND, the
// answer the spec gives for every endpoint that names a missing rule).
func notFound(kind Kind, id string) error {
	return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "push rule %s/%s was not found", kind, id)
}

// invalidParam reports a request parameter with a value the spec forbids.
func invalidParam(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, format, args...)
}

// missingParam reports a required parameter that the request left out.
func missingParam(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, format, args...)
}
