package stateres

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// stepsRoom is a room version 10 room with the bootstrap events and:
//
//	$pl2     alice demotes bob to 0 (cites $pl1)
//	$pl3     alice sets users_default 0 again (cites $pl2)
//	$plx     alice's fork of $pl1 (cites $pl1)
//	$carol   carol joins under $pl2
//	$t-bob   bob sets the topic (cites $pl1, $bob)
//	$t-bob2  bob sets the topic again (cites $pl1, $bob)
//	$t-carol carol, not joined, sets the topic
//	$pl-bob  bob raises himself to 100 (cites $pl1)
func stepsRoom(t testing.TB) *testRoom {
	r := newTestRoom(t, "10")
	r.bootstrap()
	r.add(ev{id: "$pl2", sender: alice, typ: tPL, content: `{"users":{"` + alice + `":100,"` + bob + `":0}}`,
		auth: r.auth("$alice", "$pl1"), ts: 6})
	r.add(ev{id: "$pl3", sender: alice, typ: tPL, content: `{"users":{"` + alice + `":100},"users_default":0}`,
		auth: r.auth("$alice", "$pl2"), ts: 7})
	r.add(ev{id: "$plx", sender: alice, typ: tPL, content: `{"users":{"` + alice + `":100,"` + bob + `":40}}`,
		auth: r.auth("$alice", "$pl1"), ts: 7})
	r.add(ev{id: "$carol", sender: carol, typ: tMember, sk: carol, content: joined,
		auth: r.auth("$pl2", "$jr"), ts: 8})
	r.add(ev{id: "$t-bob", sender: bob, typ: tTopic, content: `{"topic":"bob"}`,
		auth: r.auth("$pl1", "$bob"), ts: 9})
	r.add(ev{id: "$t-bob2", sender: bob, typ: tTopic, content: `{"topic":"bob again"}`,
		auth: r.auth("$pl1", "$bob"), ts: 10})
	r.add(ev{id: "$t-carol", sender: carol, typ: tTopic, content: `{"topic":"carol"}`,
		auth: r.auth("$pl1"), ts: 11})
	r.add(ev{id: "$pl-bob", sender: bob, typ: tPL, content: `{"users":{"` + alice + `":100,"` + bob + `":100}}`,
		auth: r.auth("$pl1", "$bob"), ts: 12})
	return r
}

func TestAuthDifference(t *testing.T) {
	r := stepsRoom(t)
	base := []string{"$create", "$alice", "$jr", "$bob"}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	tests := []struct {
		name string
		sets [][]string
		want idSet
	}{
		{"identical states", [][]string{with("$pl1"), with("$pl1")}, ids()},
		{"conflict whose chains agree", [][]string{with("$pl1"), with("$pl2")}, ids()},
		{"one chain reaches further", [][]string{with("$pl1"), with("$pl2", "$carol")}, ids("$pl2")},
		{"three states", [][]string{with("$pl1"), with("$pl2", "$carol"), with("$pl1", "$t-bob")}, ids("$pl2", "$bob")},
		{"a state lacks an event the others cite",
			[][]string{{"$create", "$alice", "$pl1"}, {"$create", "$alice", "$pl1", "$t-bob"}},
			ids("$pl1", "$bob", "$jr")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sets []map[event.StateKey]string
			for _, s := range tt.sets {
				sets = append(sets, r.state(s...))
			}
			res := newResolver(r.v, r.evs)
			unconflicted, _, rest := split(sets)
			got, err := res.authDifference(unconflicted, rest)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("auth difference %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tt.want)))
			}
		})
	}
}

func TestSplit(t *testing.T) {
	r := stepsRoom(t)
	sets := []map[event.StateKey]string{
		r.state("$create", "$alice", "$pl1", "$t-bob"),
		r.state("$create", "$alice", "$pl2", "$t-bob"),
		r.state("$create", "$alice", "$pl2", "$t-bob", "$bob"),
	}
	unconflicted, conflicted, _ := split(sets)
	if want := r.state("$create", "$alice", "$t-bob"); !maps.Equal(unconflicted, want) {
		t.Errorf("unconflicted %v, want %v", unconflicted, want)
	}
	if want := ids("$pl1", "$pl2", "$bob"); !maps.Equal(conflicted, want) {
		t.Errorf("conflicted %v, want %v", conflicted, want)
	}
}

func TestConflictedSubgraph(t *testing.T) {
	r := newTestRoom(t, "12")
	r.bootstrap()
	r.add(ev{id: "$pl2", sender: alice, typ: tPL, content: `{"users":{"` + bob + `":50,"` + carol + `":50}}`,
		auth: r.auth("$alice", "$pl1"), ts: 6})
	r.add(ev{id: "$pl3", sender: alice, typ: tPL, content: `{"users":{"` + bob + `":50}}`,
		auth: r.auth("$alice", "$pl2"), ts: 7})
	tests := []struct {
		name       string
		conflicted idSet
		want       idSet
	}{
		{"path through an unconflicted event", ids("$pl1", "$pl3"), ids("$pl1", "$pl2", "$pl3")},
		{"no path between them", ids("$pl3", "$bob"), ids("$pl3", "$bob")},
		{"two paths", ids("$bob", "$pl1"), ids("$bob", "$jr", "$pl1")},
		{"the implied create event", ids("$create", "$pl2"), ids("$create", "$alice", "$pl1", "$pl2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newResolver(r.v, r.evs).conflictedSubgraph(tt.conflicted)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("subgraph %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tt.want)))
			}
		})
	}
}

func TestPowerEvents(t *testing.T) {
	r := stepsRoom(t)
	r.add(ev{id: "$kick", sender: alice, typ: tMember, sk: bob, content: `{"membership":"leave"}`, ts: 20})
	r.add(ev{id: "$ban", sender: alice, typ: tMember, sk: bob, content: `{"membership":"ban"}`, ts: 21})
	r.add(ev{id: "$leave", sender: bob, typ: tMember, sk: bob, content: `{"membership":"leave"}`, ts: 22})
	r.add(ev{id: "$invite", sender: alice, typ: tMember, sk: carol, content: `{"membership":"invite"}`, ts: 23})
	for id, want := range map[string]bool{
		"$pl1": true, "$jr": true, "$kick": true, "$ban": true,
		"$leave": false, "$invite": false, "$bob": false, "$t-bob": false, "$create": false,
	} {
		if got := isPowerEvent(r.evs[id]); got != want {
			t.Errorf("isPowerEvent(%s) = %v, want %v", id, got, want)
		}
	}
}

func TestReverseTopologicalPowerOrder(t *testing.T) {
	r := stepsRoom(t)
	// Power comes from the power levels among each event's own auth
	// events: $pl1 gives alice 100, bob 50 and carol 0; $pl2 gives bob 0.
	add := func(id, sender string, ts int64, auth ...string) {
		r.add(ev{id: id, sender: sender, typ: "m.test", sk: id, content: `{}`, auth: r.auth(auth...), ts: ts})
	}
	add("$x-carol", carol, 1, "$pl1")
	add("$x-bob", bob, 2, "$pl1")
	add("$x-alice", alice, 3, "$pl1")
	add("$late", bob, 9, "$pl1")
	add("$early", bob, 8, "$pl1")
	add("$yb", bob, 7, "$pl1")
	add("$ya", bob, 7, "$pl1")
	add("$z1", carol, 1, "$pl1")
	add("$z2", alice, 0, "$pl1", "$z1")
	add("$w", bob, 5, "$pl1")
	add("$demoted", bob, 1, "$pl2")
	add("$c", carol, 2, "$pl1")
	add("$promoted", bob, 3, "$pl1")

	r12 := newTestRoom(t, "12")
	r12.bootstrap()
	r12.add(ev{id: "$bob-pl", sender: alice, typ: tPL, content: `{"users":{"` + bob + `":100}}`,
		auth: r12.auth("$alice", "$pl1"), ts: 6})
	r12.add(ev{id: "$by-bob", sender: bob, typ: "m.test", sk: "b", content: `{}`, auth: r12.auth("$bob-pl"), ts: 1})
	r12.add(ev{id: "$by-alice", sender: alice, typ: "m.test", sk: "a", content: `{}`, auth: r12.auth("$bob-pl"), ts: 2})

	tests := []struct {
		name string
		room *testRoom
		ids  idSet
		want []string
	}{
		{"greater power first", r, ids("$x-carol", "$x-bob", "$x-alice"), []string{"$x-alice", "$x-bob", "$x-carol"}},
		{"then smaller origin_server_ts", r, ids("$late", "$early"), []string{"$early", "$late"}},
		{"then smaller event ID", r, ids("$yb", "$ya"), []string{"$ya", "$yb"}},
		{"auth events come first", r, ids("$z2", "$z1", "$w"), []string{"$w", "$z1", "$z2"}},
		{"power as of the event's auth events", r, ids("$demoted", "$c", "$promoted"),
			[]string{"$promoted", "$demoted", "$c"}},
		{"events outside the set do not order", r, ids("$pl2", "$carol", "$bob"), []string{"$pl2", "$bob", "$carol"}},
		{"room version 12 creators outrank everyone", r12, ids("$by-bob", "$by-alice"), []string{"$by-alice", "$by-bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newResolver(tt.room.v, tt.room.evs).reverseTopologicalPowerOrder(tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("order %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMainlineOrder(t *testing.T) {
	r := stepsRoom(t)
	add := func(id string, ts int64, auth ...string) {
		r.add(ev{id: id, sender: alice, typ: "m.test", sk: id, content: `{}`, auth: r.auth(auth...), ts: ts})
	}
	add("$e0", 9, "$alice")
	add("$e1", 1, "$alice", "$pl1")
	add("$efork", 0, "$alice", "$plx")
	add("$e2", 5, "$alice", "$pl2")
	add("$e3b", 0, "$alice", "$pl3")
	add("$e3a", 0, "$alice", "$pl3")
	events := []string{"$e3b", "$e2", "$e1", "$efork", "$e0", "$e3a"}
	tests := []struct {
		name string
		pl   string
		want []string
	}{
		// Mainline $pl3, $pl2, $pl1: $e0 cites no power levels, $efork
		// reaches the mainline at $pl1.
		{"latest power levels", "$pl3", []string{"$e0", "$efork", "$e1", "$e2", "$e3a", "$e3b"}},
		// Mainline $pl2, $pl1: $pl3 leads to $pl2, so $e3a and $e3b tie
		// with $e2 and go by timestamp.
		{"older power levels", "$pl2", []string{"$e0", "$efork", "$e1", "$e3a", "$e3b", "$e2"}},
		// No power levels: timestamp, then event ID.
		{"no power levels", "", []string{"$e3a", "$e3b", "$efork", "$e1", "$e2", "$e0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newResolver(r.v, r.evs).mainlineOrder(slices.Clone(events), tt.pl)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("order %v, want %v", got, tt.want)
			}
		})
	}
}

// rejectingEvents marks some events rejected.
type rejectingEvents struct {
	memEvents
	rejected idSet
}

func (e rejectingEvents) Rejected(id string) bool { return e.rejected.has(id) }

func TestIterativeAuthChecks(t *testing.T) {
	r := stepsRoom(t)
	full := []string{"$create", "$alice", "$pl1", "$jr", "$bob"}
	tests := []struct {
		name     string
		start    []string
		order    []string
		rejected idSet
		want     []string
	}{
		{"an event from a non-member is rejected", full, []string{"$t-carol", "$t-bob"},
			nil, append(slices.Clone(full), "$t-bob")},
		{"raising one's own power is rejected", full, []string{"$t-bob", "$pl-bob"},
			nil, append(slices.Clone(full), "$t-bob")},
		{"a demotion applied first rejects the demoted", full, []string{"$pl2", "$t-bob"},
			nil, []string{"$create", "$alice", "$pl2", "$jr", "$bob"}},
		{"the partial state wins over auth events", []string{"$create", "$alice", "$pl2", "$jr", "$bob"},
			[]string{"$t-bob"}, nil, []string{"$create", "$alice", "$pl2", "$jr", "$bob"}},
		{"auth events fill gaps in the state", nil, []string{"$t-bob"}, nil, []string{"$t-bob"}},
		{"rejected auth events do not fill gaps", nil, []string{"$t-bob"}, ids("$bob"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src Events = r.evs
			if tt.rejected != nil {
				src = rejectingEvents{r.evs, tt.rejected}
			}
			state := r.state(tt.start...)
			if err := newResolver(r.v, src).iterativeAuthChecks(&partialState{top: state}, tt.order); err != nil {
				t.Fatal(err)
			}
			if want := r.state(tt.want...); !maps.Equal(state, want) {
				t.Errorf("state%s\nwant%s", formatState(state), formatState(want))
			}
		})
	}
}

func TestResolveV2(t *testing.T) {
	r := stepsRoom(t)
	base := []string{"$create", "$alice", "$jr", "$bob"}
	with := func(extra ...string) map[event.StateKey]string {
		return r.state(append(slices.Clone(base), extra...)...)
	}
	tests := []struct {
		name string
		sets []map[event.StateKey]string
		want map[event.StateKey]string
	}{
		{"the demotion rejects the topic", []map[event.StateKey]string{with("$pl2"), with("$pl1", "$t-bob")},
			with("$pl2")},
		{"later topic wins in mainline order", []map[event.StateKey]string{with("$pl1", "$t-bob"), with("$pl1", "$t-bob2")},
			with("$pl1", "$t-bob2")},
		{"unconflicted state is not re-checked", []map[event.StateKey]string{with("$pl1", "$t-bob"), with("$pl2", "$t-bob")},
			with("$pl2", "$t-bob")},
		{"a power levels fork goes by power ordering", []map[event.StateKey]string{with("$pl2"), with("$plx")},
			with("$plx")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(r.v, tt.sets, r.evs)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("resolved%s\nwant%s", formatState(got), formatState(tt.want))
			}
		})
	}
}

func TestUnconflictedPassthrough(t *testing.T) {
	r := stepsRoom(t)
	s := r.state("$create", "$alice", "$pl1", "$jr", "$bob", "$t-bob")
	for _, v := range roomversion.All() {
		// With nothing in conflict no event is needed: the source is
		// empty, so a load would fail.
		for n := 0; n <= 3; n++ {
			sets := make([]map[event.StateKey]string, n)
			for i := range sets {
				sets[i] = copyState(s)
			}
			got, err := Resolve(v, sets, memEvents{})
			if err != nil {
				t.Fatalf("v%s, %d identical sets: %v", v.ID, n, err)
			}
			want := s
			if n == 0 {
				want = map[event.StateKey]string{}
			}
			if !maps.Equal(got, want) {
				t.Errorf("v%s, %d identical sets: got%s", v.ID, n, formatState(got))
			}
			if n > 0 {
				got[createKey] = "$changed"
				if sets[0][createKey] != "$create" {
					t.Errorf("v%s: the result shares the input map", v.ID)
				}
			}
		}
	}
}

func TestResolveErrors(t *testing.T) {
	r := stepsRoom(t)
	sets := []map[event.StateKey]string{
		r.state("$create", "$alice", "$pl1"),
		r.state("$create", "$alice", "$pl2"),
	}
	for _, version := range []string{"1", "10", "12"} {
		v := roomversion.MustLookup(version)
		if _, err := Resolve(v, sets, memEvents{}); !errors.Is(err, ErrMissingEvent) {
			t.Errorf("v%s with no events: error %v, want ErrMissingEvent", version, err)
		}
	}
	if _, err := Resolve(&roomversion.Version{ID: "bogus"}, sets, r.evs); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown algorithm: error %v, want ErrUnsupported", err)
	}
	if _, err := Resolve(nil, sets, r.evs); !errors.Is(err, ErrUnsupported) {
		t.Errorf("nil version: error %v, want ErrUnsupported", err)
	}
}
