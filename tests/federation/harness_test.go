// Package federation_test runs several hearth homeservers in one process,
// each with its federation API on its own TLS listener on 127.0.0.1 and its
// client API on another, federating over the real HTTPS transport, and
// checks what their clients see.
package federation_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/core/homeserver"
	"hearth/core/signing"
	"hearth/persist"
	"hearth/persist/memory"
	"hearth/transport"
	"hearth/transport/https"
)

// node is one homeserver with its listeners.
type node struct {
	t     *testing.T
	name  string // server name, 127.0.0.1:PORT of the federation listener
	key   signing.Key
	store persist.Store
	logs  *syncBuffer
	hs    *homeserver.Server
	fed   *httptest.Server
	cli   *httptest.Server
	// cut holds the destinations this node cannot reach (a partition).
	cutMu sync.Mutex
	cut   map[string]bool
	// refuse holds federation path prefixes the node answers with 403
	// M_FORBIDDEN, as a peer that withholds them.
	refuse map[string]bool
}

// setRefused makes the node refuse (or serve again) federation requests
// whose path starts with prefix.
func (n *node) setRefused(prefix string, refused bool) {
	n.cutMu.Lock()
	defer n.cutMu.Unlock()
	if n.refuse == nil {
		n.refuse = map[string]bool{}
	}
	n.refuse[prefix] = refused
}

// refusing wraps the node's federation handler with its refusals.
func (n *node) refusing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.cutMu.Lock()
		refused := false
		for p, on := range n.refuse {
			refused = refused || on && strings.HasPrefix(r.URL.Path, p)
		}
		n.cutMu.Unlock()
		if refused {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errcode":"M_FORBIDDEN","error":"withheld by the test"}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// cutOff makes every pair of the given nodes, one from each list, unable to
// reach each other until heal.
func cutOff(side1, side2 []*node) {
	for _, x := range side1 {
		for _, y := range side2 {
			x.setCut(y.name, true)
			y.setCut(x.name, true)
		}
	}
}

// heal ends every partition of the given nodes.
func heal(nodes ...*node) {
	for _, n := range nodes {
		n.cutMu.Lock()
		n.cut = nil
		n.cutMu.Unlock()
	}
}

func (n *node) setCut(dest string, cut bool) {
	n.cutMu.Lock()
	defer n.cutMu.Unlock()
	if n.cut == nil {
		n.cut = map[string]bool{}
	}
	n.cut[dest] = cut
}

// partitionable is a node's transport chooser: destinations the node is
// cut off from are unreachable.
type partitionable struct {
	n  *node
	tr transport.Transport
}

func (p partitionable) Choose(dest string) (transport.Transport, error) {
	p.n.cutMu.Lock()
	defer p.n.cutMu.Unlock()
	if p.n.cut[dest] {
		return nil, fmt.Errorf("%w: partitioned from %s", transport.ErrUnreachable, dest)
	}
	return p.tr, nil
}

// syncBuffer collects a node's logs for failure reports.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode starts a new homeserver with an empty store.
func startNode(t *testing.T) *node {
	t.Helper()
	key, err := signing.GenerateKey(rand.Reader, "ed25519:a1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: ln.Addr().String(), key: key, store: memory.New(), logs: &syncBuffer{}}
	n.start(ln)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s:\n%s", n.name, n.logs.String())
		}
		n.stop()
	})
	return n
}

// start runs the homeserver over the node's store on ln.
func (n *node) start(ln net.Listener) {
	n.t.Helper()
	tr := https.New(https.Options{AllowPrivate: true, InsecureSkipVerify: true})
	hs, err := homeserver.New(homeserver.Config{
		ServerName:   n.name,
		SigningKey:   n.key,
		Store:        n.store,
		Now:          time.Now,
		Rand:         rand.Reader,
		Logger:       slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registration: homeserver.RegistrationOpen,
		BcryptCost:   4,
		AfterFunc:    func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		Transports:   partitionable{n: n, tr: tr},
	})
	if err != nil {
		n.t.Fatal(err)
	}
	n.hs = hs
	n.fed = httptest.NewUnstartedServer(n.refusing(hs.FederationHandler()))
	n.fed.Listener.Close()
	n.fed.Listener = ln
	n.fed.StartTLS()
	n.cli = httptest.NewServer(hs.ClientHandler())
}

// stop shuts the node down; its store stays for restart.
func (n *node) stop() {
	if n.hs == nil {
		return
	}
	n.fed.Close()
	n.cli.Close()
	n.hs.Close()
	n.hs = nil
}

// restart starts the node again on its old address with its old store.
func (n *node) restart() {
	n.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", n.name); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		n.t.Fatalf("listening again on %s: %v", n.name, err)
	}
	n.start(ln)
}

// client is a logged-in user of a node.
type client struct {
	t     *testing.T
	n     *node
	user  string
	token string
}

type response struct {
	status int
	body   []byte
}

func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.n.cli.URL+"/_matrix/client/v3"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// must sends a request that has to answer 200 and decodes the answer into
// out (when not nil).
func (c *client) must(method, path string, body, out any) {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != http.StatusOK {
		c.t.Fatalf("%s %s as %s: %d %s", method, path, c.user, r.status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

func register(t *testing.T, n *node, user string) *client {
	t.Helper()
	c := &client{t: t, n: n}
	var out struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	c.must("POST", "/register", map[string]any{
		"username": user, "password": "federation-test-password",
		"auth": map[string]string{"type": "m.login.dummy"},
	}, &out)
	c.user, c.token = out.UserID, out.AccessToken
	return c
}

func esc(s string) string { return url.PathEscape(s) }

// createRoom creates a public room with an alias and returns its ID.
func (c *client) createRoom(alias string, extra map[string]any) string {
	c.t.Helper()
	body := map[string]any{"preset": "public_chat", "room_alias_name": alias}
	for k, v := range extra {
		body[k] = v
	}
	var out struct {
		RoomID string `json:"room_id"`
	}
	c.must("POST", "/createRoom", body, &out)
	return out.RoomID
}

func (c *client) join(target string) string {
	c.t.Helper()
	var out struct {
		RoomID string `json:"room_id"`
	}
	c.must("POST", "/join/"+esc(target), map[string]any{}, &out)
	return out.RoomID
}

var txnSeq struct {
	sync.Mutex
	n int
}

func nextTxn() string {
	txnSeq.Lock()
	defer txnSeq.Unlock()
	txnSeq.n++
	return fmt.Sprintf("t%d", txnSeq.n)
}

func (c *client) say(roomID, body string) string {
	c.t.Helper()
	var out struct {
		EventID string `json:"event_id"`
	}
	c.must("PUT", "/rooms/"+esc(roomID)+"/send/m.room.message/"+nextTxn(), map[string]string{"msgtype": "m.text", "body": body}, &out)
	return out.EventID
}

// clientEvent is the part of a client event the tests read.
type clientEvent struct {
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

func (e clientEvent) body() string {
	var c struct {
		Body string `json:"body"`
	}
	json.Unmarshal(e.Content, &c)
	return c.Body
}

// syncBodies returns the message bodies of the room's timeline as an
// initial /sync shows them, oldest first.
func (c *client) syncBodies(roomID string) []string {
	c.t.Helper()
	filter := `{"room":{"timeline":{"limit":100}}}`
	var out struct {
		Rooms struct {
			Join map[string]struct {
				Timeline struct {
					Events []clientEvent `json:"events"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	c.must("GET", "/sync?filter="+url.QueryEscape(filter), nil, &out)
	var bodies []string
	for _, ev := range out.Rooms.Join[roomID].Timeline.Events {
		if ev.Type == "m.room.message" {
			bodies = append(bodies, ev.body())
		}
	}
	return bodies
}

// state returns the room's current state as the client API shows it.
func (c *client) state(roomID string) []clientEvent {
	c.t.Helper()
	var out []clientEvent
	c.must("GET", "/rooms/"+esc(roomID)+"/state", nil, &out)
	slices.SortFunc(out, func(a, b clientEvent) int {
		if a.Type != b.Type {
			if a.Type < b.Type {
				return -1
			}
			return 1
		}
		switch {
		case *a.StateKey < *b.StateKey:
			return -1
		case *a.StateKey > *b.StateKey:
			return 1
		}
		return 0
	})
	return out
}

// eventually retries check until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
