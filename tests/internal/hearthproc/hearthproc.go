// Package hearthproc builds hearth and runs it as a real process for the
// end-to-end test suites (tests/nio, tests/crash, tests/jssdk, ...): one
// build per test binary, `hearth serve` on free 127.0.0.1 ports, a wait for
// the "hearth listening" line and for /_matrix/client/versions, and
// Stop/Kill/Restart. Only tests import it.
package hearthproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Main runs the tests of m and then removes the binary that Binary built.
// Call it from TestMain: os.Exit(hearthproc.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// Binary returns the path of a hearth binary built from ./cmd/node of the
// main module (found as the first go.mod above the working directory whose
// module is "hearth"), building it on the first call of the test binary.
// A failed build fails t.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildBin, buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func build() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if buildDir, err = os.MkdirTemp("", "hearthproc-"); err != nil {
		return "", err
	}
	bin := filepath.Join(buildDir, "hearth")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/node")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("hearthproc: go build ./cmd/node in %s: %v\n%s", root, err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory of the main module's go.mod ("module
// hearth") above the working directory, so that suites in nested modules
// find it too.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module hearth\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hearthproc: no go.mod of module hearth above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Options configure Start. The zero value is an open-registration server
// without rate limits, named after its federation address 127.0.0.1:<free
// port>, on a fresh data directory.
type Options struct {
	// DataDir is the data directory; "" means a new t.TempDir().
	DataDir string
	// ServerName is the server name; "" means the federation address.
	ServerName string
	// FederationPort is the federation port on 127.0.0.1; 0 means a free one.
	FederationPort int
	// LogLevel is --log-level; "" leaves hearth's default.
	LogLevel string
	// LogDir receives the log file (hearth's standard error); "" means a
	// new t.TempDir().
	LogDir string
	// Args are extra flags for `hearth serve`.
	Args []string
	// Graceful makes the test's cleanup stop hearth with SIGTERM and report
	// an error if it had exited during the test or does not exit cleanly;
	// otherwise cleanup kills it.
	Graceful bool
	// StartTimeout bounds the wait for the listening line; 0 means 90 s.
	StartTimeout time.Duration
}

// Proc is one running hearth process.
type Proc struct {
	t    testing.TB
	opts Options

	// ClientURL is the client-server API base URL, like http://127.0.0.1:1234.
	ClientURL string
	// FederationPort is the federation listener's port on 127.0.0.1.
	FederationPort int
	// ServerName is the server's name.
	ServerName string
	// DataDir is the data directory.
	DataDir string

	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error // Wait's result, once exited is closed
	stopped bool  // Stop or Kill ended it on purpose
}

// Start starts hearth with opts and waits until it answers
// /_matrix/client/versions. It is stopped when the test ends, and the tail
// of its log is printed if the test failed (or HEARTH_LOG is set).
func Start(t testing.TB, opts Options) *Proc {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.LogDir == "" {
		opts.LogDir = t.TempDir()
	}
	if opts.FederationPort == 0 {
		opts.FederationPort = FreePort(t)
	}
	if opts.ServerName == "" {
		opts.ServerName = "127.0.0.1:" + strconv.Itoa(opts.FederationPort)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 90 * time.Second
	}
	p := &Proc{t: t, opts: opts, FederationPort: opts.FederationPort, ServerName: opts.ServerName, DataDir: opts.DataDir}
	p.start()
	t.Cleanup(p.cleanup)
	return p
}

// start runs the process and waits until it is ready.
func (p *Proc) start() {
	t := p.t
	t.Helper()
	logFile, err := os.CreateTemp(p.opts.LogDir, "hearth-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := []string{"serve", "--data", p.DataDir, "--server-name", p.ServerName,
		"--client-listen", "127.0.0.1:0",
		"--federation-listen", "127.0.0.1:" + strconv.Itoa(p.FederationPort),
		"--registration", "open", "--rate-limit", "0"}
	if p.opts.LogLevel != "" {
		args = append(args, "--log-level", p.opts.LogLevel)
	}
	cmd := exec.Command(Binary(t), append(args, p.opts.Args...)...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hearth: %v", err)
	}
	p.cmd, p.logPath, p.exited, p.err, p.stopped = cmd, logFile.Name(), make(chan struct{}), nil, false
	lines := make(chan string, 1)
	go func() {
		// Read to the end so that hearth never blocks on a full pipe.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "hearth listening:") {
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	exited := p.exited
	go func() {
		p.err = cmd.Wait()
		close(exited)
	}()
	select {
	case line := <-lines:
		// hearth listening: client URL federation URL server_name NAME
		f := strings.Fields(line)
		if len(f) != 8 || f[2] != "client" || !strings.HasPrefix(f[3], "http://127.0.0.1:") {
			p.Kill()
			t.Fatalf("unexpected listening line %q", line)
		}
		p.ClientURL = f[3]
	case <-exited:
		t.Fatalf("hearth exited before listening: %v\n%s", p.err, p.LogTail(60))
	case <-time.After(p.opts.StartTimeout):
		p.Kill()
		t.Fatalf("hearth did not print its listening line within %v\n%s", p.opts.StartTimeout, p.LogTail(60))
	}
	if err := p.waitVersions(30 * time.Second); err != nil {
		p.Kill()
		t.Fatalf("hearth at %s: %v\n%s", p.ClientURL, err, p.LogTail(60))
	}
}

// waitVersions waits until GET /_matrix/client/versions answers 200.
func (p *Proc) waitVersions(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(p.ClientURL + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /_matrix/client/versions: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	if !p.Alive() {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop ends the process with SIGTERM, waits up to 30 s (then kills it) and
// returns its exit error: nil after a clean shutdown.
func (p *Proc) Stop() error {
	if !p.Alive() {
		return p.err
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		p.Kill()
		return errors.New("hearth did not stop within 30 s of SIGTERM")
	}
}

// Restart kills the process if it still runs and starts it again on the
// same data directory, server name and federation port; ClientURL changes.
func (p *Proc) Restart() {
	p.t.Helper()
	p.Kill()
	p.start()
}

// LogTail returns the last n lines of the current process's log.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", p.logPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogPath is the file holding the current process's log.
func (p *Proc) LogPath() string { return p.logPath }

// cleanup ends the process when the test ends.
func (p *Proc) cleanup() {
	if p.opts.Graceful {
		switch {
		case p.Alive():
			if err := p.Stop(); err != nil {
				p.t.Errorf("hearth exited with %v after SIGTERM\n%s", err, p.LogTail(30))
			}
		case !p.stopped:
			p.t.Errorf("hearth exited during the test: %v\n%s", p.err, p.LogTail(60))
		}
	} else {
		p.Kill()
	}
	if p.t.Failed() || os.Getenv("HEARTH_LOG") != "" {
		p.t.Logf("hearth log %s (last lines):\n%s", p.logPath, p.LogTail(200))
	}
}
