package clientapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"hearth/core/matrixerr"
)

// MaxJSONBody bounds the JSON request bodies handlers read. Events are at
// most 64 KiB, and few other bodies come close.
const MaxJSONBody = 128 << 10

// ReadJSON decodes the request body, one JSON object of at most
// MaxJSONBody bytes, into v. Failures are Matrix errors: M_TOO_LARGE (413),
// M_NOT_JSON (400) for text that is not JSON, M_BAD_JSON (400) for JSON of
// the wrong shape.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := ReadJSONBody(w, r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "field %q has the wrong type", typeErr.Field)
		}
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "request body does not match the expected shape")
	}
	return nil
}

// ReadJSONBody returns the request body after checking that it is one JSON
// object of at most MaxJSONBody bytes, for handlers that keep the raw
// bytes, such as event content. An empty body reads as {}.
func ReadJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, matrixerr.New(http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge, "request body is larger than %d bytes", MaxJSONBody)
		}
		return nil, matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "reading request body: %v", err)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return []byte("{}"), nil
	}
	if !json.Valid(trimmed) {
		return nil, matrixerr.New(http.StatusBadRequest, matrixerr.CodeNotJSON, "request body is not valid JSON")
	}
	if trimmed[0] != '{' {
		return nil, matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "request body must be a JSON object")
	}
	return trimmed, nil
}

// WriteJSON sends v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) { matrixerr.WriteJSON(w, status, v) }

// WriteJSONBody sends body, an already encoded JSON document, as a response
// with the given status (see [matrixerr.WriteJSONBody]).
func WriteJSONBody(w http.ResponseWriter, status int, body []byte) {
	matrixerr.WriteJSONBody(w, status, body)
}

// WriteError sends err as a Matrix error; errors that are not
// matrixerr.Error become 500 M_UNKNOWN.
func WriteError(w http.ResponseWriter, err error) { matrixerr.Write(w, err) }

// QueryInt reads an optional non-negative integer query parameter, with def
// when absent, and M_INVALID_PARAM (400) when malformed.
func QueryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "query parameter %s must be a non-negative integer", name)
	}
	return n, nil
}
