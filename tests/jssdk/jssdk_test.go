// Package jssdk_test runs matrix-js-sdk, under Node, against a real hearth
// process: registration, rooms, 100 messages through /sync and /messages,
// typing, read receipts and end-to-end encryption (test.mjs beside this file).
//
// It needs node on the PATH and the npm packages installed beside it:
//
//	npm ci --prefix tests/jssdk
package jssdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"hearth/tests/internal/hearthproc"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(hearthproc.Main(m)) }

// runTimeout bounds the whole script; it normally takes about 25 s.
const runTimeout = 3 * time.Minute

func TestMatrixJSSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on the PATH (Debian: apt-get install nodejs npm): %v", err)
	}
	checkModules(t)
	hearth := hearthproc.Start(t, hearthproc.Options{LogLevel: "debug", Graceful: true})
	url := hearth.ClientURL

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
		t.Fatalf("test.mjs did not finish within %v\nhearth log (last lines):\n%s", runTimeout, hearth.LogTail(60))
	}
	if err != nil {
		t.Fatalf("test.mjs failed: %v\nhearth log (last lines):\n%s", err, hearth.LogTail(60))
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
