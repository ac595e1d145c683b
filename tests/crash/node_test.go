package crash_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hearthBin is the hearth binary built once by TestMain.
var hearthBin string

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/crash:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "hearth-crash-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	hearthBin = filepath.Join(dir, "hearth")
	build := exec.Command("go", "build", "-o", hearthBin, "./cmd/node")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build ./cmd/node: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// node is one running hearth process.
type node struct {
	t      testing.TB
	cmd    *exec.Cmd
	base   string // client API base URL
	stderr *os.File
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

var listening = regexp.MustCompile(`hearth listening: client (http://\S+)`)

const serverName = "localhost"

// startNode starts hearth on dataDir and waits until it answers. Its
// standard error goes to a file in logDir, printed if the test fails.
func startNode(t testing.TB, dataDir, logDir string) *node {
	t.Helper()
	stderr, err := os.CreateTemp(logDir, "hearth-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(hearthBin, "serve", "--data", dataDir, "--server-name", serverName,
		"--client-listen", "127.0.0.1:0", "--federation-listen", "127.0.0.1:0",
		"--registration", "open", "--rate-limit", "0", "--log-level", "warn")
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hearth: %v", err)
	}
	n := &node{t: t, cmd: cmd, stderr: stderr, exited: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		n.err = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			n.dumpLog()
		}
		stderr.Close()
	})
	select {
	case n.base = <-urls:
	case <-n.exited:
		n.dumpLog()
		t.Fatalf("hearth exited before listening: %v", n.err)
	case <-time.After(90 * time.Second):
		n.kill()
		n.dumpLog()
		t.Fatal("hearth did not print its listening line within 90 s")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.base + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hearth does not answer /versions: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL and waits for it.
func (n *node) kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// alive reports whether the process is still running.
func (n *node) alive() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func (n *node) dumpLog() {
	b, err := os.ReadFile(n.stderr.Name())
	if err != nil {
		return
	}
	if len(b) > 8000 {
		b = append([]byte("...\n"), b[len(b)-8000:]...)
	}
	n.t.Logf("hearth log %s:\n%s", n.stderr.Name(), b)
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
