// Package mautrix_test drives a real hearth process with mautrix-go, a Go
// Matrix client library, end to end over its client-server API.
//
// It is a module of its own so that the main module (and its wasm build)
// never depends on mautrix. Run it with `cd tests/mautrix && go test ./...`;
// HEARTH_LOG=1 prints hearth's log even when the test passes.
package mautrix_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hearthBin is the hearth binary that TestMain built from the repository.
var hearthBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hearth-mautrix-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	hearthBin = filepath.Join(dir, "hearth")
	build := exec.Command("go", "build", "-o", hearthBin, "./cmd/node")
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hearth (go build ./cmd/node in the repository root):", err)
		return 1
	}
	return m.Run()
}

// lockedBuffer collects a process's stderr for failure messages.
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

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startHearth starts hearth with open registration and no rate limit on
// loopback ports, and returns its client base URL and server name. The
// process is killed when the test ends; its log is printed if the test failed.
func startHearth(t *testing.T) (baseURL, serverName string) {
	t.Helper()
	fedPort := freePort(t)
	serverName = fmt.Sprintf("127.0.0.1:%d", fedPort)
	cmd := exec.Command(hearthBin, "serve", "--data", t.TempDir(),
		"--server-name", serverName,
		"--client-listen", "127.0.0.1:0",
		"--federation-listen", serverName,
		"--registration", "open", "--rate-limit", "0")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() || os.Getenv("HEARTH_LOG") != "" {
			t.Logf("hearth log:\n%s", stderr)
		}
	})
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
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("hearth exited before listening:\n%s", stderr)
		}
		// hearth listening: client URL federation URL server_name NAME
		f := strings.Fields(line)
		if len(f) != 8 || f[2] != "client" {
			t.Fatalf("unexpected listening line %q", line)
		}
		baseURL = f[3]
	case <-time.After(30 * time.Second):
		t.Fatalf("hearth did not start in 30 s:\n%s", stderr)
	}
	return baseURL, serverName
}
