package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hearth/core/homeserver"
	"hearth/core/serverkey"
	"hearth/core/signing"
)

// hearthBin is the hearth binary built once for the tests that run it.
var hearthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hearth-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hearthBin = filepath.Join(dir, "hearth")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=test", "-o", hearthBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hearth:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testEnv is the process environment without HEARTH_ variables, plus extra.
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// lockedBuffer is a bytes.Buffer safe for a writing process and a reading test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// node is a running hearth process.
type node struct {
	cmd        *exec.Cmd
	data       string
	serverName string
	clientURL  string
	fedURL     string
	stderr     *lockedBuffer
	done       chan error
}

const testServerName = "hearth.test"

// startNode starts `hearth serve` on free loopback ports with its data in
// data. Extra args and environment entries (KEY=VALUE) follow; args that set
// the server name replace the test's.
func startNode(t *testing.T, data string, args []string, env ...string) *node {
	t.Helper()
	full := []string{"serve", "--data", data,
		"--client-listen", "127.0.0.1:0", "--federation-listen", "127.0.0.1:0"}
	full = append(full, args...)
	cmd := exec.Command(hearthBin, full...)
	cmd.Env = testEnv(env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, data: data, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "hearth listening:") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	go func() { n.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-n.done
		}
	})
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("hearth exited before listening:\n%s", n.stderr)
		}
		// hearth listening: client URL federation URL server_name NAME
		f := strings.Fields(line)
		if len(f) != 8 || f[2] != "client" || f[4] != "federation" || f[6] != "server_name" {
			t.Fatalf("unexpected listening line %q", line)
		}
		n.clientURL, n.fedURL, n.serverName = f[3], f[5], f[7]
	case <-time.After(30 * time.Second):
		t.Fatalf("hearth did not start in 30 s:\n%s", n.stderr)
	}
	if !strings.HasPrefix(n.clientURL, "http://127.0.0.1:") || !strings.HasPrefix(n.fedURL, "https://127.0.0.1:") {
		t.Fatalf("listening on %s and %s", n.clientURL, n.fedURL)
	}
	return n
}

// stop sends SIGTERM and returns the exit error (nil for status 0).
func (n *node) stop(t *testing.T) error {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.done:
		return err
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		t.Fatalf("hearth did not stop within 30 s of SIGTERM:\n%s", n.stderr)
		return nil
	}
}

// fedClient returns an HTTPS client that trusts exactly the node's generated
// certificate.
func (n *node) fedClient(t *testing.T) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(n.data, tlsCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in tls.crt")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// get fetches url and returns status and body.
func get(t *testing.T, c *http.Client, url string) (int, []byte, http.Header) {
	t.Helper()
	return send(t, c, "GET", url, "", nil)
}

func send(t *testing.T, c *http.Client, method, url, body string, header map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b, res.Header
}

var plain = &http.Client{Timeout: 10 * time.Second}

// runHearth runs a hearth command to completion.
func runHearth(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hearthBin, args...)
	cmd.Env = testEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// keyOf fetches and verifies the node's key response over HTTPS.
func keyOf(t *testing.T, n *node) *serverkey.Keys {
	t.Helper()
	status, body, _ := get(t, n.fedClient(t), n.fedURL+"/_matrix/key/v2/server")
	if status != 200 {
		t.Fatalf("key response: %d %s", status, body)
	}
	keys, err := serverkey.Verify(body)
	if err != nil {
		t.Fatalf("key response does not verify: %v\n%s", err, body)
	}
	return keys
}

func TestServe(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, []string{"--server-name", testServerName})

	status, body, hdr := get(t, plain, n.clientURL+"/_matrix/client/versions")
	var versions struct{ Versions []string }
	if status != 200 || json.Unmarshal(body, &versions) != nil || len(versions.Versions) == 0 {
		t.Errorf("versions: %d %s", status, body)
	}
	if hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("versions without CORS headers: %v", hdr)
	}

	for _, c := range []struct {
		name   string
		client *http.Client
		url    string
	}{{"client", plain, n.clientURL}, {"federation", n.fedClient(t), n.fedURL}} {
		if status, body, _ := get(t, c.client, c.url+"/health"); status != 200 || string(body) != "OK" {
			t.Errorf("%s /health: %d %q", c.name, status, body)
		}
	}

	status, body, _ = get(t, plain, n.clientURL+"/_matrix/client/v3/unknown")
	if status != 404 || !strings.Contains(string(body), `"errcode":"M_UNRECOGNIZED"`) {
		t.Errorf("unknown endpoint: %d %s", status, body)
	}
	status, body, _ = send(t, plain, "DELETE", n.clientURL+"/_matrix/client/versions", "", nil)
	if status != 405 || !strings.Contains(string(body), `"errcode":"M_UNRECOGNIZED"`) {
		t.Errorf("wrong method: %d %s", status, body)
	}

	keys := keyOf(t, n)
	if keys.ServerName != testServerName {
		t.Errorf("key response server_name %q", keys.ServerName)
	}
	stored, err := os.ReadFile(filepath.Join(data, signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParseKey(stored)
	if err != nil {
		t.Fatal(err)
	}
	if pub, _, ok := keys.PublicKey(key.ID); !ok || !pub.Equal(key.Public()) {
		t.Errorf("served keys %v lack the stored key %s", keys.VerifyKeys, key)
	}
	for _, f := range []string{signingKeyFile, sharedSecretFile, tlsKeyFile} {
		fi, err := os.Stat(filepath.Join(data, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if got, _ := os.ReadFile(filepath.Join(data, clientURLFile)); strings.TrimSpace(string(got)) != n.clientURL {
		t.Errorf("client-url file holds %q, want %q", got, n.clientURL)
	}
	if err := n.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, n.stderr)
	}
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, nil)

	// Start a request whose body arrives slowly, so that it is in flight
	// when SIGTERM arrives.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", n.clientURL+"/_synapse/admin/v1/register", pr)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, 1)
	go func() {
		res, err := plain.Do(req)
		if err != nil {
			answers <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		answers <- answer{status: res.StatusCode, body: string(b)}
	}()
	if _, err := io.WriteString(pw, `{"nonce":"unknown",`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the handler is now reading the body

	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.done:
		t.Fatalf("hearth exited (%v) with a request in flight:\n%s", err, n.stderr)
	case <-time.After(500 * time.Millisecond):
	}
	io.WriteString(pw, `"username":"a","password":"b","mac":"c"}`)
	pw.Close()
	a := <-answers
	if a.err != nil || a.status != 400 || !strings.Contains(a.body, "nonce") {
		t.Errorf("in-flight request: %+v, want its 400 answer", a)
	}

	select {
	case err := <-n.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, n.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("hearth did not exit after the request finished:\n%s", n.stderr)
	}
	logs := n.stderr.String()
	for _, want := range []string{"shutting down", "listeners closed", "database closed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if _, err := os.Stat(filepath.Join(data, clientURLFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("client-url file left behind: %v", err)
	}
	if _, err := plain.Get(n.clientURL + "/health"); err == nil {
		t.Error("client listener still answers after exit")
	}
}

func TestAdminPasswordFromStdin(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, nil)
	cmd := exec.Command(hearthBin, "admin", "user", "create", "--data", data, "--user", "erin")
	cmd.Env = testEnv()
	cmd.Stdin = strings.NewReader("from-stdin\n")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "@erin:localhost:8448" {
		t.Fatalf("user create with password on stdin: %v %s", err, out)
	}
	cmd = exec.Command(hearthBin, "admin", "user", "create", "--data", data, "--user", "frank")
	cmd.Env = testEnv()
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no password") {
		t.Errorf("user create without password: %v %s", err, out)
	}
	if err := n.stop(t); err != nil {
		t.Errorf("stop: %v\n%s", err, n.stderr)
	}
}

func TestRestartKeepsIdentityAndData(t *testing.T) {
	data := t.TempDir()
	args := []string{"--server-name", testServerName}
	n := startNode(t, data, args)
	before := keyOf(t, n)
	cert1, _ := os.ReadFile(filepath.Join(data, tlsCertFile))
	secret1, _ := os.ReadFile(filepath.Join(data, sharedSecretFile))
	if _, stderr, err := runHearth(t, nil, "admin", "user", "create", "--data", data, "--user", "carol", "--password", "pw"); err != nil {
		t.Fatalf("user create: %v\n%s", err, stderr)
	}
	if err := n.stop(t); err != nil {
		t.Fatalf("stop: %v\n%s", err, n.stderr)
	}

	n = startNode(t, data, args)
	after := keyOf(t, n)
	if len(before.VerifyKeys) != 1 || len(after.VerifyKeys) != 1 {
		t.Fatalf("keys before %v, after %v", before.VerifyKeys, after.VerifyKeys)
	}
	for id, pub := range before.VerifyKeys {
		if !pub.Equal(after.VerifyKeys[id]) {
			t.Errorf("signing key %s changed across restart: %v -> %v", id, before.VerifyKeys, after.VerifyKeys)
		}
	}
	cert2, _ := os.ReadFile(filepath.Join(data, tlsCertFile))
	secret2, _ := os.ReadFile(filepath.Join(data, sharedSecretFile))
	if !bytes.Equal(cert1, cert2) || !bytes.Equal(secret1, secret2) {
		t.Error("TLS certificate or shared secret changed across restart")
	}
	// The user is still in the database.
	_, stderr, err := runHearth(t, nil, "admin", "user", "create", "--data", data, "--user", "carol", "--password", "pw")
	if err == nil || !strings.Contains(stderr, "M_USER_IN_USE") {
		t.Errorf("re-creating carol after restart: %v %s", err, stderr)
	}
	if err := n.stop(t); err != nil {
		t.Errorf("stop: %v\n%s", err, n.stderr)
	}
}

func TestAdminCommands(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, []string{"--server-name", testServerName})

	tests := []struct {
		name    string
		args    []string
		env     []string
		stdout  string // exact line, or prefix with trailing *
		errText string // for failures
	}{
		{"create admin", []string{"user", "create", "--data", data, "--user", "alice", "--password", "pw", "--admin"}, nil, "@alice:" + testServerName, ""},
		{"create by user ID", []string{"user", "create", "--data", data, "--user", "@bob:" + testServerName, "--password", "pw"}, nil, "@bob:" + testServerName, ""},
		{"taken", []string{"user", "create", "--data", data, "--user", "alice", "--password", "pw"}, nil, "", "M_USER_IN_USE"},
		{"bad localpart", []string{"user", "create", "--data", data, "--user", "Alice", "--password", "pw"}, nil, "", "M_INVALID_USERNAME"},
		{"no user", []string{"user", "create", "--data", data, "--password", "pw"}, nil, "", "--user is required"},
		{"wrong secret", []string{"user", "create", "--data", data, "--user", "eve", "--password", "pw", "--registration-shared-secret", "wrong"}, nil, "", "M_FORBIDDEN"},
		{"url and secret from env", []string{"user", "create", "--user", "dave", "--password", "pw"},
			[]string{"HEARTH_CLIENT_URL=" + n.clientURL, "HEARTH_REGISTRATION_SHARED_SECRET=" + readFile(t, filepath.Join(data, sharedSecretFile))}, "@dave:" + testServerName, ""},
		{"token", []string{"token", "create", "--data", data}, nil, "*", ""},
		{"named token", []string{"token", "create", "--data", data, "--token", "welcome", "--uses", "3", "--expiry", "1h"}, nil, "welcome", ""},
		{"duplicate token", []string{"token", "create", "--data", data, "--token", "welcome"}, nil, "", "M_INVALID_PARAM"},
		{"token wrong secret", []string{"token", "create", "--data", data, "--registration-shared-secret", "wrong"}, nil, "", "M_UNKNOWN_TOKEN"},
		{"negative uses", []string{"token", "create", "--data", data, "--uses", "-1"}, nil, "", "--uses"},
		{"no node", []string{"token", "create", "--data", data, "--client-url", "http://127.0.0.1:1"}, nil, "", "cannot reach the node"},
		{"unknown admin command", []string{"user", "delete"}, nil, "", "want \"user create\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHearth(t, tt.env, append([]string{"admin"}, tt.args...)...)
			if tt.errText != "" {
				if err == nil || !strings.Contains(stderr, tt.errText) {
					t.Errorf("err %v, stderr %q; want failure mentioning %q", err, stderr, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			got := strings.TrimSpace(stdout)
			if tt.stdout == "*" {
				if len(got) != 16 {
					t.Errorf("generated token %q", got)
				}
			} else if got != tt.stdout {
				t.Errorf("stdout %q, want %q", got, tt.stdout)
			}
		})
	}

	// The named token exists with its limits, and is valid for registration.
	secret := readFile(t, filepath.Join(data, sharedSecretFile))
	status, body, _ := send(t, plain, "GET", n.clientURL+"/_synapse/admin/v1/registration_tokens/welcome", "", map[string]string{"Authorization": "Bearer " + secret})
	var tok struct {
		UsesAllowed *int   `json:"uses_allowed"`
		ExpiryTime  *int64 `json:"expiry_time"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.UsesAllowed == nil || *tok.UsesAllowed != 3 || tok.ExpiryTime == nil {
		t.Fatalf("token welcome: %d %s", status, body)
	}
	if d := time.Until(time.UnixMilli(*tok.ExpiryTime)); d < 50*time.Minute || d > time.Hour {
		t.Errorf("token expires in %v, want about an hour", d)
	}
	status, body, _ = get(t, plain, n.clientURL+"/_matrix/client/v1/register/m.login.registration_token/validity?token=welcome")
	if status != 200 || string(body) != `{"valid":true}` {
		t.Errorf("validity: %d %s", status, body)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestSharedSecretRegistrationWrongMAC(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, []string{"--registration-shared-secret", "configured-secret"})
	if _, err := os.Stat(filepath.Join(data, sharedSecretFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a secret was generated although one is configured: %v", err)
	}
	register := func(user, mac string) (int, string) {
		status, body, _ := get(t, plain, n.clientURL+"/_synapse/admin/v1/register")
		var nonce struct{ Nonce string }
		if status != 200 || json.Unmarshal(body, &nonce) != nil {
			t.Fatalf("nonce: %d %s", status, body)
		}
		if mac == "" {
			mac = homeserver.SharedSecretMAC("configured-secret", nonce.Nonce, user, "pw", false, "")
		}
		req, _ := json.Marshal(map[string]any{"nonce": nonce.Nonce, "username": user, "password": "pw", "admin": false, "mac": mac})
		status, body, _ = send(t, plain, "POST", n.clientURL+"/_synapse/admin/v1/register", string(req), map[string]string{"Content-Type": "application/json"})
		return status, string(body)
	}
	wrong := homeserver.SharedSecretMAC("generated-secret", "nonce", "mallory", "pw", false, "")
	if status, body := register("mallory", wrong); status != 403 || !strings.Contains(body, `"errcode":"M_FORBIDDEN"`) {
		t.Errorf("wrong MAC: %d %s", status, body)
	}
	if status, body := register("mallory", ""); status != 200 || !strings.Contains(body, `"user_id":"@mallory:localhost:8448"`) {
		t.Errorf("right MAC: %d %s", status, body)
	}
}

func TestConfigPrecedenceEndToEnd(t *testing.T) {
	tests := []struct {
		name string
		flag string
		env  string
		file string
		want string
	}{
		{"default", "", "", "", defaultServerName},
		{"file", "", "", "file.test", "file.test"},
		{"env over file", "", "env.test", "file.test", "env.test"},
		{"flag over env and file", "flag.test", "env.test", "file.test", "flag.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			var args, env []string
			if tt.file != "" {
				path := filepath.Join(t.TempDir(), "hearth.yaml")
				yaml := fmt.Sprintf("server_name: %s\nrate_limit: 0\nlog_level: debug\n", tt.file)
				if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				env = append(env, "HEARTH_CONFIG="+path)
			}
			if tt.env != "" {
				env = append(env, "HEARTH_SERVER_NAME="+tt.env)
			}
			if tt.flag != "" {
				args = append(args, "--server-name", tt.flag)
			}
			n := startNode(t, data, args, env...)
			if n.serverName != tt.want {
				t.Errorf("listening line says server_name %q, want %q", n.serverName, tt.want)
			}
			if got := keyOf(t, n).ServerName; got != tt.want {
				t.Errorf("key response server_name %q, want %q", got, tt.want)
			}
			if err := n.stop(t); err != nil {
				t.Errorf("stop: %v\n%s", err, n.stderr)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      []string
		ok       bool
		contains string // in stdout+stderr
	}{
		{"help", []string{"--help"}, nil, true, "HEARTH_SERVER_NAME"},
		{"help command", []string{"help"}, nil, true, "hearth admin token create"},
		{"serve help", []string{"serve", "-h"}, nil, true, "config key rate_limit"},
		{"admin help", []string{"admin", "user", "create", "--help"}, nil, true, "--password"},
		{"version", []string{"version"}, nil, true, "hearth test"},
		{"unknown command", []string{"frobnicate"}, nil, false, "unknown command"},
		{"unknown flag", []string{"--frobnicate"}, nil, false, "flag provided but not defined"},
		{"bad registration", []string{"--registration", "sometimes", "--data", t.TempDir()}, nil, false, "registration mode"},
		{"bad env", nil, []string{"HEARTH_RATE_LIMIT=fast"}, false, "HEARTH_RATE_LIMIT"},
		{"stray argument", []string{"serve", "extra"}, nil, false, "unexpected arguments"},
		{"port in use", []string{"--data", t.TempDir(), "--client-listen", "127.0.0.1:0", "--federation-listen", "256.0.0.1:1"}, nil, false, "federation listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHearth(t, tt.env, tt.args...)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v\n%s%s", err, tt.ok, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tt.contains) {
				t.Errorf("output lacks %q:\n%s%s", tt.contains, stdout, stderr)
			}
		})
	}
}
