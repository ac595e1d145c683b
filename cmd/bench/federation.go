package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"time"
)

// fedResult is what the two-node federation phase measured.
type fedResult struct {
	join       time.Duration   // B's join by alias, through A's federation API
	aToB, bToA []time.Duration // send-to-sync latencies, one message at a time
	errAB      error           // why A→B stopped early, if it did
	errBA      error
}

// federation starts two hearth nodes (fresh data, free ports, federating on
// loopback with TLS verification off), registers a user on each, has user A
// create a public room with an alias and user B join it by that alias, then
// has A send one message at a time and measures until B's long-polling /sync
// returns it, for at most d or 1000 messages; then the same from B to A.
func federation(ctx context.Context, bin, dir string, d time.Duration) (fedResult, error) {
	var r fedResult
	a, err := newHearthNode(bin, dir, "fed-a")
	if err != nil {
		return r, err
	}
	b, err := newHearthNode(bin, dir, "fed-b")
	if err != nil {
		return r, err
	}
	defer a.stop()
	defer b.stop()
	for _, s := range []*server{a, b} {
		if _, err := s.start(ctx); err != nil {
			return r, err
		}
	}
	ua, err := register(ctx, a.url, "bench"+runID+"_fed_a")
	if err != nil {
		return r, fmt.Errorf("node A: %w", err)
	}
	ub, err := register(ctx, b.url, "bench"+runID+"_fed_b")
	if err != nil {
		return r, fmt.Errorf("node B: %w", err)
	}
	aliasLocal := "benchfed" + runID
	var created struct {
		RoomID string `json:"room_id"`
	}
	body := map[string]any{"preset": "public_chat", "name": "bench federation room", "room_alias_name": aliasLocal}
	if _, err := ua.do(ctx, "POST", "/_matrix/client/v3/createRoom", body, &created); err != nil {
		return r, fmt.Errorf("node A: %w", err)
	}
	if created.RoomID == "" {
		return r, errors.New("node A: createRoom: no room_id in the answer")
	}
	alias := "#" + aliasLocal + ":" + a.serverName
	t0 := time.Now()
	var joined struct {
		RoomID string `json:"room_id"`
	}
	if _, err := ub.do(ctx, "POST", "/_matrix/client/v3/join/"+url.PathEscape(alias), map[string]any{}, &joined); err != nil {
		return r, fmt.Errorf("node B: joining %s over federation: %w (logs: %s, %s)", alias, err, a.logPath, b.logPath)
	}
	r.join = time.Since(t0)
	if joined.RoomID != created.RoomID {
		return r, fmt.Errorf("node B joined %q, but A created %q", joined.RoomID, created.RoomID)
	}
	logf("federation: B joined %s (%s) in %v", alias, created.RoomID, r.join.Round(time.Millisecond))

	direction := func(from, to *client, toSrv *server, tag string) ([]time.Duration, error) {
		sy, err := startSyncer(ctx, to)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", toSrv.name, err)
		}
		defer sy.close()
		lats, err := pingPongWith(ctx, from, created.RoomID, sy, d, tag, 10*time.Second)
		if err == nil && len(lats) == 0 {
			err = errors.New("no message measured")
		}
		return lats, err
	}
	// A→B first: B's membership must have reached A (it has: A's server
	// accepted the join), and A's sends fan out to B.
	logf("federation: A sends, B's sync receives, one at a time for %v", d)
	r.aToB, r.errAB = direction(ua, ub, b, "fedab")
	if err := a.alive(); err != nil {
		return r, err
	}
	if err := b.alive(); err != nil {
		return r, err
	}
	logf("federation: B sends, A's sync receives, one at a time for %v", d)
	r.bToA, r.errBA = direction(ub, ua, a, "fedba")
	return r, nil
}

// newHearthNode prepares a hearth node that federates with others on
// loopback: its data directory is dir/tag, its server name 127.0.0.1:FPORT.
func newHearthNode(bin, dir, tag string) (*server, error) {
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	fport, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, tag+"-data")
	name := fmt.Sprintf("127.0.0.1:%d", fport)
	s := &server{name: "hearth " + tag, url: fmt.Sprintf("http://127.0.0.1:%d", cport),
		logPath: filepath.Join(dir, tag+".log"), serverName: name}
	s.newCmd = func() *exec.Cmd {
		return exec.Command(bin, "serve", "--data", data, "--server-name", name,
			"--client-listen", fmt.Sprintf("127.0.0.1:%d", cport),
			"--federation-listen", name,
			"--federation-allow-private", "--federation-tls-skip-verify",
			"--registration", "open", "--rate-limit", "0", "--log-level", "warn")
	}
	return s, nil
}

// measureFederation runs the federation phase when hearth was started and
// records its figures under hearth; other servers get a note (two
// federating Dendrites are not measured).
func measureFederation(ctx context.Context, o options, bin, tmp string, servers []*server, res *results) error {
	const (
		joinRow = "federation, two nodes: B joins A's room by alias"
		ab50    = "federation, two nodes: send on A to B's sync, one at a time, p50"
		ab99    = "federation, two nodes: send on A to B's sync, one at a time, p99"
		ba50    = "federation, two nodes: send on B to A's sync, one at a time, p50"
		ba99    = "federation, two nodes: send on B to A's sync, one at a time, p99"
	)
	rows := []string{joinRow, ab50, ab99, ba50, ba99}
	for _, s := range servers {
		if s.name == "hearth" {
			continue
		}
		for _, row := range rows {
			res.setNote(row, "ms", false, s.name, "hearth only")
		}
	}
	if bin == "" || !o.fed {
		why := "not measured: needs -start hearth"
		if !o.fed {
			why = "not measured: -federation=false"
		}
		for _, s := range servers {
			if s.name == "hearth" || bin == "" {
				res.setNote(ab50, "ms", false, s.name, why)
			}
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("federation: the run took longer than -max %v", o.maxTotal)
	}
	logf("hearth    federation: two nodes, A→B then B→A, %v each", o.phase)
	r, err := federation(ctx, bin, tmp, o.phase)
	if err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	res.setDuration(joinRow, "hearth", r.join)
	for _, dir := range []struct {
		p50, p99 string
		lats     []time.Duration
		err      error
		what     string
	}{{ab50, ab99, r.aToB, r.errAB, "A→B"}, {ba50, ba99, r.bToA, r.errBA, "B→A"}} {
		if len(dir.lats) == 0 {
			res.setNote(dir.p50, "ms", false, "hearth", fmt.Sprintf("failed: %v", dir.err))
			continue
		}
		res.setDuration(dir.p50, "hearth", percentile(dir.lats, 50))
		res.setDuration(dir.p99, "hearth", percentile(dir.lats, 99))
		res.note("hearth, federation %s: %d messages measured one at a time", dir.what, len(dir.lats))
		if dir.err != nil {
			res.note("hearth, federation %s stopped early: %v", dir.what, dir.err)
		}
	}
	return nil
}
