// Package nio_test runs tests/nio/nio_test.py, an end-to-end check of
// hearth's client-server API with matrix-nio (a Python Matrix client),
// against a real hearth process.
//
// It needs Debian's /usr/bin/python3 with python3-matrix-nio installed, and
// fails (never skips) without them.
package nio_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const python = "/usr/bin/python3"

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

// repoRoot is the directory of the main module, two levels up.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "node")); err != nil {
		t.Fatalf("repository root %s has no cmd/node: %v", root, err)
	}
	return root
}

// requireNio fails the test unless Debian's python3 can import nio.
func requireNio(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: install Debian's python3 and python3-matrix-nio (apt-get install -y python3-matrix-nio): %v", python, err)
	}
	out, err := exec.Command(python, "-c", "import nio").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import nio: install Debian's python3-matrix-nio (apt-get install -y python3-matrix-nio): %v\n%s", python, err, out)
	}
}

// startHearth builds hearth and starts it with open registration on loopback
// ports; it returns the client base URL. The process is killed when the test
// ends, and its log printed if the test failed.
func startHearth(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hearth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/node")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hearth: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverName := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--data", t.TempDir(),
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
		if t.Failed() {
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
		return f[3]
	case <-time.After(30 * time.Second):
		t.Fatalf("hearth did not start in 30 s:\n%s", stderr)
	}
	return ""
}

func TestNio(t *testing.T) {
	requireNio(t)
	root := repoRoot(t)
	baseURL := startHearth(t, root)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join(root, "tests", "nio", "nio_test.py"), baseURL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("nio_test.py:\n%s", out.String())
	if ctx.Err() != nil {
		t.Fatalf("nio_test.py did not finish in time")
	}
	if err != nil {
		t.Fatalf("nio_test.py failed: %v", err)
	}
	if !strings.Contains(out.String(), "checks passed") {
		t.Fatal("nio_test.py printed no result line")
	}
}
