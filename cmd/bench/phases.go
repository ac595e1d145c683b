package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// numSenders is the most concurrent senders a phase uses; setup registers
// this many sending users.
const numSenders = 32

// numSpreadRooms is how many rooms the "spread" phases send into.
const numSpreadRooms = 8

// syncFilter keeps the reader's incremental syncs to room timelines, with a
// limit high enough that a busy phase rarely makes a timeline gappy.
const syncFilter = `{"room":{"timeline":{"limit":1000}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}`

// syncer is a user long-polling /sync the whole run, recording when each
// benchmark message (by its bench_id) first arrives.
type syncer struct {
	c       *client
	mu      sync.Mutex
	arrived map[string]time.Time
	waiters map[string]chan time.Time
	errs    int
	lastErr error
	stop    context.CancelFunc
	done    chan struct{}
}

func startSyncer(ctx context.Context, c *client) (*syncer, error) {
	var since string
	_, err := c.sync(ctx, "", `{"room":{"timeline":{"limit":1}}}`, 0, func(body []byte) error {
		var err error
		since, err = parseSync(body, func([]byte) {})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reader's first sync: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	sy := &syncer{c: c, arrived: map[string]time.Time{}, waiters: map[string]chan time.Time{}, stop: stop, done: make(chan struct{})}
	go sy.loop(ctx, since)
	return sy, nil
}

func (sy *syncer) loop(ctx context.Context, since string) {
	defer close(sy.done)
	var ids [][]byte // the bench_ids of one answer, reused
	for ctx.Err() == nil {
		_, err := sy.c.sync(ctx, since, syncFilter, 30*time.Second, func(body []byte) error {
			now := time.Now()
			ids = ids[:0]
			next, err := parseSync(body, func(id []byte) { ids = append(ids, id) })
			if err != nil {
				return err
			}
			sy.mu.Lock()
			for _, id := range ids {
				sy.record(id, now)
			}
			sy.mu.Unlock()
			since = next
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			sy.mu.Lock()
			sy.errs++
			sy.lastErr = err
			sy.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// record notes that the message id arrived at now, unless it arrived
// before. sy.mu must be held.
func (sy *syncer) record(id []byte, now time.Time) {
	if len(id) == 0 {
		return
	}
	if _, seen := sy.arrived[string(id)]; seen {
		return
	}
	key := string(id)
	sy.arrived[key] = now
	if ch, ok := sy.waiters[key]; ok {
		ch <- now
		delete(sy.waiters, key)
	}
}

// expect returns a channel that receives the arrival time of id.
func (sy *syncer) expect(id string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	sy.mu.Lock()
	if t, ok := sy.arrived[id]; ok {
		ch <- t
	} else {
		sy.waiters[id] = ch
	}
	sy.mu.Unlock()
	return ch
}

func (sy *syncer) arrival(id string) (time.Time, bool) {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	t, ok := sy.arrived[id]
	return t, ok
}

func (sy *syncer) close() {
	sy.stop()
	<-sy.done
}

// runID keeps user names unique when the benchmark runs more than once
// against the same server (-url).
var runID = fmt.Sprintf("%06x", rand.Uint32()&0xffffff)

// parallel runs f(0..n-1) on at most width goroutines and returns the first
// error.
func parallel(ctx context.Context, n, width int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range width {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
loop:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break loop
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return context.Cause(ctx)
}

// setup registers the senders, the reader and the 500-room user, creates
// the shared room and the spread rooms, joins everyone, and starts the
// reader's long-polling sync. None of it is measured.
func setup(ctx context.Context, s *server) error {
	names := make([]string, numSenders+2)
	for i := range numSenders {
		names[i] = fmt.Sprintf("bench%s_sender%02d", runID, i)
	}
	names[numSenders] = "bench" + runID + "_reader"
	names[numSenders+1] = "bench" + runID + "_big"
	users := make([]*client, len(names))
	err := parallel(ctx, len(names), 4, func(ctx context.Context, i int) error {
		c, err := register(ctx, s.url, names[i])
		users[i] = c
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: registering: %w", s.name, err)
	}
	s.senders, s.reader, s.big = users[:numSenders], users[numSenders], users[numSenders+1]

	owner := s.senders[0]
	if s.oneRoom, err = owner.createRoom(ctx, "bench shared room"); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.rooms = make([]string, numSpreadRooms)
	for i := range s.rooms {
		if s.rooms[i], err = owner.createRoom(ctx, fmt.Sprintf("bench room %d", i)); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	// Each sender joins the shared room and its spread room; the reader
	// joins them all.
	type joinReq struct {
		c    *client
		room string
	}
	var joins []joinReq
	for i, c := range s.senders {
		if i > 0 { // sender 0 created them all
			joins = append(joins, joinReq{c, s.oneRoom})
			joins = append(joins, joinReq{c, s.rooms[i%numSpreadRooms]})
		}
	}
	joins = append(joins, joinReq{s.reader, s.oneRoom})
	for _, r := range s.rooms {
		joins = append(joins, joinReq{s.reader, r})
	}
	err = parallel(ctx, len(joins), 4, func(ctx context.Context, i int) error {
		return joins[i].c.join(ctx, joins[i].room)
	})
	if err != nil {
		return fmt.Errorf("%s: joining: %w", s.name, err)
	}
	if s.syncer, err = startSyncer(ctx, s.reader); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// loadResult is what one throughput phase measured.
type loadResult struct {
	sent      int
	errs      int
	firstErr  error
	elapsed   time.Duration
	latencies []time.Duration // send latencies
	toSync    []time.Duration // send-to-sync latencies of the messages the reader saw
	cpu       time.Duration   // server CPU time over the phase
}

// load sends messages from n senders for d: into the shared room, or
// (spread) each into its own of the spread rooms.
// With follow set, it then waits up to 10 s for the reader's sync to see the
// last message and measures send-to-sync latency of every message it saw.
func load(ctx context.Context, s *server, n int, spread bool, d time.Duration, tag string, follow bool) loadResult {
	type sentMsg struct {
		id string
		at time.Time
	}
	type worker struct {
		lat      []time.Duration
		sent     []sentMsg
		errs     int
		firstErr error
	}
	ws := make([]worker, n)
	cpu0 := cpuTime(s.pid)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := &ws[i]
			c := s.senders[i]
			room := s.oneRoom
			if spread {
				room = s.rooms[i%numSpreadRooms]
			}
			for seq := 0; ctx.Err() == nil; seq++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				id := fmt.Sprintf("%s-%d-%d", tag, i, seq)
				err := c.send(ctx, room, id)
				lat := time.Since(t0)
				if err != nil {
					w.errs++
					if w.firstErr == nil {
						w.firstErr = err
					}
					continue
				}
				w.lat = append(w.lat, lat)
				w.sent = append(w.sent, sentMsg{id, t0})
			}
		})
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start), cpu: cpuTime(s.pid) - cpu0}
	var all []sentMsg
	for _, w := range ws {
		r.sent += len(w.lat)
		r.errs += w.errs
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
		r.latencies = append(r.latencies, w.lat...)
		all = append(all, w.sent...)
	}
	if follow && len(all) > 0 && s.syncer != nil {
		wait := time.After(10 * time.Second)
		last := slices.MaxFunc(all, func(a, b sentMsg) int { return a.at.Compare(b.at) })
		select {
		case <-s.syncer.expect(last.id):
		case <-wait:
		}
		for _, m := range all {
			if t, ok := s.syncer.arrival(m.id); ok {
				r.toSync = append(r.toSync, t.Sub(m.at))
			}
		}
	}
	return r
}

// pingPong sends one message at a time into the shared room and waits until
// the reader's long-polling sync returns it, for at most d or 1000 messages.
func pingPong(ctx context.Context, s *server, d time.Duration, tag string) ([]time.Duration, error) {
	return pingPongWith(ctx, s.senders[0], s.oneRoom, s.syncer, d, tag, 5*time.Second)
}

// pingPongWith has c send one message at a time into room and waits until
// sy's long-polling sync returns it (at most wait each), for at most d or
// 1000 messages.
func pingPongWith(ctx context.Context, c *client, room string, sy *syncer, d time.Duration, tag string, wait time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	end := time.Now().Add(d)
	for i := 0; i < 1000 && time.Now().Before(end); i++ {
		id := fmt.Sprintf("%s-%d", tag, i)
		ch := sy.expect(id)
		t0 := time.Now()
		if err := c.send(ctx, room, id); err != nil {
			return out, err
		}
		select {
		case t := <-ch:
			out = append(out, t.Sub(t0))
		case <-time.After(wait):
			return out, fmt.Errorf("message %s did not reach the other user's sync within %v", id, wait)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// makeBigRooms has the big user create n rooms, 8 at a time (setup, not
// measured).
func makeBigRooms(ctx context.Context, s *server, n int) error {
	return parallel(ctx, n, 8, func(ctx context.Context, i int) error {
		_, err := s.big.createRoom(ctx, fmt.Sprintf("big room %d", i))
		return err
	})
}

// initialSync times full initial syncs (no filter, no since token) of the
// big user, up to 3 of them within d; it returns each duration and the size
// of the first answer.
func initialSync(ctx context.Context, s *server, d time.Duration) ([]time.Duration, int, error) {
	var out []time.Duration
	size := 0
	end := time.Now().Add(d)
	for i := 0; i < 3 && (i == 0 || time.Now().Before(end)); i++ {
		t0 := time.Now()
		n, err := s.big.sync(ctx, "", "", 0, func(body []byte) error {
			_, err := parseSync(body, func([]byte) {})
			return err
		})
		if err != nil {
			return out, size, err
		}
		out = append(out, time.Since(t0))
		if i == 0 {
			size = n
		}
	}
	return out, size, nil
}

// percentile returns the p-th percentile (0..100) of ds by the nearest-rank
// method.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	rank = max(0, min(rank, len(s)-1))
	return s[rank]
}
