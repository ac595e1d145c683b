package crash_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hearth/tests/internal/hearthproc"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(hearthproc.Main(m)) }

const serverName = "localhost"

// startNode starts hearth on dataDir and waits until it answers. Its log
// goes to a file in logDir, printed if the test fails.
func startNode(t testing.TB, dataDir, logDir string) *hearthproc.Proc {
	t.Helper()
	return hearthproc.Start(t, hearthproc.Options{DataDir: dataDir, LogDir: logDir, ServerName: serverName, LogLevel: "warn"})
}

// client talks to one node as one user.
type client struct {
	base  string
	token string
	user  string
}

var httpClient = &http.Client{Timeout: 60 * time.Second}

// response is a decoded answer.
type response struct {
	status int
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request; a transport error (connection refused or reset) is
// returned as is.
func (c *client) do(ctx context.Context, method, path string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/_matrix/client/v3"+path, rd)
	if err != nil {
		return response{}, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, body: b}, nil
}

// must sends a request that has to succeed with 200.
func (c *client) must(t testing.TB, method, path string, body any) response {
	t.Helper()
	r, err := c.do(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
	}
	return r
}

// register creates an account with open registration (the dummy stage).
func register(t testing.TB, base, user string) *client {
	t.Helper()
	c := &client{base: base}
	r := c.must(t, "POST", "/register", map[string]any{
		"username": user, "password": "crash-test-password",
		"auth": map[string]string{"type": "m.login.dummy"},
	})
	var out struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	r.json(t, &out)
	if out.AccessToken == "" {
		t.Fatalf("register %s: no access token in %s", user, r.body)
	}
	c.token, c.user = out.AccessToken, out.UserID
	return c
}

func esc(s string) string { return url.PathEscape(s) }

// timelineEvent is the part of a client event the checks read.
type timelineEvent struct {
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// messageContent is what the senders put in their messages.
type messageContent struct {
	Body   string `json:"body"`
	Writer int    `json:"crash_writer"`
	Seq    int    `json:"crash_seq"`
}

// history returns the room's whole timeline, oldest first, paging /messages
// backwards from the end.
func (c *client) history(t testing.TB, roomID string) []timelineEvent {
	t.Helper()
	var rev []timelineEvent
	from := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page > 100000 {
			t.Fatal("/messages does not end")
		}
		q := url.Values{"dir": {"b"}, "limit": {"500"}}
		if from != "" {
			q.Set("from", from)
		}
		r := c.must(t, "GET", "/rooms/"+esc(roomID)+"/messages?"+q.Encode(), nil)
		var out struct {
			Chunk []timelineEvent `json:"chunk"`
			End   string          `json:"end"`
		}
		r.json(t, &out)
		for _, ev := range out.Chunk {
			if seen[ev.EventID] {
				t.Fatalf("/messages returned %s twice", ev.EventID)
			}
			seen[ev.EventID] = true
			rev = append(rev, ev)
		}
		if len(out.Chunk) == 0 || out.End == "" {
			break
		}
		from = out.End
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// isConnErr reports whether err means the server is gone (killed).
func isConnErr(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "connection refused")
}

// ackLog records what the server acknowledged.
type ackLog struct {
	mu   sync.Mutex
	acks []ack
}

type ack struct {
	writer  int
	seq     int
	eventID string
}

func (l *ackLog) add(a ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
}

func (l *ackLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

func (l *ackLog) snapshot() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ack(nil), l.acks...)
}
