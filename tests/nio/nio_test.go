// Package nio_test runs tests/nio/nio_test.py, an end-to-end check of
// hearth's client-server API with matrix-nio (a Python Matrix client),
// against a real hearth process.
//
// It needs Debian's /usr/bin/python3 with python3-matrix-nio installed, and
// fails (never skips) without them.
package nio_test

import (
	"bytes"
	"context"
	"hearth/tests/internal/hearthproc"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const python = "/usr/bin/python3"

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

func TestMain(m *testing.M) { os.Exit(hearthproc.Main(m)) }

func TestNio(t *testing.T) {
	requireNio(t)
	root := repoRoot(t)
	baseURL := hearthproc.Start(t, hearthproc.Options{}).ClientURL

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
