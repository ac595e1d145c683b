package fedsender

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/persist"
	"hearth/transport"
)

// pdus makes n distinct local events.
func pdus(t *testing.T, e *env, n int) []*event.PDU {
	t.Helper()
	dag := e.newDAG(nil)
	r := createRoom(t, dag)
	out := make([]*event.PDU, n)
	for i := range out {
		out[i] = message(t, dag, r, alice, i)
	}
	return out
}

// TestRestartBatchesAndOrder queues 120 PDUs while the destination is down,
// restarts, and checks that the new sender resumes the queue in order in
// transactions of at most 50 PDUs, with fresh transaction IDs.
func TestRestartBatchesAndOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	evs := pdus(t, e, 121)
	e.client.setFail(func(string) error { return errDown })
	s1 := e.open(e.config())
	if err := s1.SendPDU(ctx, evs[0], []string{"b.test", self}); err != nil {
		t.Fatal(err)
	}
	e.waitCall()
	e.nextTimer() // backing off now: nothing more is sent
	for _, ev := range evs[1:] {
		if err := s1.SendPDU(ctx, ev, []string{"b.test"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s1.SendEDU(ctx, raw(t, map[string]any{"edu_type": "m.typing", "content": map[string]any{}}), []string{"b.test"}); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	if n := e.queued("b.test"); n != 121 {
		t.Fatalf("queued after failure = %d, want 121", n)
	}

	e.client.setFail(nil)
	e.open(e.config())
	waitFor(t, "the queue to drain", func() bool { return e.queued("b.test") == 0 })
	var sizes []int
	ids := map[string]bool{}
	for _, tx := range e.client.all() {
		if ids[tx.id] {
			t.Fatalf("transaction ID %s reused", tx.id)
		}
		ids[tx.id] = true
		if tx.ok {
			sizes = append(sizes, len(tx.pdus))
		}
		if tx.dest != "b.test" {
			t.Fatalf("sent to %s", tx.dest)
		}
		if len(tx.edus) != 0 {
			t.Fatalf("the in-memory typing EDU survived a restart: %s", tx.edus)
		}
	}
	if !slices.Equal(sizes, []int{50, 50, 21}) {
		t.Fatalf("transaction sizes = %v, want [50 50 21]", sizes)
	}
	got, _ := e.client.delivered("b.test")
	for i, ev := range evs {
		if got[i] != string(ev.JSON()) {
			t.Fatalf("PDU %d out of order", i)
		}
	}
}

// TestBackoff checks that failures double the wait up to the cap, that
// entries stay queued until a 200, and that PeerSeen retries at once.
func TestBackoff(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	evs := pdus(t, e, 1)
	e.client.setFail(func(string) error { return fmt.Errorf("dial: %w", transport.ErrUnreachable) })
	s := e.open(e.config())
	if err := s.SendPDU(ctx, evs[0], []string{"b.test"}); err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	for range 6 {
		e.waitCall()
		tm := e.nextTimer()
		waits = append(waits, tm.d)
		if b, at := s.Backoff("b.test"); b != min(tm.d, 8*time.Second) || !at.Equal(e.clock().Add(tm.d)) {
			t.Fatalf("Backoff = %v, %v after a wait of %v", b, at, tm.d)
		}
		if e.queued("b.test") != 1 {
			t.Fatal("a failed PDU left the queue")
		}
		e.advance(tm.d)
		if len(waits) < 6 {
			tm.f()
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits = %v, want %v", waits, want)
	}

	// A rate limit longer than the backoff is honoured.
	e.client.setFail(func(string) error { return &fedclient.Error{Status: 429, RetryAfterMS: 3000} })
	s.PeerSeen("b.test")
	e.waitCall()
	if tm := e.nextTimer(); tm.d != 3*time.Second {
		t.Fatalf("wait after 429 = %v, want 3s", tm.d)
	}

	// The peer is back: PeerSeen resets the backoff and sends now.
	e.client.setFail(nil)
	s.PeerSeen("b.test")
	e.waitCall()
	waitFor(t, "the queue to drain", func() bool { return e.queued("b.test") == 0 })
	if b, at := s.Backoff("b.test"); b != 0 || !at.IsZero() {
		t.Fatalf("Backoff after success = %v, %v", b, at)
	}
	if got, _ := e.client.delivered("b.test"); len(got) != 1 {
		t.Fatalf("delivered %d PDUs, want 1", len(got))
	}
	// PeerSeen of a healthy peer does nothing.
	s.PeerSeen("b.test")
	s.PeerSeen("unknown.test")
}

// TestEDUs checks EDU batching, durability by type, and that one failing
// destination does not hold back another.
func TestEDUs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.client.setFail(func(dest string) error {
		if dest == "c.test" {
			return errDown
		}
		return nil
	})
	s := e.open(e.config())
	toDevice := raw(t, map[string]any{"edu_type": "m.direct_to_device", "content": map[string]any{"message_id": "m1"}})
	if err := s.SendEDU(ctx, toDevice, []string{"c.test"}); err != nil {
		t.Fatal(err)
	}
	e.waitCall()
	e.nextTimer()
	for i := range 150 {
		edu := raw(t, map[string]any{"edu_type": "m.typing", "content": map[string]any{"n": i}})
		if err := s.SendEDU(ctx, edu, []string{"b.test", "c.test"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "b.test's EDUs", func() bool { _, edus := e.client.delivered("b.test"); return len(edus) == 150 })
	for _, tx := range e.client.all() {
		if len(tx.edus) > MaxEDUs {
			t.Fatalf("transaction of %d EDUs", len(tx.edus))
		}
	}
	_, edus := e.client.delivered("b.test")
	for i, edu := range edus {
		var v struct{ Content struct{ N int } }
		if err := json.Unmarshal([]byte(edu), &v); err != nil || v.Content.N != i {
			t.Fatalf("EDU %d out of order: %s", i, edu)
		}
	}
	if err := s.SendEDU(ctx, json.RawMessage(`{}`), []string{"b.test"}); err == nil {
		t.Fatal("an EDU without edu_type was accepted")
	}
	s.Close()
	if n := e.queued("c.test"); n != 1 {
		t.Fatalf("durable EDUs queued for c.test = %d, want 1 (the to-device message only)", n)
	}
	e.client.setFail(nil)
	e.open(e.config())
	waitFor(t, "the to-device EDU after the restart", func() bool {
		_, edus := e.client.delivered("c.test")
		return len(edus) == 1 && edus[0] == string(toDevice)
	})
}

// TestFanout sends local events through the DAG's hooks and checks they
// reach the servers of the room's joined members, and that remote events
// are not sent back.
func TestFanout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var s *Sender
	dag := e.newDAG(&s)
	cfg := e.config()
	cfg.Rooms = dag
	s = e.open(cfg)
	r := createRoom(t, dag, bob, carol)
	if d, err := s.Destinations(ctx, r); err != nil || !slices.Equal(d, []string{"b.test", "c.test"}) {
		t.Fatalf("Destinations = %v, %v", d, err)
	}
	m1 := message(t, dag, r, alice, 1)
	remote := message(t, dag, r, bob, 2)
	waitFor(t, "the message at both servers", func() bool {
		b, _ := e.client.delivered("b.test")
		c, _ := e.client.delivered("c.test")
		return slices.Contains(b, string(m1.JSON())) && slices.Contains(c, string(m1.JSON()))
	})
	// Carol is kicked: c.test gets the kick, then nothing more.
	kick := sendState(t, dag, r, alice, "m.room.member", carol, map[string]any{"membership": "leave"})
	if d, err := s.Destinations(ctx, r); err != nil || !slices.Equal(d, []string{"b.test"}) {
		t.Fatalf("Destinations after the kick = %v, %v", d, err)
	}
	m3 := message(t, dag, r, alice, 3)
	waitFor(t, "the last message at b.test", func() bool {
		b, _ := e.client.delivered("b.test")
		return slices.Contains(b, string(m3.JSON()))
	})
	waitFor(t, "the kick at c.test", func() bool {
		c, _ := e.client.delivered("c.test")
		return slices.Contains(c, string(kick.JSON()))
	})
	c, _ := e.client.delivered("c.test")
	b, _ := e.client.delivered("b.test")
	if slices.Contains(c, string(m3.JSON())) {
		t.Fatal("c.test got a message after its last member left")
	}
	if slices.Contains(b, string(remote.JSON())) || slices.Contains(c, string(remote.JSON())) {
		t.Fatal("a remote user's event was sent by the fan-out")
	}
	want := []string{string(m1.JSON()), string(kick.JSON()), string(m3.JSON())}
	if !slices.Equal(b[len(b)-3:], want) {
		t.Fatalf("b.test got events out of order")
	}
}

// TestFanoutResumes records local events without a running fan-out (as if
// the server stopped right after committing them) and checks that the next
// sender sends them.
func TestFanoutResumes(t *testing.T) {
	e := newEnv(t)
	var s *Sender
	dag := e.newDAG(&s)
	s = e.open(e.config()) // no Rooms: Index records, nothing fans out
	r := createRoom(t, dag, bob)
	m := message(t, dag, r, alice, 1)
	s.Close()
	if got := e.client.all(); len(got) != 0 {
		t.Fatalf("sent %d transactions without a fan-out", len(got))
	}
	cfg := e.config()
	cfg.Rooms = dag
	s = e.open(cfg)
	waitFor(t, "the recorded message", func() bool {
		b, _ := e.client.delivered("b.test")
		return slices.Contains(b, string(m.JSON()))
	})
}

// lagging is the room DAG with a watermark held at w, as while an earlier
// position's commit is still in flight.
type lagging struct {
	Rooms
	w uint64
}

func (l lagging) Position() (uint64, <-chan struct{}) { return l.w, nil }

// TestFanoutCursorWaitsForWatermark records an event at position 5 while
// the watermark is at 3, then one at 4 (a commit that finished late): the
// fan-out, which skips what it has handled, must still send the second.
func TestFanoutCursorWaitsForWatermark(t *testing.T) {
	e := newEnv(t)
	dag := e.newDAG(nil)
	r := createRoom(t, dag, bob)
	m1 := message(t, dag, r, alice, 1)
	m2 := message(t, dag, r, alice, 2)
	cfg := e.config()
	cfg.Rooms = lagging{Rooms: dag, w: 3}
	s := e.open(cfg)
	record := func(pos uint64, id string) {
		t.Helper()
		if err := e.store.Update(context.Background(), func(tx persist.Tx) error {
			return tx.Set(inKey(pos), []byte(id))
		}); err != nil {
			t.Fatal(err)
		}
		s.nudgeFanout()
	}
	record(5, m2.ID())
	waitFor(t, "the event at position 5", func() bool {
		b, _ := e.client.delivered("b.test")
		return slices.Contains(b, string(m2.JSON()))
	})
	record(4, m1.ID())
	waitFor(t, "the event at position 4, committed late", func() bool {
		b, _ := e.client.delivered("b.test")
		return slices.Contains(b, string(m1.JSON()))
	})
}

// TestIndexSkipsLocalOnlyRooms checks that events of a room whose state
// names no other server's user are not recorded for the fan-out, and that
// recording starts with the first membership of another server's user.
func TestIndexSkipsLocalOnlyRooms(t *testing.T) {
	e := newEnv(t)
	var s *Sender
	dag := e.newDAG(&s)
	s = e.open(e.config()) // no Rooms: Index records, nothing fans out
	recorded := func() int {
		t.Helper()
		n := 0
		err := e.store.View(context.Background(), func(tx persist.Tx) error {
			it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefixIn), KeysOnly: true})
			defer it.Close()
			for it.Next() {
				n++
			}
			return it.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	r := createRoom(t, dag)
	message(t, dag, r, alice, 1)
	if n := recorded(); n != 0 {
		t.Fatalf("a room of local users only recorded %d events for the fan-out", n)
	}
	sendState(t, dag, r, alice, "m.room.member", bob, map[string]any{"membership": "invite"})
	message(t, dag, r, alice, 2)
	if n := recorded(); n != 2 {
		t.Fatalf("after inviting %s: %d events recorded, want the invite and the message", bob, n)
	}
}

// TestAcceptedWakesOnlyForRecordedEvents: the fan-out is woken for the
// events Index records, and not for those of rooms that name no other
// server, which would only make it walk an empty range.
func TestAcceptedWakesOnlyForRecordedEvents(t *testing.T) {
	local := room.State{event.StateKey{Type: "m.room.member", StateKey: alice}: "$a"}
	shared := room.State{
		event.StateKey{Type: "m.room.member", StateKey: alice}: "$a",
		event.StateKey{Type: "m.room.member", StateKey: bob}:   "$b",
	}
	for _, tc := range []struct {
		name   string
		sender string
		state  room.State
		wake   bool
	}{
		{"local sender, local room", alice, local, false},
		{"local sender, room with another server", alice, shared, true},
		{"local sender, state unknown", alice, nil, true},
		{"remote sender", bob, shared, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Sender{cfg: Config{ServerName: ServerOf(alice)}, fanoutWake: make(chan struct{}, 1)}
			ev := localEvent(t, tc.sender)
			s.Accepted(room.Added{Event: ev, Pos: 1, State: tc.state})
			if woke := len(s.fanoutWake) == 1; woke != tc.wake {
				t.Fatalf("Accepted woke the fan-out: %v, want %v", woke, tc.wake)
			}
		})
	}
}

// localEvent makes a message event from sender, for hooks that only read
// who sent it.
func localEvent(t *testing.T, sender string) *event.PDU {
	t.Helper()
	raw := fmt.Sprintf(`{"type":"m.room.message","room_id":"!r:a.test","sender":%q,"content":{},"depth":2,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`, sender)
	ev, err := event.Load("$e", []byte(raw), roomversion.MustLookup("11"))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
