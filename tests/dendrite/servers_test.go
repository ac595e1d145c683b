// Package dendrite_test checks that hearth federates with Dendrite v0.13.8,
// the reference Go homeserver: one Dendrite and one hearth run as processes
// on 127.0.0.1, their users join each other's rooms by alias, and both
// servers' clients must see the same messages, typing, receipts and state.
//
// Dendrite is built once into ${XDG_CACHE_HOME:-~/.cache}/hearth/dendrite-v0.13.8
// by tools/dendrite/dendrite.sh; the test fails when it cannot be built.
package dendrite_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

var (
	hearthBin   string // built by TestMain
	moduleDir   string
	dendriteDir string // the cache directory with dendrite, generate-config, generate-keys
	dendriteErr error  // why Dendrite could not be built, reported by the test
)

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/dendrite:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := findModuleRoot()
	if err != nil {
		return 0, err
	}
	moduleDir = root
	dir, err := os.MkdirTemp("", "hearth-dendrite-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	// HEARTH_BIN names a hearth binary built elsewhere (e.g. from another
	// checkout); by default the test builds ./cmd/node of this module.
	hearthBin = os.Getenv("HEARTH_BIN")
	if hearthBin == "" {
		hearthBin = filepath.Join(dir, "hearth")
		build := exec.Command("go", "build", "-o", hearthBin, "./cmd/node")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build ./cmd/node: %v\n%s", err, out)
		}
	}
	// Build Dendrite (once; cached) with the benchmark's script.
	var stderr bytes.Buffer
	cmd := exec.Command("sh", filepath.Join(root, "tools", "dendrite", "dendrite.sh"), "build")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		dendriteErr = fmt.Errorf("tools/dendrite/dendrite.sh build: %v\n%s", err, stderr.Bytes())
	} else {
		dendriteDir = strings.TrimSpace(string(out))
	}
	return m.Run(), nil
}

func findModuleRoot() (string, error) {
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

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// server is one running homeserver process.
type server struct {
	t       *testing.T
	label   string // "hearth" or "dendrite"
	name    string // server name, 127.0.0.1:FPORT
	client  string // client API base URL
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// logTail returns the last n bytes of the server's log.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", s.logPath, err)
	}
	if len(b) > n {
		b = append([]byte("...\n"), b[len(b)-n:]...)
	}
	return string(b)
}

// start runs cmd with its output into logPath and waits until the client
// API answers /versions.
func (s *server) start(ready <-chan struct{}) {
	t := s.t
	t.Helper()
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	if ready != nil {
		select {
		case <-ready:
		case <-s.exited:
			t.Fatalf("%s exited before listening: %v\n%s", s.label, s.err, s.logTail(6000))
		case <-time.After(time.Until(deadline)):
			s.kill()
			t.Fatalf("%s did not start within 60 s\n%s", s.label, s.logTail(6000))
		}
	}
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.client + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			lastErr = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			lastErr = err
		}
		select {
		case <-s.exited:
			t.Fatalf("%s exited: %v\n%s", s.label, s.err, s.logTail(6000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.kill()
	t.Fatalf("%s does not answer /versions within 60 s: %v\n%s", s.label, lastErr, s.logTail(6000))
}

var hearthListening = regexp.MustCompile(`hearth listening: client (http://\S+)`)

// startHearth runs hearth with its federation listener on a free port and
// the flags that let it federate with a server on 127.0.0.1 whose
// certificate is self-signed.
func startHearth(t *testing.T, dir string) *server {
	t.Helper()
	fport, cport := freePort(t), freePort(t)
	s := &server{
		t: t, label: "hearth", name: fmt.Sprintf("127.0.0.1:%d", fport),
		client: fmt.Sprintf("http://127.0.0.1:%d", cport), exited: make(chan struct{}),
		logPath: filepath.Join(dir, "hearth.log"),
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	s.cmd = exec.Command(hearthBin, "serve", "--data", filepath.Join(dir, "hearth-data"),
		"--server-name", s.name, "--federation-listen", s.name,
		"--client-listen", fmt.Sprintf("127.0.0.1:%d", cport),
		"--federation-allow-private", "--federation-tls-skip-verify",
		"--registration", "open", "--rate-limit", "0", "--log-level", "debug")
	s.cmd.Stderr = logf
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start hearth: %v", err)
	}
	t.Cleanup(s.kill)
	ready := make(chan struct{})
	go func() {
		var once sync.Once
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if hearthListening.MatchString(sc.Text()) {
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	s.start(ready)
	return s
}

// startDendrite configures Dendrite with tools/dendrite/dendrite.sh (from
// generate-config -ci: no key perspectives, SQLite, open registration),
// then turns on what federating with hearth on loopback needs: TLS
// validation off (hearth's certificate is self-signed), an HTTPS listener
// with a self-signed certificate for the federation API at the server name's
// port, and info logs for diagnostics.
func startDendrite(t *testing.T, dir string) *server {
	t.Helper()
	if dendriteErr != nil {
		t.Fatalf("Dendrite v0.13.8 cannot be built: %v", dendriteErr)
	}
	fport, cport := freePort(t), freePort(t)
	ddir := filepath.Join(dir, "dendrite")
	s := &server{
		t: t, label: "dendrite", name: fmt.Sprintf("127.0.0.1:%d", fport),
		client: fmt.Sprintf("http://127.0.0.1:%d", cport), exited: make(chan struct{}),
		logPath: filepath.Join(dir, "dendrite.log"),
	}
	cfg := exec.Command("sh", filepath.Join(moduleDir, "tools", "dendrite", "dendrite.sh"), "config", ddir, fmt.Sprint(fport))
	if out, err := cfg.CombinedOutput(); err != nil {
		t.Fatalf("dendrite.sh config: %v\n%s", err, out)
	}
	yamlPath := filepath.Join(ddir, "dendrite.yaml")
	b, err := os.ReadFile(yamlPath)
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	for _, r := range [][2]string{
		{"\n  disable_tls_validation: false\n", "\n  disable_tls_validation: true\n"}, // federation_api's
		{"\n  level: warn\n", "\n  level: info\n"},
	} {
		if strings.Count(y, r[0]) != 1 {
			t.Fatalf("dendrite.yaml: expected exactly one %q:\n%s", r[0], y)
		}
		y = strings.Replace(y, r[0], r[1], 1)
	}
	if !strings.Contains(y, "\n  key_perspectives: []\n") {
		t.Fatalf("dendrite.yaml has key perspectives (it must not contact other servers):\n%s", y)
	}
	if err := os.WriteFile(yamlPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := exec.Command(filepath.Join(dendriteDir, "generate-keys"), "--tls-cert", "server.crt", "--tls-key", "server.key")
	keys.Dir = ddir
	if out, err := keys.CombinedOutput(); err != nil {
		t.Fatalf("generate-keys --tls-cert: %v\n%s", err, out)
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	s.cmd = exec.Command(filepath.Join(dendriteDir, "dendrite"), "--config", yamlPath,
		"--http-bind-address", fmt.Sprintf("127.0.0.1:%d", cport),
		"--https-bind-address", s.name,
		"--tls-cert", filepath.Join(ddir, "server.crt"), "--tls-key", filepath.Join(ddir, "server.key"),
		"--really-enable-open-registration")
	s.cmd.Dir = ddir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start dendrite: %v", err)
	}
	t.Cleanup(s.kill)
	s.start(nil)
	return s
}

// user is one account on one server, talking to its client API.
type user struct {
	t     *testing.T
	srv   *server
	id    string
	token string
	since string // the last /sync batch token
}

var httpClient = &http.Client{Timeout: 40 * time.Second}

// do sends a client API request (path below /_matrix/client/v3) and returns
// the status and body.
func (u *user) do(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u.srv.client+"/_matrix/client/v3"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must sends a request that has to answer 200 and decodes the answer into
// out (when not nil).
func (u *user) must(method, path string, body, out any) {
	u.t.Helper()
	status, b, err := u.do(method, path, body)
	if err != nil {
		u.fail("%s %s on %s: %v", method, path, u.srv.label, err)
	}
	if status != 200 {
		u.fail("%s %s on %s as %s: %d %s", method, path, u.srv.label, u.id, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			u.fail("%s %s on %s: decode %s: %v", method, path, u.srv.label, b, err)
		}
	}
}

// fail is set by the test to report with both servers' logs.
var failHook func(t *testing.T, format string, args ...any)

func (u *user) fail(format string, args ...any) {
	u.t.Helper()
	if failHook != nil {
		failHook(u.t, format, args...)
		return
	}
	u.t.Fatalf(format, args...)
}

// register creates an account with open registration: the first request
// gets the session, the second completes the dummy stage.
func register(t *testing.T, s *server, name string) *user {
	t.Helper()
	u := &user{t: t, srv: s}
	req := map[string]any{"username": name, "password": "interop-password-" + name, "inhibit_login": false}
	status, b, err := u.do("POST", "/register", req)
	if err != nil {
		t.Fatalf("register %s on %s: %v", name, s.label, err)
	}
	if status == 401 {
		var flows struct {
			Session string `json:"session"`
		}
		_ = json.Unmarshal(b, &flows)
		req["auth"] = map[string]any{"type": "m.login.dummy", "session": flows.Session}
		status, b, err = u.do("POST", "/register", req)
		if err != nil {
			t.Fatalf("register %s on %s: %v", name, s.label, err)
		}
	}
	if status != 200 {
		t.Fatalf("register %s on %s: %d %s\n%s", name, s.label, status, b, s.logTail(3000))
	}
	var out struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.AccessToken == "" {
		t.Fatalf("register %s on %s: no access token in %s", name, s.label, b)
	}
	u.id, u.token = out.UserID, out.AccessToken
	return u
}

// syncResponse is the part of /sync the checks read.
type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []clientEvent `json:"events"`
			} `json:"timeline"`
			State struct {
				Events []clientEvent `json:"events"`
			} `json:"state"`
			Ephemeral struct {
				Events []clientEvent `json:"events"`
			} `json:"ephemeral"`
		} `json:"join"`
		Invite map[string]json.RawMessage `json:"invite"`
		Leave  map[string]json.RawMessage `json:"leave"`
	} `json:"rooms"`
}

type clientEvent struct {
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// syncOnce makes one incremental /sync from u.since (a full one the first
// time) and advances u.since.
func (u *user) syncOnce(timeoutMS int) syncResponse {
	u.t.Helper()
	path := fmt.Sprintf("/sync?timeout=%d", timeoutMS)
	if u.since != "" {
		path += "&since=" + u.since
	}
	var r syncResponse
	u.must("GET", path, nil, &r)
	if r.NextBatch != "" {
		u.since = r.NextBatch
	}
	return r
}

// waitSync syncs until pred holds for one of the responses, up to limit.
func (u *user) waitSync(limit time.Duration, what string, pred func(syncResponse) bool) {
	u.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			u.fail("%s (%s on %s): not seen in /sync within %s", what, u.id, u.srv.label, limit)
			return
		}
		ms := min(int(left/time.Millisecond), 2000)
		if pred(u.syncOnce(ms)) {
			return
		}
	}
}
