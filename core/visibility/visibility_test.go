package visibility

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
	"hearth/persist/memory"
)

func TestStandingAllows(t *testing.T) {
	for _, tc := range []struct {
		vis, membership string
		joinedAfter     bool
		want            bool
	}{
		{WorldReadable, "", false, true},
		{WorldReadable, "ban", false, true},
		{Shared, "join", false, true},
		{Joined, "join", false, true},
		{Invited, "join", false, true},
		{Shared, "", true, true},
		{Shared, "", false, false},
		{Shared, "leave", false, false},
		{Shared, "invite", false, false},
		{Shared, "invite", true, true},
		{"", "", true, true},        // missing reads as shared
		{"bogus", "", true, true},   // unknown reads as shared
		{"bogus", "", false, false}, // ... and still needs a join
		{Invited, "invite", false, true},
		{Invited, "", true, false},
		{Invited, "leave", true, false},
		{Joined, "invite", true, false},
		{Joined, "", true, false},
		{Joined, "leave", true, false},
	} {
		got := Standing{Visibility: tc.vis, Membership: tc.membership}.Allows(tc.joinedAfter)
		if got != tc.want {
			t.Errorf("Standing{%q, %q}.Allows(%v) = %v, want %v", tc.vis, tc.membership, tc.joinedAfter, got, tc.want)
		}
	}
}

// fixture is a room on a real DAG with alice as its creator.
type fixture struct {
	t      *testing.T
	dag    *room.DAG
	roomID string
	now    time.Time
}

type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

const alice, bob = "@alice:hs", "@bob:hs"

func newFixture(t *testing.T, vis string) *fixture {
	t.Helper()
	ctx := context.Background()
	key, err := signing.KeyFromSeed("ed25519:t", bytes.Repeat([]byte{7}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, now: time.UnixMilli(1_700_000_000_000)}
	f.dag, err = room.New(ctx, room.Config{
		ServerName: "hs", Key: key, Store: memory.New(),
		Now:  func() time.Time { f.now = f.now.Add(time.Millisecond); return f.now },
		Rand: seeded{rand.NewChaCha8([32]byte{1})},
	})
	if err != nil {
		t.Fatal(err)
	}
	create, err := f.dag.CreateRoom(ctx, roomversion.MustLookup("11"), alice, []byte(`{"room_version":"11"}`))
	if err != nil {
		t.Fatal(err)
	}
	f.roomID = create.RoomID()
	f.state(alice, "m.room.member", alice, `{"membership":"join"}`)
	f.state(alice, "m.room.power_levels", "", `{"users":{"@alice:hs":100}}`)
	f.state(alice, "m.room.join_rules", "", `{"join_rule":"public"}`)
	f.state(alice, "m.room.history_visibility", "", `{"history_visibility":"`+vis+`"}`)
	return f
}

func (f *fixture) send(p room.Proto) room.TimelineEvent {
	f.t.Helper()
	ev, err := f.dag.Send(context.Background(), f.roomID, p)
	if err != nil {
		f.t.Fatalf("send %s: %v", p.Type, err)
	}
	info, err := f.dag.Info(context.Background(), ev.ID())
	if err != nil {
		f.t.Fatal(err)
	}
	return room.TimelineEvent{Event: ev, Pos: info.Pos}
}

func (f *fixture) state(sender, typ, sk, content string) room.TimelineEvent {
	return f.send(room.Proto{Sender: sender, Type: typ, StateKey: &sk, Content: json.RawMessage(content)})
}

func (f *fixture) msg(sender, body string) room.TimelineEvent {
	return f.send(room.Proto{Sender: sender, Type: "m.room.message", Content: json.RawMessage(`{"msgtype":"m.text","body":"` + body + `"}`)})
}

// seen returns the bodies (or types, for state) of evs that user may see.
func (f *fixture) seen(user string, evs ...room.TimelineEvent) []string {
	f.t.Helper()
	v, err := NewViewer(context.Background(), f.dag, user, f.roomID)
	if err != nil {
		f.t.Fatal(err)
	}
	vis, err := v.Filter(context.Background(), evs)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, te := range vis {
		var c struct{ Body string }
		json.Unmarshal(te.Event.Content(), &c)
		if c.Body == "" {
			c.Body = te.Event.Type() + "/" + te.Event.Membership()
		}
		out = append(out, c.Body)
	}
	return out
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestViewer(t *testing.T) {
	for _, tc := range []struct {
		name string
		vis  string
		// run builds the history and returns the events to filter and what
		// bob should see of them.
		run func(f *fixture) ([]room.TimelineEvent, []string)
	}{
		{"shared, never joined", Shared, func(f *fixture) ([]room.TimelineEvent, []string) {
			return []room.TimelineEvent{f.msg(alice, "a")}, nil
		}},
		{"shared, joined later sees earlier history", Shared, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			j := f.state(bob, "m.room.member", bob, `{"membership":"join"}`)
			b := f.msg(alice, "b")
			return []room.TimelineEvent{a, j, b}, []string{"a", "m.room.member/join", "b"}
		}},
		{"shared, left: history up to the leave", Shared, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			f.state(bob, "m.room.member", bob, `{"membership":"join"}`)
			b := f.msg(alice, "b")
			l := f.state(bob, "m.room.member", bob, `{"membership":"leave"}`)
			c := f.msg(alice, "c")
			return []room.TimelineEvent{a, b, l, c}, []string{"a", "b", "m.room.member/leave"}
		}},
		{"shared, invited but not joined", Shared, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			i := f.state(alice, "m.room.member", bob, `{"membership":"invite"}`)
			b := f.msg(alice, "b")
			return []room.TimelineEvent{a, i, b}, nil
		}},
		{"shared, rejected invite after an earlier stay", Shared, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			f.state(bob, "m.room.member", bob, `{"membership":"join"}`)
			b := f.msg(alice, "b")
			f.state(bob, "m.room.member", bob, `{"membership":"leave"}`)
			c := f.msg(alice, "c")
			f.state(alice, "m.room.member", bob, `{"membership":"invite"}`)
			d := f.msg(alice, "d")
			f.state(bob, "m.room.member", bob, `{"membership":"leave"}`)
			return []room.TimelineEvent{a, b, c, d}, []string{"a", "b"}
		}},
		{"joined: only from the join", Joined, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			i := f.state(alice, "m.room.member", bob, `{"membership":"invite"}`)
			b := f.msg(alice, "b")
			j := f.state(bob, "m.room.member", bob, `{"membership":"join"}`)
			c := f.msg(alice, "c")
			l := f.state(bob, "m.room.member", bob, `{"membership":"leave"}`)
			d := f.msg(alice, "d")
			return []room.TimelineEvent{a, i, b, j, c, l, d}, []string{"m.room.member/join", "c", "m.room.member/leave"}
		}},
		{"invited: from the invite", Invited, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			i := f.state(alice, "m.room.member", bob, `{"membership":"invite"}`)
			b := f.msg(alice, "b")
			f.state(bob, "m.room.member", bob, `{"membership":"join"}`)
			c := f.msg(alice, "c")
			return []room.TimelineEvent{a, i, b, c}, []string{"m.room.member/invite", "b", "c"}
		}},
		{"world_readable: everyone", WorldReadable, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			return []room.TimelineEvent{a}, []string{"a"}
		}},
		{"visibility change seen from either side", WorldReadable, func(f *fixture) ([]room.TimelineEvent, []string) {
			a := f.msg(alice, "a")
			h := f.state(alice, "m.room.history_visibility", "", `{"history_visibility":"joined"}`)
			b := f.msg(alice, "b")
			h2 := f.state(alice, "m.room.history_visibility", "", `{"history_visibility":"world_readable"}`)
			c := f.msg(alice, "c")
			return []room.TimelineEvent{a, h, b, h2, c}, []string{"a", "m.room.history_visibility/", "m.room.history_visibility/", "c"}
		}},
		{"banned after joining", Joined, func(f *fixture) ([]room.TimelineEvent, []string) {
			f.state(bob, "m.room.member", bob, `{"membership":"join"}`)
			a := f.msg(alice, "a")
			ban := f.state(alice, "m.room.member", bob, `{"membership":"ban"}`)
			b := f.msg(alice, "b")
			return []room.TimelineEvent{a, ban, b}, []string{"a", "m.room.member/ban"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.vis)
			evs, want := tc.run(f)
			if got := f.seen(bob, evs...); !same(got, want) {
				t.Errorf("bob sees %q, want %q", got, want)
			}
			if got := f.seen(alice, evs...); len(got) != len(evs) {
				t.Errorf("alice, joined throughout, sees %d of %d events", len(got), len(evs))
			}
		})
	}
}

func TestHistoryVisibility(t *testing.T) {
	f := newFixture(t, Joined)
	st, err := f.dag.CurrentState(context.Background(), f.roomID)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := f.dag.Event(context.Background(), st[room.StateKeyOf("m.room.history_visibility", "")])
	if err != nil {
		t.Fatal(err)
	}
	if got := HistoryVisibility(ev); got != Joined {
		t.Errorf("HistoryVisibility = %q", got)
	}
	if got := HistoryVisibility(nil); got != Shared {
		t.Errorf("HistoryVisibility(nil) = %q", got)
	}
	odd := f.state(alice, "m.room.history_visibility", "", `{"history_visibility":42}`)
	if got := HistoryVisibility(odd.Event); got != Shared {
		t.Errorf("HistoryVisibility of a number = %q", got)
	}
}

func TestChecker(t *testing.T) {
	f := newFixture(t, Joined)
	a := f.msg(alice, "a")
	f.state(bob, "m.room.member", bob, `{"membership":"join"}`)
	b := f.msg(alice, "b")
	c := NewChecker(f.dag)
	for _, tc := range []struct {
		ev   room.TimelineEvent
		want bool
	}{{a, false}, {b, true}} {
		got, err := c.CanSee(context.Background(), bob, tc.ev.Event)
		if err != nil || got != tc.want {
			t.Errorf("CanSee(%s) = %v, %v; want %v", tc.ev.Event.ID(), got, err, tc.want)
		}
	}
}
