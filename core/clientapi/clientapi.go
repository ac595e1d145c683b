// Package clientapi is the plumbing shared by the client-server API's
// handlers: routing each endpoint under every prefix clients use,
// authenticating access tokens, and reading JSON bodies with the right
// Matrix errors. The endpoints themselves live in the sub-packages, one per
// area of the API, each registering its routes on a Router.
package clientapi

import (
	"context"
	"net/http"
	"strings"

	"hearth/core/matrixerr"
)

// Caller is who made an authenticated request.
type Caller struct {
	UserID      string
	DeviceID    string
	AccessToken string
	// IsGuest marks guest accounts, which most endpoints refuse.
	IsGuest bool
}

// Authenticator resolves access tokens. It returns a matrixerr.Error with
// M_UNKNOWN_TOKEN (401) for a token it does not know, with SoftLogout set
// where the token merely expired.
type Authenticator interface {
	Authenticate(ctx context.Context, accessToken string) (Caller, error)
}

// Router registers client-server endpoints on a ServeMux.
type Router struct {
	mux  *http.ServeMux
	auth Authenticator
}

// NewRouter returns a Router that adds routes to mux and authenticates
// with auth.
func NewRouter(mux *http.ServeMux, auth Authenticator) *Router {
	return &Router{mux: mux, auth: auth}
}

// Prefixes under which Handle registers an endpoint. Hydrogen and older
// clients still use r0 for most of the API, so every v3 endpoint is also
// served there.
var v3Prefixes = []string{"/_matrix/client/v3", "/_matrix/client/r0"}

// Handle registers h for pattern ("METHOD /path/{param}") under
// /_matrix/client/v3 and /_matrix/client/r0. The handler needs no access
// token.
func (rt *Router) Handle(pattern string, h http.HandlerFunc) {
	method, path := splitPattern(pattern)
	for _, p := range v3Prefixes {
		rt.mux.HandleFunc(method+p+path, h)
	}
}

// HandleAuth registers h like Handle, for endpoints that need an access
// token: requests without a valid one get 401 before h runs.
func (rt *Router) HandleAuth(pattern string, h func(w http.ResponseWriter, r *http.Request, c Caller)) {
	rt.Handle(pattern, rt.authenticated(h))
}

// HandleV1 registers h for pattern under /_matrix/client/v1 only, for the
// endpoints that the spec introduced there.
func (rt *Router) HandleV1(pattern string, h http.HandlerFunc) {
	method, path := splitPattern(pattern)
	rt.mux.HandleFunc(method+"/_matrix/client/v1"+path, h)
}

// HandleV1Auth is HandleV1 for endpoints that need an access token.
func (rt *Router) HandleV1Auth(pattern string, h func(w http.ResponseWriter, r *http.Request, c Caller)) {
	rt.HandleV1(pattern, rt.authenticated(h))
}

// HandleRaw registers h for a full pattern outside the client prefixes,
// such as /_matrix/media/v3/upload or /.well-known/matrix/client.
func (rt *Router) HandleRaw(pattern string, h http.HandlerFunc) { rt.mux.HandleFunc(pattern, h) }

// HandleRawAuth is HandleRaw for endpoints that need an access token.
func (rt *Router) HandleRawAuth(pattern string, h func(w http.ResponseWriter, r *http.Request, c Caller)) {
	rt.mux.HandleFunc(pattern, rt.authenticated(h))
}

// Authenticate resolves the request's access token, for handlers whose
// authentication is optional.
func (rt *Router) Authenticate(r *http.Request) (Caller, error) {
	token := BearerToken(r)
	if token == "" {
		return Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeMissingToken, "missing access token")
	}
	return rt.auth.Authenticate(r.Context(), token)
}

func (rt *Router) authenticated(h func(w http.ResponseWriter, r *http.Request, c Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := rt.Authenticate(r)
		if err != nil {
			matrixerr.Write(w, err)
			return
		}
		h(w, r, c)
	}
}

// splitPattern splits "GET /path" into "GET " and "/path".
func splitPattern(pattern string) (method, path string) {
	if m, p, ok := strings.Cut(pattern, " "); ok {
		return m + " ", p
	}
	return "", pattern
}

// BearerToken returns the request's access token, from the Authorization
// header or the deprecated access_token query parameter.
func BearerToken(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}
