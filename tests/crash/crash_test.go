// Package crash_test kills a real hearth process with SIGKILL while clients
// write to it, restarts it on the same data directory and checks that
// everything it acknowledged survived; and it runs hearth on a full disk.
package crash_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hearth/tests/internal/hearthproc"
	"math/rand/v2"
	"net/url"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

var rounds = flag.Int("crash.rounds", 2, "kill-and-restart rounds of TestCrashRecovery (make crash runs 20)")

const writers = 4

// TestCrashRecovery runs hearth on one data directory for -crash.rounds
// rounds. In each, writers concurrently send numbered messages into a room
// until the process is killed with SIGKILL at a random moment; then hearth
// is restarted and every message it acknowledged must be there, in each
// writer's order, with the room's state unchanged and /sync working.
func TestCrashRecovery(t *testing.T) {
	if *rounds < 1 {
		t.Fatalf("-crash.rounds=%d: need at least 1", *rounds)
	}
	dataDir, logDir := t.TempDir(), t.TempDir()
	n := startNode(t, dataDir, logDir)

	// Setup: a creator and the writers, a room with changed power levels.
	alice := register(t, n.ClientURL, "alice")
	ws := make([]*client, writers)
	for i := range ws {
		ws[i] = register(t, n.ClientURL, fmt.Sprintf("writer%d", i))
	}
	var created struct {
		RoomID string `json:"room_id"`
	}
	alice.must(t, "POST", "/createRoom", map[string]any{
		"preset": "public_chat",
		"name":   "crash test",
		"power_level_content_override": map[string]any{
			"users":          map[string]int{alice.user: 100, ws[1].user: 50},
			"events_default": 0,
		},
	}).json(t, &created)
	roomID := created.RoomID
	wantMembers := []string{alice.user}
	for _, w := range ws {
		w.must(t, "POST", "/join/"+esc(roomID), map[string]any{})
		wantMembers = append(wantMembers, w.user)
	}
	sort.Strings(wantMembers)
	var wantPower any
	alice.must(t, "GET", "/rooms/"+esc(roomID)+"/state/m.room.power_levels/", nil).json(t, &wantPower)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	seqs := make([]int, writers) // the last sequence number each writer used
	var all []ack
	for round := 1; round <= *rounds; round++ {
		acked := runWriters(t, n, ws, roomID, seqs, rng)
		if len(acked) == 0 {
			t.Fatalf("round %d: no send was acknowledged before the kill", round)
		}
		all = append(all, acked...)
		t.Logf("round %d: killed after %d acknowledged sends (%d in all)", round, len(acked), len(all))

		n = startNode(t, dataDir, logDir)
		for _, c := range append([]*client{alice}, ws...) {
			c.base = n.ClientURL // access tokens must have survived too
		}
		verify(t, alice, roomID, acked, all, wantMembers, wantPower)
	}
	// The restarted server takes writes again.
	alice.must(t, "PUT", "/rooms/"+esc(roomID)+"/send/m.room.message/after-crash", map[string]any{"msgtype": "m.text", "body": "after"})
}

// runWriters sends messages from every writer until it kills n at a random
// moment after some sends were acknowledged. It returns the acknowledged
// sends.
func runWriters(t *testing.T, n *hearthproc.Proc, ws []*client, roomID string, seqs []int, rng *rand.Rand) []ack {
	t.Helper()
	var log ackLog
	killed := make(chan struct{})
	errs := make(chan error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-killed:
					return
				default:
				}
				seqs[i]++
				seq := seqs[i]
				r, err := w.do(context.Background(), "PUT",
					fmt.Sprintf("/rooms/%s/send/m.room.message/w%d-%d", esc(roomID), i, seq),
					messageContent{Body: fmt.Sprintf("writer %d message %d", i, seq), Writer: i, Seq: seq})
				select {
				case <-killed:
					// Answers racing the kill: a 200 still counts.
					if err == nil && r.status == 200 {
						log.add(ack{writer: i, seq: seq, eventID: eventID(t, r)})
					}
					return
				default:
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d send %d before the kill: %v", i, seq, err)
					return
				}
				if r.status != 200 {
					errs <- fmt.Errorf("writer %d send %d before the kill: %d %s", i, seq, r.status, r.body)
					return
				}
				log.add(ack{writer: i, seq: seq, eventID: eventID(t, r)})
			}
		}()
	}
	// Kill once a few sends were acknowledged, after a random delay, with
	// sends in flight.
	minAcks := 2 + rng.IntN(2*writers)
	deadline := time.Now().Add(60 * time.Second)
	for log.len() < minAcks && time.Now().Before(deadline) && len(errs) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(600)) * time.Millisecond)
	close(killed)
	n.Kill()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return log.snapshot()
}

func eventID(t testing.TB, r response) string {
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.EventID == "" {
		t.Errorf("send answered 200 without an event ID: %s", r.body)
	}
	return out.EventID
}

// verify checks the restarted server: this round's acknowledged events by
// ID, every acknowledged event in /messages in each writer's order, the
// members and power levels, and /sync.
func verify(t *testing.T, c *client, roomID string, round, all []ack, wantMembers []string, wantPower any) {
	t.Helper()
	for _, a := range round {
		r, err := c.do(context.Background(), "GET", "/rooms/"+esc(roomID)+"/event/"+esc(a.eventID), nil)
		if err != nil || r.status != 200 {
			t.Fatalf("acknowledged event %s (writer %d seq %d) lost after the crash: %v %d %s",
				a.eventID, a.writer, a.seq, err, r.status, r.body)
		}
		var ev timelineEvent
		r.json(t, &ev)
		var mc messageContent
		if err := json.Unmarshal(ev.Content, &mc); err != nil || mc.Writer != a.writer || mc.Seq != a.seq {
			t.Fatalf("event %s has content %s, want writer %d seq %d", a.eventID, ev.Content, a.writer, a.seq)
		}
	}

	// /messages: every acknowledged event, each writer's in order.
	hist := c.history(t, roomID)
	pos := map[string]int{}
	last := make([]int, writers)
	for i, ev := range hist {
		pos[ev.EventID] = i
		if ev.Type != "m.room.message" {
			continue
		}
		var mc messageContent
		if err := json.Unmarshal(ev.Content, &mc); err != nil || mc.Seq == 0 {
			continue
		}
		if mc.Writer < 0 || mc.Writer >= writers {
			t.Fatalf("message %s from unknown writer %d", ev.EventID, mc.Writer)
		}
		if mc.Seq <= last[mc.Writer] {
			t.Fatalf("/messages: writer %d seq %d (%s) after seq %d: out of order or repeated",
				mc.Writer, mc.Seq, ev.EventID, last[mc.Writer])
		}
		last[mc.Writer] = mc.Seq
	}
	for _, a := range all {
		i, ok := pos[a.eventID]
		if !ok {
			t.Fatalf("/messages lacks acknowledged event %s (writer %d seq %d)", a.eventID, a.writer, a.seq)
		}
		var mc messageContent
		if err := json.Unmarshal(hist[i].Content, &mc); err != nil || mc.Writer != a.writer || mc.Seq != a.seq {
			t.Fatalf("/messages has %s with content %s, want writer %d seq %d", a.eventID, hist[i].Content, a.writer, a.seq)
		}
	}

	// Room state.
	var jm struct {
		Joined map[string]json.RawMessage `json:"joined"`
	}
	c.must(t, "GET", "/rooms/"+esc(roomID)+"/joined_members", nil).json(t, &jm)
	var members []string
	for u := range jm.Joined {
		members = append(members, u)
	}
	sort.Strings(members)
	if !reflect.DeepEqual(members, wantMembers) {
		t.Fatalf("joined members after the crash: %v, want %v", members, wantMembers)
	}
	var power any
	c.must(t, "GET", "/rooms/"+esc(roomID)+"/state/m.room.power_levels/", nil).json(t, &power)
	if !reflect.DeepEqual(power, wantPower) {
		t.Fatalf("power levels after the crash: %v, want %v", power, wantPower)
	}

	// /sync serves again and includes the room.
	filter := `{"room":{"timeline":{"limit":5}}}`
	r := c.must(t, "GET", "/sync?timeout=0&filter="+url.QueryEscape(filter), nil)
	var s struct {
		NextBatch string `json:"next_batch"`
		Rooms     struct {
			Join map[string]json.RawMessage `json:"join"`
		} `json:"rooms"`
	}
	r.json(t, &s)
	if s.NextBatch == "" {
		t.Fatalf("/sync after the crash has no next_batch: %.300s", r.body)
	}
	if _, ok := s.Rooms.Join[roomID]; !ok {
		t.Fatalf("/sync after the crash lacks room %s: %.300s", roomID, r.body)
	}
}
