package stateres

import (
	"fmt"
	"maps"
	"testing"

	"hearth/core/event"
)

// largeRoom is a synthetic room: the bootstrap events, then members joins
// (@u0 ... @u<members-1>), then three forks from that state, each adding
// perFork joins of its own:
//
//	fork 0: alice makes u0 a moderator ($f0-pl); u0 sets the topic
//	fork 1: alice kicks u1 ... u<perFork/10>; bob sets the topic
//	fork 2: alice demotes bob, keeping u0 a moderator ($f2-pl, later)
//
// It returns the room, the three fork states, and what state resolution
// v2 and v2.1 make of them: $f2-pl, the kicks, u0's topic (bob's fails
// against $f2-pl) and every join.
func largeRoom(tb testing.TB, version string, members, perFork int) (*testRoom, []map[event.StateKey]string, map[event.StateKey]string) {
	r := newTestRoom(tb, version)
	r.bootstrap()
	base := r.state("$create", "$alice", "$pl1", "$jr", "$bob")
	user := func(i int) string { return fmt.Sprintf("@u%d:example.com", i) }
	ts := int64(100)
	next := func() int64 { ts++; return ts }
	for i := range members {
		id := fmt.Sprintf("$m-%d", i)
		r.add(ev{id: id, sender: user(i), typ: tMember, sk: user(i), content: joined,
			auth: r.auth("$pl1", "$jr"), ts: next()})
		base[event.StateKey{Type: tMember, StateKey: user(i)}] = id
	}
	want := copyState(base)
	forks := make([]map[event.StateKey]string, 3)
	for f := range forks {
		forks[f] = copyState(base)
		set := func(id string) {
			p := r.evs[id]
			forks[f][p.StateTuple()] = id
		}
		pl := "$pl1"
		switch f {
		case 0:
			pl = "$f0-pl"
			r.add(ev{id: pl, sender: alice, typ: tPL, content: r.users(bob, 50, user(0), 50),
				auth: r.auth("$alice", "$pl1"), ts: next()})
			r.add(ev{id: "$f0-topic", sender: user(0), typ: tTopic, content: `{"topic":"u0"}`,
				auth: r.auth(pl, "$m-0"), ts: next()})
			set(pl)
			set("$f0-topic")
			want[event.StateKey{Type: tTopic}] = "$f0-topic"
		case 1:
			for k := 1; k <= perFork/10 && k < members; k++ {
				id := fmt.Sprintf("$f1-kick-%d", k)
				r.add(ev{id: id, sender: alice, typ: tMember, sk: user(k), content: `{"membership":"leave"}`,
					auth: r.auth("$alice", "$pl1", fmt.Sprintf("$m-%d", k)), ts: next()})
				set(id)
				want[event.StateKey{Type: tMember, StateKey: user(k)}] = id
			}
			r.add(ev{id: "$f1-topic", sender: bob, typ: tTopic, content: `{"topic":"bob"}`,
				auth: r.auth("$pl1", "$bob"), ts: next()})
			set("$f1-topic")
		case 2:
			pl = "$f2-pl"
			r.add(ev{id: pl, sender: alice, typ: tPL, content: r.users(bob, 0, user(0), 50),
				auth: r.auth("$alice", "$pl1"), ts: next()})
			set(pl)
			want[powerLevelsKey] = pl
		}
		for k := range perFork {
			u := fmt.Sprintf("@f%d-%d:example.com", f, k)
			id := fmt.Sprintf("$f%d-join-%d", f, k)
			r.add(ev{id: id, sender: u, typ: tMember, sk: u, content: joined,
				auth: r.auth(pl, "$jr"), ts: next()})
			set(id)
			want[event.StateKey{Type: tMember, StateKey: u}] = id
		}
	}
	return r, forks, want
}

func TestLargeRoom(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		r, forks, want := largeRoom(t, version, 500, 50)
		got, err := Resolve(r.v, forks, r.evs)
		if err != nil {
			t.Fatalf("v%s: %v", version, err)
		}
		reversed := []map[event.StateKey]string{forks[2], forks[1], forks[0]}
		if again, err := Resolve(r.v, reversed, r.evs); err != nil || !maps.Equal(again, got) {
			t.Errorf("v%s: the order of the states changed the result (error %v)", version, err)
		}
		if !maps.Equal(got, want) {
			for k, id := range want {
				if got[k] != id {
					t.Errorf("v%s: %s resolved to %q, want %q", version, k, got[k], id)
				}
			}
			for k, id := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("v%s: unexpected %s -> %s", version, k, id)
				}
			}
		}
	}
}

// BenchmarkResolve10k resolves three forks of a room with 10,000 member
// events, each fork adding a hundred joins and its own power levels,
// kicks or topic.
func BenchmarkResolve10k(b *testing.B) {
	for _, version := range []string{"1", "10", "12"} {
		r, forks, _ := largeRoom(b, version, 10000, 100)
		b.Run("v"+version, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Resolve(r.v, forks, r.evs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
