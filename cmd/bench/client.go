package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// client is one logged-in Matrix user (or an anonymous caller when token is
// empty) of the client-server API.
type client struct {
	conn   *httpConn
	token  string
	userID string
	txn    atomic.Uint64
}

// apiError is a non-2xx answer.
type apiError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *apiError) Error() string {
	body := e.Body
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(body))
}

// do sends a request with an optional JSON body and decodes a 2xx JSON answer
// into out (when out is not nil). It returns the size of the answer's body.
func (c *client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	req := request{method: method, target: appendString(path), token: c.token}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		req.body = func(dst []byte) []byte { return append(dst, b...) }
	}
	size := 0
	err := c.conn.roundTrip(ctx, &req, func(status int, data []byte) error {
		size = len(data)
		if status/100 != 2 {
			return &apiError{Method: method, Path: path, Status: status, Body: string(data)}
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("decoding the answer: %w", err)
			}
		}
		return nil
	})
	if err != nil && !isAPIError(err) {
		err = fmt.Errorf("%s %s: %w", method, path, err)
	}
	return size, err
}

// isAPIError reports whether err is an *apiError, which needs no more
// context.
func isAPIError(err error) bool {
	var ae *apiError
	return errors.As(err, &ae)
}

// appendString returns a function that appends s, for a request's target
// or body.
func appendString(s string) func(b []byte) []byte {
	return func(b []byte) []byte { return append(b, s...) }
}

// register creates the account name with the m.login.dummy stage of
// user-interactive authentication (first asking for a session, as clients do)
// and returns a client logged in as it.
func register(ctx context.Context, base string, name string) (*client, error) {
	conn, err := newHTTPConn(base)
	if err != nil {
		return nil, err
	}
	anon := &client{conn: conn}
	req := map[string]any{"username": name, "password": "bench-password-" + name, "initial_device_display_name": "bench"}
	_, err = anon.do(ctx, "POST", "/_matrix/client/v3/register", req, nil)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		return nil, fmt.Errorf("register %s: expected 401 with a UIA session, got %v", name, err)
	}
	var uia struct {
		Session string `json:"session"`
	}
	if err := json.Unmarshal([]byte(ae.Body), &uia); err != nil {
		return nil, fmt.Errorf("register %s: UIA answer: %w", name, err)
	}
	req["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
	var out struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	if _, err := anon.do(ctx, "POST", "/_matrix/client/v3/register", req, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, fmt.Errorf("register %s: no access token in the answer", name)
	}
	return &client{conn: conn, token: out.AccessToken, userID: out.UserID}, nil
}

func (c *client) createRoom(ctx context.Context, name string) (string, error) {
	var out struct {
		RoomID string `json:"room_id"`
	}
	body := map[string]any{"preset": "public_chat", "name": name}
	if _, err := c.do(ctx, "POST", "/_matrix/client/v3/createRoom", body, &out); err != nil {
		return "", err
	}
	if out.RoomID == "" {
		return "", errors.New("createRoom: no room_id in the answer")
	}
	return out.RoomID, nil
}

func (c *client) join(ctx context.Context, roomID string) error {
	_, err := c.do(ctx, "POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, nil)
	return err
}

// send sends one m.room.message whose content carries id under "bench_id",
// so that a syncing reader can recognise it. It is the load phases' hot
// path, so it builds the request without allocating.
func (c *client) send(ctx context.Context, roomID, id string) error {
	now, seq := time.Now().UnixNano(), c.txn.Add(1)
	target := func(b []byte) []byte {
		b = append(b, "/_matrix/client/v3/rooms/"...)
		b = appendEscaped(b, roomID, false)
		b = append(b, "/send/m.room.message/b"...)
		b = strconv.AppendInt(b, now, 10)
		b = append(b, '-')
		return strconv.AppendUint(b, seq, 10)
	}
	req := request{method: "PUT", target: target, token: c.token, body: func(b []byte) []byte {
		// As json.Marshal writes the map of msgtype, body and bench_id.
		b = append(b, `{"bench_id":`...)
		b = appendJSONString(b, id, "")
		b = append(b, `,"body":`...)
		b = appendJSONString(b, "benchmark message ", id)
		return append(b, `,"msgtype":"m.text"}`...)
	}}
	err := c.conn.roundTrip(ctx, &req, func(status int, body []byte) error {
		if status/100 == 2 {
			return nil
		}
		return &apiError{Method: "PUT", Path: string(target(nil)), Status: status, Body: string(body)}
	})
	if err != nil && !isAPIError(err) {
		err = fmt.Errorf("PUT %s: %w", target(nil), err)
	}
	return err
}

// sync makes one /sync request and calls handle with the answer's body,
// which is valid only during the call; it returns the body's size. since
// may be empty (an initial sync); filter may be empty (none) or inline
// filter JSON.
func (c *client) sync(ctx context.Context, since, filter string, timeout time.Duration, handle func(body []byte) error) (int, error) {
	target := func(b []byte) []byte {
		b = append(b, "/_matrix/client/v3/sync?timeout="...)
		b = strconv.AppendInt(b, timeout.Milliseconds(), 10)
		if since != "" {
			b = append(b, "&since="...)
			b = appendEscaped(b, since, true)
		}
		if filter != "" {
			b = append(b, "&filter="...)
			b = appendEscaped(b, filter, true)
		}
		return b
	}
	req := request{method: "GET", target: target, token: c.token}
	size := 0
	err := c.conn.roundTrip(ctx, &req, func(status int, body []byte) error {
		size = len(body)
		if status/100 != 2 {
			return &apiError{Method: "GET", Path: string(target(nil)), Status: status, Body: string(body)}
		}
		return handle(body)
	})
	if err != nil && !isAPIError(err) {
		err = fmt.Errorf("GET %s: %w", target(nil), err)
	}
	return size, err
}

// appendEscaped appends s escaped as url.PathEscape does, or with query set
// as url.QueryEscape does.
func appendEscaped(b []byte, s string, query bool) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case query && c == ' ':
			b = append(b, '+')
		case !query && (c == '$' || c == '&' || c == '+' || c == ':' || c == '=' || c == '@'):
			b = append(b, c)
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}

// appendJSONString appends the JSON string of a+b as json.Marshal writes
// it.
func appendJSONString(dst []byte, a, b string) []byte {
	for _, s := range [2]string{a, b} {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c >= utf8.RuneSelf || c < ' ' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				// Unusual: leave it to encoding/json.
				q, _ := json.Marshal(a + b)
				return append(dst, q...)
			}
		}
	}
	dst = append(dst, '"')
	dst = append(dst, a...)
	dst = append(dst, b...)
	return append(dst, '"')
}
