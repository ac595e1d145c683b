package room

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/core/stateres"
	"hearth/persist"
	"hearth/persist/memory"
)

// server is one test homeserver: its key and its DAG.
type server struct {
	name string
	key  signing.Key
	dag  *DAG
	now  time.Time
}

// keyring is a KeyLookup over the test servers' keys.
type keyring map[string]signing.Key

func (k keyring) VerifyKey(serverName, keyID string, _ int64) (ed25519.PublicKey, error) {
	key, ok := k[serverName]
	if !ok || key.ID != keyID {
		return nil, fmt.Errorf("no key %s for %s", keyID, serverName)
	}
	return key.Public(), nil
}

// seededReader is a deterministic randomness source for tests.
type seededReader struct{ r *rand.ChaCha8 }

func (s seededReader) Read(p []byte) (int, error) { return s.r.Read(p) }

func newServer(t testing.TB, name string, seed byte, ring keyring) *server {
	t.Helper()
	key, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	ring[name] = key
	s := &server{name: name, key: key, now: time.UnixMilli(1_700_000_000_000)}
	s.dag, err = New(context.Background(), Config{
		ServerName: name,
		Key:        key,
		Store:      memory.New(),
		Now: func() time.Time {
			s.now = s.now.Add(time.Millisecond)
			return s.now
		},
		Rand: seededReader{rand.NewChaCha8([32]byte{seed})},
		Keys: ring,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func strp(s string) *string { return &s }

func content(t testing.TB, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// createPublicRoom makes a room on s with alice as creator and admin and a
// public join rule, and returns the events in order.
func createPublicRoom(t testing.TB, s *server, v *roomversion.Version, alice string) []*event.PDU {
	t.Helper()
	ctx := context.Background()
	cc := map[string]any{"room_version": v.ID}
	if !v.CreatorIsSender {
		cc["creator"] = alice
	}
	create, err := s.dag.CreateRoom(ctx, v, alice, content(t, cc))
	if err != nil {
		t.Fatalf("v%s: CreateRoom: %v", v.ID, err)
	}
	roomID := create.RoomID()
	evs := []*event.PDU{create}
	users := map[string]any{}
	if !v.PrivilegedCreators {
		users[alice] = 100
	}
	for _, p := range []Proto{
		{Sender: alice, Type: "m.room.member", StateKey: strp(alice), Content: content(t, map[string]any{"membership": "join"})},
		{Sender: alice, Type: "m.room.power_levels", StateKey: strp(""), Content: content(t, map[string]any{"users": users})},
		{Sender: alice, Type: "m.room.join_rules", StateKey: strp(""), Content: content(t, map[string]any{"join_rule": "public"})},
		{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"msgtype": "m.text", "body": "hello"})},
	} {
		ev, err := s.dag.Send(ctx, roomID, p)
		if err != nil {
			t.Fatalf("v%s: Send %s: %v", v.ID, p.Type, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestLocalRoomEveryVersion(t *testing.T) {
	ctx := context.Background()
	for _, v := range roomversion.All() {
		t.Run("v"+v.ID, func(t *testing.T) {
			s := newServer(t, "a.test", 1, keyring{})
			alice := "@alice:a.test"
			evs := createPublicRoom(t, s, v, alice)
			roomID := evs[0].RoomID()
			if v.RoomIDFromCreateEvent && roomID != "!"+evs[0].ID()[1:] {
				t.Fatalf("room ID %s is not derived from create event %s", roomID, evs[0].ID())
			}
			cur, err := s.dag.CurrentState(ctx, roomID)
			if err != nil {
				t.Fatal(err)
			}
			want := State{
				{Type: "m.room.create"}:                  evs[0].ID(),
				{Type: "m.room.member", StateKey: alice}: evs[1].ID(),
				{Type: "m.room.power_levels"}:            evs[2].ID(),
				{Type: "m.room.join_rules"}:              evs[3].ID(),
			}
			if fmt.Sprint(cur) != fmt.Sprint(want) {
				t.Fatalf("current state %v, want %v", cur, want)
			}
			// Each event builds on the one before it.
			for i := 1; i < len(evs); i++ {
				if p := evs[i].PrevEvents(); len(p) != 1 || p[0] != evs[i-1].ID() {
					t.Fatalf("event %d prev_events %v, want [%s]", i, p, evs[i-1].ID())
				}
				if evs[i].Depth() != int64(i+1) {
					t.Fatalf("event %d depth %d", i, evs[i].Depth())
				}
			}
			// The message's auth events are create, power levels and
			// alice's membership (create implied in v12).
			wantAuth := 3
			if v.RoomIDFromCreateEvent {
				wantAuth = 2
			}
			if got := len(evs[4].AuthEvents()); got != wantAuth {
				t.Fatalf("message has %d auth events %v, want %d", got, evs[4].AuthEvents(), wantAuth)
			}
			// State at an event: after the power levels, before join rules.
			after, err := s.dag.StateAfter(ctx, evs[2].ID())
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != 3 || after[event.StateKey{Type: "m.room.power_levels"}] != evs[2].ID() {
				t.Fatalf("state after power levels: %v", after)
			}
			before, err := s.dag.StateBefore(ctx, evs[2].ID())
			if err != nil {
				t.Fatal(err)
			}
			if len(before) != 2 {
				t.Fatalf("state before power levels: %v", before)
			}
			got, err := s.dag.Event(ctx, evs[4].ID())
			if err != nil || !bytes.Equal(got.JSON(), evs[4].JSON()) {
				t.Fatalf("Event(%s) = %v, %v", evs[4].ID(), got, err)
			}
		})
	}
}

func TestLocalEventNotAllowedStoresNothing(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	evs := createPublicRoom(t, s, roomversion.MustLookup("10"), "@alice:a.test")
	roomID := evs[0].RoomID()
	pos, _ := s.dag.Position()
	tests := []Proto{
		{Sender: "@mallory:a.test", Type: "m.room.message", Content: content(t, map[string]any{"body": "hi"})},
		{Sender: "@mallory:a.test", Type: "m.room.member", StateKey: strp("@alice:a.test"), Content: content(t, map[string]any{"membership": "ban"})},
		{Sender: "@mallory:a.test", Type: "m.room.topic", StateKey: strp(""), Content: content(t, map[string]any{"topic": "x"})},
	}
	for _, p := range tests {
		if _, err := s.dag.Send(ctx, roomID, p); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Send(%s by %s) = %v, want ErrNotAllowed", p.Type, p.Sender, err)
		}
	}
	if after, _ := s.dag.Position(); after != pos {
		t.Fatalf("stream moved from %d to %d after refused sends", pos, after)
	}
	fx, _ := s.dag.Extremities(ctx, roomID)
	if len(fx) != 1 || fx[0] != evs[4].ID() {
		t.Fatalf("extremities changed to %v", fx)
	}
	if _, err := s.dag.Send(ctx, "!nope:a.test", tests[0]); !errors.Is(err, ErrUnknownRoom) {
		t.Fatalf("Send to unknown room: %v", err)
	}
}

// federate copies a's room to b: b imports the create event, then accepts
// the rest in order.
func federate(t testing.TB, b *server, evs []*event.PDU) {
	t.Helper()
	ctx := context.Background()
	res, err := b.dag.Import(ctx, evs[0], nil, nil)
	if err != nil || res.Outcome != Accepted {
		t.Fatalf("Import(create) = %v, %v", res, err)
	}
	for _, ev := range evs[1:] {
		res, err := b.dag.Accept(ctx, ev)
		if err != nil || res.Outcome != Accepted {
			t.Fatalf("Accept(%s %s) = %v (%v), %v", ev.Type(), ev.ID(), res.Outcome, res.Reason, err)
		}
	}
}

// buildOn builds an event by hand on chosen prev events, signed by s, to
// make forks and forgeries.
func buildOn(t *testing.T, s *server, v *roomversion.Version, roomID string, p Proto, prevs, auths []string, depth int64) *event.PDU {
	t.Helper()
	s.now = s.now.Add(time.Millisecond)
	pdu, err := event.Build(event.Builder{
		RoomID: roomID, Sender: p.Sender, Type: p.Type, StateKey: p.StateKey, Content: p.Content,
		PrevEvents: prevs, AuthEvents: auths, Depth: depth, OriginServerTS: s.now.UnixMilli(),
	}, v, s.name, s.key, s.dag.cfg.Rand)
	if err != nil {
		t.Fatal(err)
	}
	return pdu
}

func TestRemoteEvents(t *testing.T) {
	ctx := context.Background()
	for _, vid := range []string{"1", "3", "10", "11", "12"} {
		v := roomversion.MustLookup(vid)
		t.Run("v"+vid, func(t *testing.T) {
			ring := keyring{}
			a := newServer(t, "a.test", 1, ring)
			b := newServer(t, "b.test", 2, ring)
			m := newServer(t, "m.test", 3, ring) // mallory's server
			alice, bob, mallory := "@alice:a.test", "@bob:b.test", "@mallory:m.test"
			evs := createPublicRoom(t, a, v, alice)
			roomID := evs[0].RoomID()
			federate(t, b, evs)

			// bob joins on b; a accepts it.
			join, err := b.dag.Send(ctx, roomID, Proto{Sender: bob, Type: "m.room.member", StateKey: strp(bob), Content: content(t, map[string]any{"membership": "join"})})
			if err != nil {
				t.Fatal(err)
			}
			if res, err := a.dag.Accept(ctx, join); err != nil || res.Outcome != Accepted {
				t.Fatalf("a accepts bob's join: %v (%v), %v", res.Outcome, res.Reason, err)
			}
			// Accepting again is idempotent.
			if res, err := a.dag.Accept(ctx, join); err != nil || res.Outcome != Accepted {
				t.Fatalf("second accept: %v, %v", res, err)
			}

			authFor := func(member string) []string {
				var ids []string
				if !v.RoomIDFromCreateEvent {
					ids = append(ids, evs[0].ID())
				}
				return append(ids, evs[2].ID(), member)
			}

			// A message from someone who never joined is rejected.
			forged := buildOn(t, m, v, roomID, Proto{Sender: mallory, Type: "m.room.message", Content: content(t, map[string]any{"body": "spam"})},
				[]string{join.ID()}, authFor(evs[1].ID()), 10)
			if res, err := a.dag.Accept(ctx, forged); err != nil || res.Outcome != Rejected {
				t.Fatalf("non-member message: %v, %v; want rejected", res.Outcome, err)
			}
			// State resolution learns which events were rejected.
			a.dag.cfg.Store.View(ctx, func(tx persist.Tx) error {
				var rj stateres.Rejections = txEvents{d: a.dag, tx: tx}
				if !rj.Rejected(forged.ID()) || rj.Rejected(join.ID()) {
					t.Errorf("Rejected(forged) = %v, Rejected(join) = %v", rj.Rejected(forged.ID()), rj.Rejected(join.ID()))
				}
				return nil
			})

			// A bad signature is dropped, not stored.
			msg := buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.message", Content: content(t, map[string]any{"body": "hi"})},
				[]string{join.ID()}, authFor(join.ID()), 7)
			tampered := resign(t, msg, m.key) // signed with the wrong server's key
			if _, err := a.dag.Accept(ctx, tampered); !errors.Is(err, ErrSignature) {
				t.Fatalf("wrong key: %v, want ErrSignature", err)
			}

			// Unknown prev events are reported, nothing stored.
			orphan := buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.message", Content: content(t, map[string]any{"body": "later"})},
				[]string{msg.ID()}, authFor(join.ID()), 8)
			var missing *MissingEventsError
			if _, err := a.dag.Accept(ctx, orphan); !errors.As(err, &missing) || len(missing.Prev) != 1 || missing.Prev[0] != msg.ID() {
				t.Fatalf("orphan: %v, want MissingEventsError for %s", err, msg.ID())
			}
			if res, err := a.dag.Accept(ctx, msg); err != nil || res.Outcome != Accepted {
				t.Fatalf("msg: %v, %v", res, err)
			}
			if res, err := a.dag.Accept(ctx, orphan); err != nil || res.Outcome != Accepted {
				t.Fatalf("orphan after its prev: %v, %v", res, err)
			}

			// Fork: alice bans bob on a while bob, not yet knowing,
			// sends a message on b. It is authorised by the state
			// before it but not by a's current state, so a soft-fails
			// it.
			ban, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.member", StateKey: strp(bob), Content: content(t, map[string]any{"membership": "ban"})})
			if err != nil {
				t.Fatal(err)
			}
			late := buildOn(t, b, v, roomID, Proto{Sender: bob, Type: "m.room.message", Content: content(t, map[string]any{"body": "am I banned?"})},
				[]string{orphan.ID()}, authFor(join.ID()), 9)
			if res, err := a.dag.Accept(ctx, late); err != nil || res.Outcome != SoftFailed {
				t.Fatalf("message from banned user on a fork: %v, %v; want soft-failed", res.Outcome, err)
			}
			fx, _ := a.dag.Extremities(ctx, roomID)
			if len(fx) != 1 || fx[0] != ban.ID() {
				t.Fatalf("soft-failed event became an extremity: %v", fx)
			}

			// b accepts its own two messages and the ban; both
			// servers now agree on state.
			for _, ev := range []*event.PDU{msg, orphan} {
				if res, err := b.dag.Accept(ctx, ev); err != nil || res.Outcome != Accepted {
					t.Fatalf("b accepts %s: %v, %v", ev.ID(), res, err)
				}
			}
			if res, err := b.dag.Accept(ctx, ban); err != nil || res.Outcome != Accepted {
				t.Fatalf("b accepts ban: %v (%v), %v", res.Outcome, res.Reason, err)
			}
			sa, _ := a.dag.CurrentState(ctx, roomID)
			sb, _ := b.dag.CurrentState(ctx, roomID)
			if fmt.Sprint(sa) != fmt.Sprint(sb) {
				t.Fatalf("servers disagree:\n a %v\n b %v", sa, sb)
			}
			if sa[event.StateKey{Type: "m.room.member", StateKey: bob}] != ban.ID() {
				t.Fatalf("bob's membership is not the ban: %v", sa)
			}
		})
	}
}

// resign replaces every signature on pdu with one by key under the sender's
// server name, making an event whose signature cannot verify.
func resign(t *testing.T, pdu *event.PDU, key signing.Key) *event.PDU {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(pdu.JSON(), &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "signatures")
	raw, _ := json.Marshal(obj)
	server := pdu.Sender()[bytes.IndexByte([]byte(pdu.Sender()), ':')+1:]
	signed, err := event.Sign(raw, pdu.Version(), server, key)
	if err != nil {
		t.Fatal(err)
	}
	out, err := event.Load(pdu.ID(), signed, pdu.Version())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConcurrentForksResolveIdentically(t *testing.T) {
	ctx := context.Background()
	v := roomversion.MustLookup("11")
	ring := keyring{}
	a := newServer(t, "a.test", 1, ring)
	b := newServer(t, "b.test", 2, ring)
	alice, bob := "@alice:a.test", "@bob:b.test"
	evs := createPublicRoom(t, a, v, alice)
	roomID := evs[0].RoomID()
	federate(t, b, evs)
	join, err := b.dag.Send(ctx, roomID, Proto{Sender: bob, Type: "m.room.member", StateKey: strp(bob), Content: content(t, map[string]any{"membership": "join"})})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.dag.Accept(ctx, join); err != nil || res.Outcome != Accepted {
		t.Fatalf("%v %v", res, err)
	}
	pl, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.power_levels", StateKey: strp(""),
		Content: content(t, map[string]any{"users": map[string]int{alice: 100, bob: 50}})})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := b.dag.Accept(ctx, pl); err != nil || res.Outcome != Accepted {
		t.Fatalf("b accepts power levels: %v %v", res, err)
	}
	// Partition: each side sets the topic.
	ta, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.topic", StateKey: strp(""), Content: content(t, map[string]any{"topic": "from a"})})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.dag.Send(ctx, roomID, Proto{Sender: bob, Type: "m.room.topic", StateKey: strp(""), Content: content(t, map[string]any{"topic": "from b"})})
	if err != nil {
		t.Fatal(err)
	}
	// Heal.
	if res, err := a.dag.Accept(ctx, tb); err != nil || res.Outcome != Accepted {
		t.Fatalf("a accepts b's topic: %v (%v) %v", res.Outcome, res.Reason, err)
	}
	if res, err := b.dag.Accept(ctx, ta); err != nil || res.Outcome != Accepted {
		t.Fatalf("b accepts a's topic: %v (%v) %v", res.Outcome, res.Reason, err)
	}
	sa, _ := a.dag.CurrentState(ctx, roomID)
	sb, _ := b.dag.CurrentState(ctx, roomID)
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Fatalf("servers disagree after partition:\n a %v\n b %v", sa, sb)
	}
	fa, _ := a.dag.Extremities(ctx, roomID)
	if len(fa) != 2 {
		t.Fatalf("a has extremities %v, want both topics", fa)
	}
	// The next local event joins the fork.
	m, err := a.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.message", Content: content(t, map[string]any{"body": "merged"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.PrevEvents()) != 2 {
		t.Fatalf("merge event prev_events %v", m.PrevEvents())
	}
	if res, err := b.dag.Accept(ctx, m); err != nil || res.Outcome != Accepted {
		t.Fatalf("b accepts merge: %v %v", res, err)
	}
}

func TestReopenKeepsRooms(t *testing.T) {
	ctx := context.Background()
	ring := keyring{}
	s := newServer(t, "a.test", 1, ring)
	evs := createPublicRoom(t, s, roomversion.MustLookup("11"), "@alice:a.test")
	pos, _ := s.dag.Position()
	reopened, err := New(ctx, s.dag.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The stream restarts above every position used, perhaps with a gap.
	start, _ := reopened.Position()
	if start < pos {
		t.Fatalf("reopened at position %d, below %d", start, pos)
	}
	ev, err := reopened.Send(ctx, evs[0].RoomID(), Proto{Sender: "@alice:a.test", Type: "m.room.message", Content: content(t, map[string]any{"body": "again"})})
	if err != nil {
		t.Fatal(err)
	}
	if ev.PrevEvents()[0] != evs[4].ID() {
		t.Fatalf("after reopen, prev_events %v", ev.PrevEvents())
	}
	if p, _ := reopened.Position(); p != start+1 {
		t.Fatalf("position %d after one send, want %d", p, start+1)
	}
	// More events than a block raise the top again: the next start is
	// above them all.
	for i := range streamBlock + 10 {
		if _, err := reopened.Send(ctx, evs[0].RoomID(), Proto{Sender: "@alice:a.test", Type: "m.room.message", Content: content(t, map[string]any{"body": fmt.Sprint(i)})}); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := reopened.Position()
	again, err := New(ctx, s.dag.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := again.Position(); p < last {
		t.Fatalf("reopened at position %d, below %d", p, last)
	}
}

func TestTamperedContentIsRedacted(t *testing.T) {
	ctx := context.Background()
	v := roomversion.MustLookup("10")
	ring := keyring{}
	a := newServer(t, "a.test", 1, ring)
	b := newServer(t, "b.test", 2, ring)
	evs := createPublicRoom(t, a, v, "@alice:a.test")
	federate(t, b, evs[:4])
	// Change the message body after signing: the signature covers only
	// the redacted form, so it still verifies, but the content hash does
	// not match.
	tampered := bytes.Replace(evs[4].JSON(), []byte(`"hello"`), []byte(`"evil!"`), 1)
	pdu, err := event.Parse(tampered, v)
	if err != nil {
		t.Fatal(err)
	}
	if pdu.ID() != evs[4].ID() {
		t.Fatalf("tampering content changed the event ID (%s vs %s)", pdu.ID(), evs[4].ID())
	}
	res, err := b.dag.Accept(ctx, pdu)
	if err != nil || res.Outcome != Accepted {
		t.Fatalf("Accept = %v, %v", res, err)
	}
	stored, err := b.dag.Event(ctx, pdu.ID())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.JSON(), []byte("evil")) || bytes.Contains(stored.JSON(), []byte("hello")) {
		t.Fatalf("stored event kept its content: %s", stored.JSON())
	}
}
