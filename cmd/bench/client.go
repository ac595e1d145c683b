package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// newHTTPClient returns a client for one user, with a connection of its
// own (see connTransport). base is http://host:port.
func newHTTPClient(base string) (*http.Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port", base)
	}
	return &http.Client{Transport: &connTransport{addr: u.Host}}, nil
}

// client is one logged-in Matrix user (or an anonymous caller when token is
// empty) of the client-server API.
type client struct {
	base   string // http://host:port, no trailing slash
	hc     *http.Client
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
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return len(data), fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return len(data), &apiError{Method: method, Path: path, Status: resp.StatusCode, Body: string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return len(data), fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return len(data), nil
}

// register creates the account name with the m.login.dummy stage of
// user-interactive authentication (first asking for a session, as clients do)
// and returns a client logged in as it.
func register(ctx context.Context, base string, name string) (*client, error) {
	hc, err := newHTTPClient(base)
	if err != nil {
		return nil, err
	}
	anon := &client{base: base, hc: hc}
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
	return &client{base: base, hc: hc, token: out.AccessToken, userID: out.UserID}, nil
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
// so that a syncing reader can recognise it.
func (c *client) send(ctx context.Context, roomID, id string) error {
	txn := fmt.Sprintf("b%d-%d", time.Now().UnixNano(), c.txn.Add(1))
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/send/m.room.message/" + txn
	body := map[string]any{"msgtype": "m.text", "body": "benchmark message " + id, "bench_id": id}
	_, err := c.do(ctx, "PUT", path, body, nil)
	return err
}

// syncResponse is the part of a /sync answer the benchmark reads.
type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []struct {
					Type    string `json:"type"`
					Content struct {
						BenchID string `json:"bench_id"`
					} `json:"content"`
				} `json:"events"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// sync makes one /sync request. since may be empty (an initial sync); filter
// may be empty (none) or inline filter JSON.
func (c *client) sync(ctx context.Context, since, filter string, timeout time.Duration) (*syncResponse, int, error) {
	q := url.Values{}
	q.Set("timeout", fmt.Sprint(timeout.Milliseconds()))
	if since != "" {
		q.Set("since", since)
	}
	if filter != "" {
		q.Set("filter", filter)
	}
	var out syncResponse
	n, err := c.do(ctx, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &out)
	if err != nil {
		return nil, n, err
	}
	return &out, n, nil
}
