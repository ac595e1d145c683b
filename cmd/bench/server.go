package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one homeserver under test: either a process the benchmark
// started (cmd is set, and pid names it) or a URL given on the command line
// (pid is whatever -pid said, 0 for unknown).
type server struct {
	name string
	url  string
	pid  int

	// newCmd builds the command that starts the server with its data
	// directory; nil for a server the benchmark did not start.
	newCmd  func() *exec.Cmd
	cmd     *exec.Cmd
	logPath string
	// serverName is the Matrix server name of a node started for the
	// federation phase.
	serverName string
	exited     chan struct{}
	waitErr    error

	// set up by the benchmark
	senders []*client
	reader  *client
	big     *client
	oneRoom string
	rooms   []string
	syncer  *syncer
}

// freePort asks the kernel for a free loopback TCP port. The port is free
// when this returns; the server binds it a moment later.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newHearth prepares a hearth server with a fresh data directory under dir.
func newHearth(bin, dir string) (*server, error) {
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	fport, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "hearth-data")
	name := fmt.Sprintf("127.0.0.1:%d", fport)
	s := &server{name: "hearth", url: fmt.Sprintf("http://127.0.0.1:%d", cport), logPath: filepath.Join(dir, "hearth.log")}
	s.newCmd = func() *exec.Cmd {
		return exec.Command(bin, "serve", "--data", data, "--server-name", name,
			"--client-listen", fmt.Sprintf("127.0.0.1:%d", cport),
			"--federation-listen", fmt.Sprintf("127.0.0.1:%d", fport),
			"--registration", "open", "--rate-limit", "0", "--log-level", "warn")
	}
	return s, nil
}

// newDendrite prepares a Dendrite server with a fresh data directory under
// dir, configured by tools/dendrite/dendrite.sh (which builds Dendrite into
// its cache first if needed).
func newDendrite(ctx context.Context, script, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "dendrite-data")
	cmd := exec.CommandContext(ctx, "sh", script, "config", data, strconv.Itoa(port))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s config: %w\n%s", script, err, stderr.String())
	}
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	args := strings.Fields(line)
	if len(args) == 0 {
		return nil, fmt.Errorf("%s config printed no command", script)
	}
	s := &server{name: "Dendrite", url: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(dir, "dendrite.log")}
	s.newCmd = func() *exec.Cmd {
		c := exec.Command(args[0], args[1:]...)
		c.Dir = data // Dendrite resolves its key and database paths from here
		return c
	}
	return s, nil
}

// start starts the server's process and returns the time from starting it
// until GET /_matrix/client/versions answers 200.
func (s *server) start(ctx context.Context) (time.Duration, error) {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := s.newCmd()
	cmd.Stdout, cmd.Stderr = logf, logf
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", s.name, err)
	}
	s.cmd, s.pid, s.exited = cmd, cmd.Process.Pid, make(chan struct{})
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	deadline := time.After(60 * time.Second)
	for {
		resp, err := hc.Get(s.url + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		select {
		case <-s.exited:
			return 0, fmt.Errorf("%s exited before serving (%v); see %s", s.name, s.waitErr, s.logPath)
		case <-deadline:
			return 0, fmt.Errorf("%s did not answer /_matrix/client/versions within 60 s; see %s", s.name, s.logPath)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// stop ends the server's process: SIGTERM, then SIGKILL after 15 s.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.resume()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// pause stops a started server's process (SIGSTOP) while another server
// is measured, so that none of its work (such as a backlog it queued during
// its own phase) runs on the shared cores then. A server measured through
// -url is never paused.
func (s *server) pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// resume continues a paused server (SIGCONT); it does nothing to one that
// runs.
func (s *server) resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// alive reports an error if a started server's process has exited.
func (s *server) alive() error {
	if s.exited == nil {
		return nil
	}
	select {
	case <-s.exited:
		return fmt.Errorf("%s exited (%v); see %s", s.name, s.waitErr, s.logPath)
	default:
		return nil
	}
}

// memory returns the process's resident set (VmRSS) and its peak (VmHWM)
// in bytes, from /proc/PID/status.
func memory(pid int) (rss, hwm int64, err error) {
	if pid == 0 {
		return 0, 0, errors.New("no process ID")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "1234 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, k, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n * 1024
		} else {
			hwm = n * 1024
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS/VmHWM", pid)
	}
	return rss, hwm, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time the process has used, from
// /proc/PID/stat, or 0 when the process is unknown.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// Settling: a server may still be working after its phase has ended (one
// that acknowledges sends before processing them, as Dendrite does through
// its queues, works through the backlog afterwards). Each phase first waits
// until every server is idle, so that no server's leftover work runs during
// another's measurement.
const (
	settleWindow = 250 * time.Millisecond
	settleIdle   = settleWindow / 10 // CPU time per window below which a server counts as idle (10% of a core)
	maxSettle    = 10 * time.Second
)

// settle waits until every server with a known process used less than
// settleIdle of CPU in one settleWindow, for at most maxSettle. It returns
// the names of the servers still busy then.
func settle(ctx context.Context, servers []*server) []string {
	deadline := time.Now().Add(maxSettle)
	for {
		before := make([]time.Duration, len(servers))
		for i, s := range servers {
			before[i] = cpuTime(s.pid)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(settleWindow):
		}
		var busy []string
		for i, s := range servers {
			if s.pid != 0 && cpuTime(s.pid)-before[i] >= settleIdle {
				busy = append(busy, s.name)
			}
		}
		if len(busy) == 0 || time.Now().After(deadline) {
			return busy
		}
	}
}
