// Package fedauth authenticates inbound federation requests (server-server
// spec, "Request Authentication"): the X-Matrix Authorization header names
// the origin server, its key and a signature over the method, target,
// origin, destination and body, which is checked with the origin's key from
// the key ring. Handlers behind the middleware read the authenticated origin
// with Origin and check room server ACLs with CheckACL.
package fedauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"hearth/core/matrixerr"
	"hearth/core/xmatrix"
)

// DefaultMaxBodySize bounds request bodies read for verification. The
// largest federation request is a transaction: 50 PDUs of at most 64 KiB
// each (3.2 MiB) plus up to 100 EDUs, whose size the spec does not bound
// (to-device EDUs carry many encrypted messages); 16 MiB leaves room for
// both while bounding the memory one request can take.
const DefaultMaxBodySize = 16 << 20

// KeyFetcher finds the key that checks a request signature; *keyring.Ring
// implements it. Only keys currently valid for requests qualify (never a
// retired one).
type KeyFetcher interface {
	RequestKey(ctx context.Context, serverName, keyID string) (ed25519.PublicKey, error)
}

// ACLFunc reports whether origin may take part in roomID under the room's
// m.room.server_acl (see package serveracl).
type ACLFunc func(ctx context.Context, origin, roomID string) bool

// Config configures the middleware.
type Config struct {
	// ServerName is this server's name, the destination requests must
	// be addressed to.
	ServerName string
	// Keys finds origins' keys.
	Keys KeyFetcher
	// ACL, if set, is what CheckACL consults; without it every origin
	// is allowed in every room.
	ACL ACLFunc
	// MaxBodySize bounds request bodies; 0 means DefaultMaxBodySize.
	MaxBodySize int64
}

// ctxKey keys the request context values this package sets.
type ctxKey int

const (
	originKey ctxKey = iota
	aclKey
)

// Origin returns the authenticated origin server of a request that went
// through the middleware, or "" for one that did not.
func Origin(ctx context.Context) string {
	s, _ := ctx.Value(originKey).(string)
	return s
}

// WithOrigin returns ctx carrying origin as the authenticated origin, for
// tests of handlers and for requests authenticated another way.
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey, origin)
}

// Allowed reports whether the request's authenticated origin may act in
// roomID under the room's server ACL. It is true when no ACL function was
// configured, and false for a request without an authenticated origin.
func Allowed(ctx context.Context, roomID string) bool {
	origin := Origin(ctx)
	if origin == "" {
		return false
	}
	acl, _ := ctx.Value(aclKey).(ACLFunc)
	return acl == nil || acl(ctx, origin, roomID)
}

// CheckACL is Allowed for handlers of the endpoints the spec protects
// (make_join, send_join, state, backfill, ...): when the origin is denied,
// it answers 403 M_FORBIDDEN and returns false.
func CheckACL(w http.ResponseWriter, r *http.Request, roomID string) bool {
	if Allowed(r.Context(), roomID) {
		return true
	}
	matrixerr.Write(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "server %s is denied access to room %s by its server ACL", Origin(r.Context()), roomID))
	return false
}

// Middleware returns the authenticating middleware. A request passes when
// one of its X-Matrix Authorization headers is addressed to this server (or
// names no destination, as older senders do) and verifies with the origin's
// key; the body is read for the check (within MaxBodySize) and restored for
// the handler. Failures answer 401 M_UNAUTHORIZED, an unreadable or
// non-JSON body 400 M_NOT_JSON, an oversized one 413 M_TOO_LARGE.
func Middleware(cfg Config) func(http.Handler) http.Handler {
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := readBody(r, cfg.MaxBodySize)
			if err != nil {
				matrixerr.Write(w, err)
				return
			}
			origin, err := cfg.authenticate(r, body)
			if err != nil {
				matrixerr.Write(w, err)
				return
			}
			ctx := context.WithValue(r.Context(), originKey, origin)
			if cfg.ACL != nil {
				ctx = context.WithValue(ctx, aclKey, cfg.ACL)
			}
			r = r.WithContext(ctx)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		})
	}
}

// readBody reads the whole body within limit.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, matrixerr.New(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "request body larger than %d bytes", limit)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body.Close()
	if err != nil {
		return nil, matrixerr.New(http.StatusBadRequest, "M_NOT_JSON", "cannot read request body")
	}
	if int64(len(data)) > limit {
		return nil, matrixerr.New(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "request body larger than %d bytes", limit)
	}
	return data, nil
}

// unauthorized is the 401 every authentication failure answers with.
func unauthorized(format string, args ...any) error {
	return matrixerr.New(http.StatusUnauthorized, "M_UNAUTHORIZED", format, args...)
}

// authenticate returns the origin of the first X-Matrix header that
// verifies.
func (cfg *Config) authenticate(r *http.Request, body []byte) (string, error) {
	var headers []string
	for _, v := range r.Header.Values("Authorization") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, xmatrix.Scheme) {
			headers = append(headers, v)
		}
	}
	if len(headers) == 0 {
		return "", unauthorized("missing X-Matrix Authorization header")
	}
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		// Requests made in process (or an absolute-form target) have
		// no origin-form RequestURI.
		uri = r.URL.RequestURI()
	}
	var content []byte
	if len(bytes.TrimSpace(body)) > 0 {
		content = body
		if !json.Valid(content) {
			return "", matrixerr.New(http.StatusBadRequest, "M_NOT_JSON", "request body is not JSON")
		}
	}
	var firstErr error
	for _, h := range headers {
		err := cfg.check(r.Context(), h, xmatrix.Request{
			Method:      r.Method,
			URI:         uri,
			Destination: cfg.ServerName,
			Content:     content,
		})
		if err == nil {
			p, _ := xmatrix.ParseHeader(h)
			return p.Origin, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

// check verifies one header against the request.
func (cfg *Config) check(ctx context.Context, header string, req xmatrix.Request) error {
	p, err := xmatrix.ParseHeader(header)
	if err != nil {
		return unauthorized("malformed X-Matrix header: %v", err)
	}
	if p.Destination != "" && p.Destination != cfg.ServerName {
		return unauthorized("request is for %s, not this server", p.Destination)
	}
	pub, err := cfg.Keys.RequestKey(ctx, p.Origin, p.Key)
	if err != nil {
		return unauthorized("cannot find key %s of %s", p.Key, p.Origin)
	}
	req.Origin = p.Origin
	if err := xmatrix.Verify(req, p, pub); err != nil {
		if errors.Is(err, xmatrix.ErrWrongDestination) {
			return unauthorized("request is for %s, not this server", p.Destination)
		}
		return unauthorized("invalid X-Matrix signature from %s", p.Origin)
	}
	return nil
}
