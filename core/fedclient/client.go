// Package fedclient is the federation client: it builds server-server API
// requests, signs them with this server's key (X-Matrix), sends them through
// the transport chosen for the destination, and decodes the answers. It
// never dials: how bytes reach another server is the transport's business
// (package transport), so the client runs unchanged in a browser.
//
// Do is the general entry point; the typed helpers (endpoints.go) cover the
// endpoints the sender, the joiner and the key ring need, with PDUs kept as
// raw JSON for the event layer to parse under the right room version.
package fedclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hearth/core/signing"
	"hearth/core/xmatrix"
	"hearth/transport"
)

// DefaultMaxResponseSize bounds the JSON bodies the client reads: a
// /send_join or /state answer for a large room is tens of megabytes, so
// the bound is generous, but it stops a hostile server from exhausting
// memory.
const DefaultMaxResponseSize = 128 << 20

// Config configures a Client.
type Config struct {
	// ServerName is this server's name: the origin of every request.
	ServerName string
	// Key signs requests.
	Key signing.Key
	// Transports picks how each destination is reached.
	Transports transport.Chooser
	// Now is the clock, used for transaction timestamps; nil means
	// time.Now.
	Now func() time.Time
	// MaxResponseSize bounds response bodies read into memory;
	// 0 means DefaultMaxResponseSize. Media downloads are streamed and
	// not bounded here.
	MaxResponseSize int64
}

// Client sends signed federation requests. It is safe for concurrent use.
type Client struct {
	cfg Config
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.ServerName == "" {
		return nil, errors.New("fedclient: empty server name")
	}
	if err := cfg.Key.Validate(); err != nil {
		return nil, fmt.Errorf("fedclient: %w", err)
	}
	if cfg.Transports == nil {
		return nil, errors.New("fedclient: no transports")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxResponseSize <= 0 {
		cfg.MaxResponseSize = DefaultMaxResponseSize
	}
	return &Client{cfg: cfg}, nil
}

// ServerName returns the origin the client signs requests as.
func (c *Client) ServerName() string { return c.cfg.ServerName }

// Error is a non-2xx answer from the remote server, with the Matrix error
// code and message when the body carried them.
type Error struct {
	// Destination is the server that answered.
	Destination string
	// Method and Path describe the request.
	Method, Path string
	// Status is the HTTP status code.
	Status int
	// Code is the Matrix errcode ("M_FORBIDDEN"), or "" when the body
	// was not a Matrix error.
	Code string
	// Message is the Matrix error text.
	Message string
	// RetryAfterMS is the retry_after_ms of an M_LIMIT_EXCEEDED answer,
	// or the Retry-After header in milliseconds.
	RetryAfterMS int64
	// Body is the start of the response body (at most 4 KiB), for logs.
	Body []byte
}

// Error describes the failed request.
func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("fedclient: %s %s to %s: HTTP %d %s: %s", e.Method, e.Path, e.Destination, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("fedclient: %s %s to %s: HTTP %d", e.Method, e.Path, e.Destination, e.Status)
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// CodeOf returns the Matrix errcode of an *Error in err's chain, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Do sends a signed federation request to destination and decodes a 2xx
// JSON answer into out. path is the request target as it goes on the
// wire: already percent-encoded, with its query string (use Path and
// Query to build one). body is nil for no body, a []byte or
// json.RawMessage sent as is, or a value encoded as JSON. out is nil to
// discard the answer, a *json.RawMessage or *[]byte for the raw body, or
// a value decoded from JSON. A non-2xx answer is an *Error; a transport
// failure wraps the transport's error (transport.ErrUnreachable when no
// transport reaches destination).
func (c *Client) Do(ctx context.Context, destination, method, path string, body any, out any) error {
	resp, err := c.send(ctx, destination, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := readLimited(resp.Body, c.cfg.MaxResponseSize)
	if err != nil {
		return fmt.Errorf("fedclient: %s %s to %s: read response: %w", method, path, destination, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(destination, method, path, resp, data)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *json.RawMessage:
		*o = data
		return nil
	case *[]byte:
		*o = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("fedclient: %s %s to %s: decode response: %w", method, path, destination, err)
	}
	return nil
}

// send signs and sends the request and returns the response, whatever
// its status. The caller closes the body.
func (c *Client) send(ctx context.Context, destination, method, path string, body any) (*http.Response, error) {
	if destination == "" {
		return nil, errors.New("fedclient: empty destination")
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("fedclient: path %q does not start with /", path)
	}
	content, err := encodeBody(body)
	if err != nil {
		return nil, fmt.Errorf("fedclient: %s %s to %s: %w", method, path, destination, err)
	}
	u, err := url.Parse("matrix-federation://" + destination + path)
	if err != nil || u.Host != destination {
		return nil, fmt.Errorf("fedclient: %s %s to %s: bad destination or path", method, path, destination)
	}
	uri := u.RequestURI()
	auth, err := xmatrix.Sign(xmatrix.Request{
		Method:      method,
		URI:         uri,
		Origin:      c.cfg.ServerName,
		Destination: destination,
		Content:     content,
	}, c.cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("fedclient: %s %s to %s: sign: %w", method, path, destination, err)
	}
	var rd io.Reader
	if content != nil {
		rd = bytes.NewReader(content)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("fedclient: %s %s to %s: %w", method, path, destination, err)
	}
	req.Host = destination
	req.Header.Set("Authorization", auth)
	if content != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t, err := c.cfg.Transports.Choose(destination)
	if err != nil {
		return nil, fmt.Errorf("fedclient: %s %s to %s: %w", method, path, destination, err)
	}
	resp, err := t.RoundTrip(destination, req)
	if err != nil {
		return nil, fmt.Errorf("fedclient: %s %s to %s: %w", method, path, destination, err)
	}
	return resp, nil
}

// encodeBody turns Do's body argument into JSON bytes, nil for none.
func encodeBody(body any) ([]byte, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case []byte:
		if b == nil {
			return nil, nil
		}
		return b, nil
	case json.RawMessage:
		if b == nil {
			return nil, nil
		}
		return b, nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return data, nil
}

// readLimited reads r to the end, failing beyond limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return data, nil
}

// responseError builds the *Error of a non-2xx response.
func responseError(destination, method, path string, resp *http.Response, data []byte) error {
	e := &Error{Destination: destination, Method: method, Path: path, Status: resp.StatusCode}
	if len(data) > 4096 {
		e.Body = append([]byte(nil), data[:4096]...)
	} else {
		e.Body = data
	}
	var m struct {
		Code         string `json:"errcode"`
		Message      string `json:"error"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	if json.Unmarshal(data, &m) == nil {
		e.Code, e.Message, e.RetryAfterMS = m.Code, m.Message, m.RetryAfterMS
	}
	if e.RetryAfterMS == 0 {
		if s, err := strconv.ParseInt(resp.Header.Get("Retry-After"), 10, 64); err == nil && s > 0 {
			e.RetryAfterMS = s * 1000
		}
	}
	return e
}

// Path joins a fixed prefix with path segments, each percent-encoded as
// one segment (so a '/' in an event ID stays inside its segment):
// Path("/_matrix/federation/v1/state_ids", roomID).
func Path(prefix string, segments ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Query appends the encoded query q to path, when q is not empty.
func Query(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
