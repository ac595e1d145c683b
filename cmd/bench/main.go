// Command bench measures a Matrix homeserver through the client-server API
// and compares hearth with Dendrite side by side.
//
// Usage:
//
//	bench -compare                  start hearth and Dendrite (fresh data, free ports) and compare them
//	bench -start hearth             start and measure only hearth (or -start dendrite)
//	bench -url http://HOST:PORT     measure a running homeserver with open registration
//	                                (-pid PID adds its memory and CPU figures)
//
// For each server it registers users (m.login.dummy user-interactive
// authentication) and creates rooms, then measures: messages per second with
// 1, 8 and 32 concurrent senders into one room and spread over 8 rooms, with
// send latency p50/p99 and server CPU per message; the latency from a send
// until the event arrives in another user's long-polling /sync, one message at
// a time and under load; resident memory at idle and at peak (VmRSS and VmHWM
// from /proc/PID/status); the time from starting the process to answering
// /_matrix/client/versions, fresh and restarted with data; and the time of an
// initial /sync for a user in 500 rooms. With two servers it runs each phase
// on one and then the other, alternating which goes first, and prints a
// table with the ratio of the first to the second. It also reports the size
// of web/hearth.wasm raw, gzipped and (with Debian's brotli command) brotli'd.
//
// When it starts hearth it also starts two more hearth nodes that federate
// on loopback (-federation, on by default; -federation-only runs just this):
// a user on node B joins a room of node A by its alias, then a message sent
// on A is timed until B's long-polling /sync returns it, one at a time
// (p50/p99), and the same from B to A. Two federating Dendrites are not
// measured ("hearth only").
//
// The servers must be reachable only on loopback; the benchmark never talks
// to anything else. It uses only the standard library.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

type options struct {
	compare  bool
	start    string
	url      string
	pid      int
	hearth   string
	script   string
	wasm     string
	phase    time.Duration
	rooms    int
	out      string
	maxTotal time.Duration
	keep     bool
	fed      bool
	fedOnly  bool
	loads    string
	cpuProf  string
}

func main() {
	var o options
	flag.BoolVar(&o.compare, "compare", false, "start hearth and Dendrite and compare them (same as -start hearth,dendrite)")
	flag.StringVar(&o.start, "start", "", "comma-separated servers to start: hearth, dendrite")
	flag.StringVar(&o.url, "url", "", "measure the running homeserver at this client API URL instead of starting one")
	flag.IntVar(&o.pid, "pid", 0, "with -url: the server's process ID, for its memory and CPU figures")
	flag.StringVar(&o.hearth, "hearth", "", "hearth binary to start (default: go build ./cmd/node into a temporary directory)")
	flag.StringVar(&o.script, "dendrite-script", "tools/dendrite/dendrite.sh", "script that builds and configures Dendrite")
	flag.StringVar(&o.wasm, "wasm", "web/hearth.wasm", "browser module whose size to report (built from ./cmd/wasm if missing)")
	flag.DurationVar(&o.phase, "phase", 6*time.Second, "length of each measuring phase (at most 20s)")
	flag.IntVar(&o.rooms, "rooms", 500, "rooms of the user whose initial sync is timed (0 skips that phase)")
	flag.StringVar(&o.loads, "loads", "1,8,32,1s,8s,32s", "load phases to run: senders into one room (8), or spread over 8 rooms (8s)")
	flag.StringVar(&o.out, "out", "", "also write the report (Markdown) to this file")
	flag.DurationVar(&o.maxTotal, "max", 15*time.Minute, "abort the whole run after this long")
	flag.BoolVar(&o.keep, "keep", false, "keep the servers' data directories and logs")
	flag.BoolVar(&o.fed, "federation", true, "when hearth is started, also start two federating hearth nodes and measure send-to-sync between them")
	flag.BoolVar(&o.fedOnly, "federation-only", false, "run only the two-node federation phase (needs hearth among -start)")
	flag.StringVar(&o.cpuProf, "cpuprofile", "", "write the load generator's own CPU profile to this file")
	flag.Parse()
	if err := runProfiled(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runProfiled is run, with the load generator's own CPU profile written
// when -cpuprofile asks for it.
func runProfiled(o options) error {
	if o.cpuProf == "" {
		return run(o)
	}
	stop, err := profileCPU(o.cpuProf)
	if err != nil {
		return err
	}
	defer stop()
	return run(o)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(o options) error {
	if o.phase <= 0 || o.phase > 20*time.Second {
		return errors.New("-phase must be between 0 and 20s")
	}
	if o.compare {
		o.start = "hearth,dendrite"
	}
	if (o.start == "") == (o.url == "") {
		return errors.New("give exactly one of -compare, -start or -url")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.maxTotal)
	defer cancel()
	began := time.Now()

	tmp, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("data directories and logs in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	var servers []*server
	hearthBin := ""
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	if o.url != "" {
		servers = append(servers, &server{name: "server", url: strings.TrimRight(o.url, "/"), pid: o.pid})
	} else {
		for _, name := range strings.Split(o.start, ",") {
			switch strings.TrimSpace(name) {
			case "hearth":
				bin := o.hearth
				if bin == "" {
					bin = filepath.Join(tmp, "hearth")
					// As make build does: a static binary, without libc.
					logf("building hearth (CGO_ENABLED=0 go build ./cmd/node)")
					if err := goBuild(ctx, bin, "./cmd/node", []string{"CGO_ENABLED=0"}); err != nil {
						return err
					}
				}
				hearthBin = bin
				s, err := newHearth(bin, tmp)
				if err != nil {
					return err
				}
				servers = append(servers, s)
			case "dendrite":
				logf("preparing Dendrite (%s builds it into its cache the first time, about 4 minutes)", o.script)
				s, err := newDendrite(ctx, o.script, tmp)
				if err != nil {
					return err
				}
				servers = append(servers, s)
			default:
				return fmt.Errorf("-start: unknown server %q (hearth, dendrite)", name)
			}
		}
	}
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.name
	}
	res := newResults(names)

	if !o.fedOnly {
		if err := measure(ctx, o, servers, res); err != nil {
			return err
		}
	}
	if err := measureFederation(ctx, o, hearthBin, tmp, servers, res); err != nil {
		return err
	}

	var report bytes.Buffer
	writeReport(&report, o, res, servers, time.Since(began))
	if !o.fedOnly {
		report.WriteString("\n")
		writeWasm(ctx, &report, o.wasm, tmp)
	}
	if !o.fedOnly && len(servers) == 2 && servers[0].name == "hearth" && servers[1].name == "Dendrite" {
		report.WriteString("\n")
		writeTargets(&report, res)
	}
	os.Stdout.Write(report.Bytes())
	if o.out != "" {
		if err := os.WriteFile(o.out, report.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measure runs every single-server phase on each server, alternating which
// goes first.
func measure(ctx context.Context, o options, servers []*server, res *results) error {
	var err error
	// each runs a phase on every server, alternating which goes first.
	phaseNo := 0
	each := func(what string, f func(s *server) error) error {
		order := servers
		if phaseNo%2 == 1 {
			order = make([]*server, len(servers))
			for i, s := range servers {
				order[len(servers)-1-i] = s
			}
		}
		phaseNo++
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%s: the run took longer than -max %v", what, o.maxTotal)
			}
			if busy := settle(ctx, servers); len(busy) > 0 {
				res.note("before %q on %s, still busy after %v: %s", what, s.name, maxSettle, strings.Join(busy, ", "))
			}
			logf("%-8s %s", s.name, what)
			for _, other := range servers {
				if other != s {
					other.pause()
				}
			}
			// Write back what any server left in the page cache, so that
			// the kernel does not write it during this phase, delaying
			// the measured server's syncs on the same disk.
			syscall.Sync()
			err := f(s)
			for _, other := range servers {
				other.resume()
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", s.name, what, err)
			}
			if err := s.alive(); err != nil {
				return err
			}
		}
		return nil
	}

	const startFresh = "start to serving /versions, fresh data"
	err = each("start", func(s *server) error {
		if s.newCmd == nil {
			res.setNote(startFresh, "ms", false, s.name, "not started here")
			return nil
		}
		d, err := s.start(ctx)
		if err != nil {
			return err
		}
		res.setDuration(startFresh, s.name, d)
		return nil
	})
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // let both settle before reading idle memory
	const idleRSS = "RSS at idle (after start)"
	for _, s := range servers {
		if rss, _, err := memory(s.pid); err == nil {
			res.set(idleRSS, "MiB", false, s.name, mib(rss))
		} else {
			res.setNote(idleRSS, "MiB", false, s.name, "unknown: "+err.Error())
		}
	}

	if err := each("setup: users, rooms, joins", func(s *server) error { return setup(ctx, s) }); err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			if s.syncer != nil {
				s.syncer.close()
			}
		}
	}()

	const pp = "send-to-sync, one at a time"
	err = each("send-to-sync latency, one message at a time", func(s *server) error {
		lats, err := pingPong(ctx, s, o.phase, "pp")
		if err != nil {
			return err
		}
		res.setDuration(pp+", p50", s.name, percentile(lats, 50))
		res.setDuration(pp+", p99", s.name, percentile(lats, 99))
		return nil
	})
	if err != nil {
		return err
	}

	for _, spread := range []bool{false, true} {
		for _, n := range []int{1, 8, 32} {
			if !o.wantLoad(n, spread) {
				continue
			}
			where := "1 room"
			if spread {
				where = fmt.Sprintf("%d rooms", numSpreadRooms)
			}
			label := fmt.Sprintf("%d sender(s), %s", n, where)
			tag := fmt.Sprintf("load%d%v", n, spread)
			err := each("load: "+label, func(s *server) error {
				r := load(ctx, s, n, spread, o.phase, tag, n == 8)
				if r.sent == 0 {
					return fmt.Errorf("no message was sent (%d errors, first: %v)", r.errs, r.firstErr)
				}
				if r.errs > 0 {
					res.note("%s, %s: %d of %d sends failed; first: %v", s.name, label, r.errs, r.errs+r.sent, r.firstErr)
				}
				res.set("msgs/s, "+label, "msg/s", true, s.name, float64(r.sent)/r.elapsed.Seconds())
				res.setDuration("send p50, "+label, s.name, percentile(r.latencies, 50))
				res.setDuration("send p99, "+label, s.name, percentile(r.latencies, 99))
				if r.cpu > 0 {
					res.set("server CPU per message, "+label, "us", false, s.name,
						float64(r.cpu)/float64(time.Microsecond)/float64(r.sent))
				}
				if n == 8 {
					p50, p99 := "send-to-sync p50 under load, "+label, "send-to-sync p99 under load, "+label
					if len(r.toSync) == 0 {
						res.setNote(p50, "ms", false, s.name, "none arrived")
						res.setNote(p99, "ms", false, s.name, "none arrived")
					} else {
						res.setDuration(p50, s.name, percentile(r.toSync, 50))
						res.setDuration(p99, s.name, percentile(r.toSync, 99))
					}
					if len(r.toSync) < r.sent {
						res.note("%s, %s: the reader's sync saw %d of %d messages within 10 s of the end",
							s.name, label, len(r.toSync), r.sent)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}

	if o.rooms > 0 {
		if err := measureInitialSync(ctx, o, each, res); err != nil {
			return err
		}
	}

	const peak = "RSS peak (VmHWM, whole run)"
	for _, s := range servers {
		if _, hwm, err := memory(s.pid); err == nil {
			res.set(peak, "MiB", false, s.name, mib(hwm))
		} else {
			res.setNote(peak, "MiB", false, s.name, "unknown")
		}
	}
	for _, s := range servers {
		if s.syncer != nil {
			s.syncer.close()
			if s.syncer.errs > 0 {
				res.note("%s: the reader's sync failed %d times; last: %v", s.name, s.syncer.errs, s.syncer.lastErr)
			}
			s.syncer = nil
		}
	}

	const restart = "start to serving /versions, restart with data"
	err = each("restart", func(s *server) error {
		if s.newCmd == nil {
			res.setNote(restart, "ms", false, s.name, "not started here")
			return nil
		}
		s.stop()
		d, err := s.start(ctx)
		if err != nil {
			return err
		}
		res.setDuration(restart, s.name, d)
		return nil
	})
	if err != nil {
		return err
	}
	return nil
}

// measureInitialSync has one user create o.rooms rooms and times that
// user's initial sync, on each server.
func measureInitialSync(ctx context.Context, o options, each func(string, func(*server) error) error, res *results) error {
	err := each(fmt.Sprintf("setup: one user creates %d rooms", o.rooms), func(s *server) error {
		t0 := time.Now()
		if err := makeBigRooms(ctx, s, o.rooms); err != nil {
			return err
		}
		d := time.Since(t0)
		logf("%-8s   %d rooms in %v", s.name, o.rooms, d.Round(time.Millisecond))
		res.set(fmt.Sprintf("rooms created per second (setup of the %d rooms, 8 at a time)", o.rooms), "rooms/s", true,
			s.name, float64(o.rooms)/d.Seconds())
		return nil
	})
	if err != nil {
		return err
	}
	isName := fmt.Sprintf("initial sync, %d rooms", o.rooms)
	err = each("initial sync", func(s *server) error {
		ds, size, err := initialSync(ctx, s, o.phase)
		if err != nil {
			return err
		}
		res.setDuration(isName+", first", s.name, ds[0])
		const again = ", best of the next ones (up to 2)"
		if len(ds) > 1 {
			res.setDuration(isName+again, s.name, minDuration(ds[1:]))
		} else {
			res.setNote(isName+again, "ms", false, s.name, "no time left in the phase")
		}
		res.set(isName+", response size", "KiB", false, s.name, float64(size)/1024)
		return nil
	})
	return err
}

// wantLoad reports whether -loads names the load phase of n senders, into
// one room or spread over the rooms.
func (o options) wantLoad(n int, spread bool) bool {
	name := fmt.Sprint(n)
	if spread {
		name += "s"
	}
	for _, l := range strings.Split(o.loads, ",") {
		if strings.TrimSpace(l) == name {
			return true
		}
	}
	return false
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func minDuration(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds[1:] {
		m = min(m, d)
	}
	return m
}

func goBuild(ctx context.Context, out, pkg string, env []string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// writeReport writes the machine, the command, the date and the table.
func writeReport(w io.Writer, o options, res *results, servers []*server, took time.Duration) {
	fmt.Fprintf(w, "Date: %s. Command: `%s` (took %v).\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		strings.Join(append([]string{"bench"}, os.Args[1:]...), " "), took.Round(time.Second))
	fmt.Fprintf(w, "Machine: %s.\n\n", machine())
	fmt.Fprintf(w, "Each phase ran %v per server; the client (this program) shares the machine's cores with the servers.\n\n", o.phase)
	res.writeTable(w)
}

// machine describes the CPU count, the CPU model and the memory.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown memory"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				mem = fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (nproc), %s, %s, %s/%s, %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// writeWasm reports the browser module's size raw, gzipped (level 9) and,
// when Debian's brotli command is installed, brotli'd (quality 11).
func writeWasm(ctx context.Context, w io.Writer, path, tmp string) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, statErr := os.Stat("cmd/wasm"); statErr == nil {
			built := filepath.Join(tmp, "hearth.wasm")
			logf("%s is missing: building ./cmd/wasm for js/wasm", path)
			if err = goBuild(ctx, built, "./cmd/wasm", []string{"GOOS=js", "GOARCH=wasm"}); err == nil {
				path = built
				raw, err = os.ReadFile(built)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(w, "Browser module: unknown (%v).\n", err)
		return
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	br := "brotli: the brotli command is not installed (apt-get install brotli)"
	if bin, err := exec.LookPath("brotli"); err == nil {
		out, err := exec.CommandContext(ctx, bin, "-c", "-q", "11", path).Output()
		if err != nil {
			br = "brotli: " + err.Error()
		} else {
			br = fmt.Sprintf("brotli -q 11 %s", mb(len(out)))
		}
	}
	fmt.Fprintf(w, "Browser module %s: raw %s, gzip -9 %s, %s.\n", filepath.Base(path), mb(len(raw)), mb(gz.Len()), br)
	wasmGzip = gz.Len()
}

// wasmGzip is the gzipped size of the browser module, for the targets.
var wasmGzip int

func mb(n int) string { return fmt.Sprintf("%.2f MB (%d bytes)", float64(n)/1e6, n) }

// writeTargets judges the targets against this run's figures.
func writeTargets(w io.Writer, res *results) {
	fmt.Fprintf(w, "| target | measured | |\n|---|---|---|\n")
	line := func(target, measured string, met bool) {
		verdict := "missed"
		if met {
			verdict = "met"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", target, measured, verdict)
	}
	for _, where := range []string{"1 room", fmt.Sprintf("%d rooms", numSpreadRooms)} {
		name := "msgs/s, 8 sender(s), " + where
		h, okH := res.get(name, "hearth")
		d, okD := res.get(name, "Dendrite")
		if okH && okD && d > 0 {
			line("≥ 100× Dendrite's msgs/s with 8 senders ("+where+")",
				fmt.Sprintf("%s (%.0f vs %.0f msg/s)", ratio(h, d), h, d), h/d >= 100)
		}
	}
	abs := func(target, name string, limit float64) {
		h, okH := res.get(name, "hearth")
		d, okD := res.get(name, "Dendrite")
		if !okH {
			return
		}
		m := formatValue(h, res.byName[name].unit)
		if okD {
			m += fmt.Sprintf("; Dendrite %s, ratio %s", formatValue(d, res.byName[name].unit), ratio(h, d))
		}
		line(target, m, h < limit)
	}
	abs("send p99 < 10 ms at 8 senders (1 room)", "send p99, 8 sender(s), 1 room", 10)
	abs("send p99 < 10 ms at 8 senders (8 rooms)", "send p99, 8 sender(s), 8 rooms", 10)
	abs("send-to-sync p99 < 20 ms (one at a time)", "send-to-sync, one at a time, p99", 20)
	abs("send-to-sync p99 < 20 ms (under 8 senders' load, 1 room)", "send-to-sync p99 under load, 8 sender(s), 1 room", 20)
	abs("idle RSS ≤ 20 MiB", "RSS at idle (after start)", 20.0000001)
	abs("start to serving < 100 ms (fresh data)", "start to serving /versions, fresh data", 100)
	if wasmGzip > 0 {
		line("wasm ≤ 3 MB gzip", fmt.Sprintf("%s gzip", mb(wasmGzip)), wasmGzip <= 3_000_000)
	}
}

// profileCPU starts profiling this process's CPU use into path, so that
// the load generator's own cost can be checked; the returned function
// stops it.
func profileCPU(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
