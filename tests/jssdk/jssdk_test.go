// Package jssdk_test runs matrix-js-sdk, under Node, against a real hearth
// process: registration, rooms, 100 messages through /sync and /messages,
// typing, read receipts and end-to-end encryption (test.mjs beside this file).
//
// It needs node on the PATH and the npm packages installed beside it:
//
//	npm ci --prefix tests/jssdk
package jssdk_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runTimeout bounds the whole script; it normally takes about 25 s.
const runTimeout = 3 * time.Minute

func TestMatrixJSSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on the PATH (Debian: apt-get install nodejs npm): %v", err)
	}
	checkModules(t)
	hearth := buildHearth(t)
	url, logs := startHearth(t, hearth)

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "test.mjs", url)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	t.Logf("node test.mjs %s:\n%s", url, out.String())
	if ctx.Err() != nil {
		t.Fatalf("test.mjs did not finish within %v\nhearth log (last lines):\n%s", runTimeout, logs.tail(60))
	}
	if err != nil {
		t.Fatalf("test.mjs failed: %v\nhearth log (last lines):\n%s", err, logs.tail(60))
	}
	if !strings.Contains(out.String(), " passed, 0 failed") {
		t.Fatalf("test.mjs exited 0 without its closing summary line")
	}
}

// checkModules fails the test, naming the command to run, when the npm
// packages pinned in package.json are not installed.
func checkModules(t *testing.T) {
	t.Helper()
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON(t, "package.json", &pkg)
	if len(pkg.Dependencies) == 0 {
		t.Fatal("package.json lists no dependencies")
	}
	for name, want := range pkg.Dependencies {
		var installed struct {
			Version string `json:"version"`
		}
		path := filepath.Join("node_modules", name, "package.json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("npm package %s is not installed (%v): run `npm ci --prefix tests/jssdk` from the repository root", name, err)
		}
		if err := json.Unmarshal(b, &installed); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if installed.Version != want {
			t.Fatalf("npm package %s is %s, package.json pins %s: run `npm ci --prefix tests/jssdk` from the repository root", name, installed.Version, want)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// buildHearth builds ./cmd/node into the test's temporary directory (the go
// build cache makes this quick after the first time) and returns its path.
func buildHearth(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on the PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "hearth")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/node")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/node: %v\n%s", err, out)
	}
	return bin
}

// logBuffer collects hearth's log lines safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines.
func (b *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startHearth starts hearth with open registration on loopback ports and
// returns its client base URL and its log. It is stopped when the test ends.
func startHearth(t *testing.T, bin string) (string, *logBuffer) {
	t.Helper()
	fport := freePort(t)
	fed := fmt.Sprintf("127.0.0.1:%d", fport)
	cmd := exec.Command(bin, "serve",
		"--data", t.TempDir(),
		"--server-name", fed,
		"--client-listen", "127.0.0.1:0",
		"--federation-listen", fed,
		"--registration", "open",
		"--rate-limit", "0",
		"--log-level", "debug")
	logs := &logBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-done:
			t.Errorf("hearth exited during the test: %v\n%s", err, logs.tail(60))
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hearth exited with %v after SIGTERM\n%s", err, logs.tail(30))
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("hearth did not stop within 30 s of SIGTERM")
		}
	})

	lines := make(chan string, 1)
	go func() {
		// Keep reading to the end so hearth never blocks on a full pipe.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "hearth listening:") {
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}
		close(lines)
	}()

	var url string
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("hearth exited before listening:\n%s", logs.tail(30))
		}
		// hearth listening: client URL federation URL server_name NAME
		f := strings.Fields(line)
		if len(f) != 8 || f[2] != "client" || !strings.HasPrefix(f[3], "http://127.0.0.1:") {
			t.Fatalf("unexpected listening line %q", line)
		}
		url = f[3]
	case <-time.After(30 * time.Second):
		t.Fatalf("hearth did not start within 30 s:\n%s", logs.tail(30))
	}
	if err := waitVersions(url); err != nil {
		t.Fatalf("hearth at %s: %v\n%s", url, err, logs.tail(30))
	}
	return url, logs
}

// waitVersions waits until GET /_matrix/client/versions answers 200.
func waitVersions(url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /_matrix/client/versions: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return errors.Join(errors.New("not ready after 10 s"), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
