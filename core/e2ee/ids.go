package e2ee

import (
	"net/http"
	"strings"

	"hearth/core/matrixerr"
	"hearth/core/mxid"
)

// MaxIDLength bounds every name the service puts in a key: user, device,
// room and session IDs, algorithms and key IDs. The spec caps user and room
// IDs at 255 bytes; the bound keeps the longest composite key well under
// persist.MaxKeySize.
const MaxIDLength = 255

// validName reports whether s may be stored as one part of a key.
func validName(s string) bool {
	return s != "" && len(s) <= MaxIDLength && !strings.ContainsRune(s, 0)
}

// serverOf returns the server name of a user ID "@localpart:server", or ""
// when userID is not one.
func serverOf(userID string) string {
	if !strings.HasPrefix(userID, "@") {
		return ""
	}
	return mxid.ServerOf(userID)
}

// validUserID reports whether userID looks like "@localpart:server" and
// fits in a key.
func validUserID(userID string) bool {
	return validName(userID) && serverOf(userID) != "" && len(userID) > 2 && userID[1] != ':'
}

// isLocal reports whether userID belongs to this server.
func (s *Service) isLocal(userID string) bool { return serverOf(userID) == s.serverName }

func invalidParam(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, format, args...)
}

func badJSON(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, format, args...)
}

// checkUserID returns M_INVALID_PARAM for a user ID the service cannot
// store.
func checkUserID(userID string) error {
	if !validUserID(userID) {
		return invalidParam("invalid user ID %q", userID)
	}
	return nil
}

// forbidden builds a 403 M_FORBIDDEN.
func forbidden(format string, args ...any) error {
	return matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, format, args...)
}

// notFound builds a 404 M_NOT_FOUND.
func notFound(format string, args ...any) error {
	return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, format, args...)
}
