package stateres

import (
	"bytes"
	"crypto/sha1"
	"maps"
	"slices"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// forkRoom builds, in the given room version, the bootstrap events and a
// fork: on one side alice demotes bob ($pl2, depth 6), on the other bob,
// still a moderator, sets the topic ($t-bob, depth 9).
func forkRoom(t *testing.T, version string) (*testRoom, []map[event.StateKey]string) {
	r := newTestRoom(t, version)
	r.bootstrap()
	r.add(ev{id: "$pl2", sender: alice, typ: tPL, content: `{"users":{"` + alice + `":100,"` + bob + `":0}}`,
		auth: r.auth("$alice", "$pl1"), prev: []string{"$bob"}, ts: 6})
	r.add(ev{id: "$t-bob", sender: bob, typ: tTopic, content: `{"topic":"bob"}`,
		auth: r.auth("$pl1", "$bob"), prev: []string{"$bob"}, ts: 9})
	base := []string{"$create", "$alice", "$jr", "$bob"}
	return r, []map[event.StateKey]string{
		r.state(append(slices.Clone(base), "$pl2")...),
		r.state(append(slices.Clone(base), "$pl1", "$t-bob")...),
	}
}

// TestV1AndV2Differ resolves the same fork under both algorithms. Room
// version 1 only resolves keys whose events differ, so bob's topic, which
// one side lacks, stands although alice demoted him. Room version 2 puts
// the topic in the conflicted set and checks it after the demotion, which
// rejects it.
func TestV1AndV2Differ(t *testing.T) {
	base := []string{"$create", "$alice", "$jr", "$bob", "$pl2"}
	for _, tt := range []struct {
		version string
		want    []string
	}{
		{"1", append(slices.Clone(base), "$t-bob")},
		{"2", base},
	} {
		r, sets := forkRoom(t, tt.version)
		got, err := Resolve(r.v, sets, r.evs)
		if err != nil {
			t.Fatalf("v%s: %v", tt.version, err)
		}
		if want := r.state(tt.want...); !maps.Equal(got, want) {
			t.Errorf("v%s resolved%s\nwant%s", tt.version, formatState(got), formatState(want))
		}
	}
}

// lowerSHA1 returns whichever of a and b has the smaller sha1(event_id).
func lowerSHA1(a, b string) (lower, higher string) {
	ha, hb := sha1.Sum([]byte(a)), sha1.Sum([]byte(b))
	if bytes.Compare(ha[:], hb[:]) < 0 {
		return a, b
	}
	return b, a
}

func TestResolveV1(t *testing.T) {
	r := newTestRoom(t, "1")
	r.bootstrap()
	pl := func(id, sender, content string, depth int64) {
		r.add(ev{id: id, sender: sender, typ: tPL, content: content,
			auth: r.auth("$pl1", "$alice", "$bob"), ts: depth, depth: depth})
	}
	topic := func(id, sender string, depth int64) {
		r.add(ev{id: id, sender: sender, typ: tTopic, content: `{"topic":"` + id + `"}`,
			auth: r.auth("$pl1", "$alice", "$bob"), ts: depth, depth: depth})
	}
	// Alice demotes bob; bob, a moderator under $pl1, edits the events
	// levels; alice makes bob an admin.
	pl("$demote", alice, `{"users":{"`+alice+`":100,"`+bob+`":0}}`, 10)
	pl("$bob-edit", bob, `{"users":{"`+alice+`":100,"`+bob+`":50},"events":{"m.room.name":50}}`, 11)
	pl("$promote", alice, `{"users":{"`+alice+`":100,"`+bob+`":100}}`, 12)
	// Two power levels events by alice at the same depth.
	pl("$same-a", alice, `{"users":{"`+alice+`":100,"`+bob+`":10}}`, 20)
	pl("$same-b", alice, `{"users":{"`+alice+`":100,"`+bob+`":20}}`, 20)
	lowPL, highPL := lowerSHA1("$same-a", "$same-b")
	// Carol, not in the room, takes over at a depth below $pl1's.
	pl("$carol-pl", carol, `{"users":{"`+carol+`":100}}`, 1)

	topic("$t-bob", bob, 9)
	topic("$t-carol", carol, 30) // carol is not in the room
	topic("$t-x", bob, 15)
	topic("$t-y", bob, 15)
	lowTopic, _ := lowerSHA1("$t-x", "$t-y")

	r.add(ev{id: "$kick", sender: alice, typ: tMember, sk: bob, content: `{"membership":"leave"}`,
		auth: r.auth("$pl1", "$alice", "$bob"), ts: 8, depth: 8})
	r.add(ev{id: "$carol-join", sender: carol, typ: tMember, sk: carol, content: joined,
		auth: r.auth("$pl1", "$jr"), ts: 7, depth: 7})
	r.add(ev{id: "$carol-ban", sender: bob, typ: tMember, sk: carol, content: `{"membership":"ban"}`,
		auth: r.auth("$pl1", "$bob", "$carol-join"), ts: 13, depth: 13})

	base := []string{"$create", "$alice", "$jr", "$bob"}
	with := func(extra ...string) map[event.StateKey]string {
		s := r.state(base...)
		maps.Copy(s, r.state(extra...))
		return s
	}
	tests := []struct {
		name string
		sets []map[event.StateKey]string
		want map[event.StateKey]string
	}{
		{"a key that one state lacks is no conflict",
			[]map[event.StateKey]string{with("$pl1"), with("$pl1", "$t-carol")}, with("$pl1", "$t-carol")},
		{"power levels stop at the first rejected event",
			[]map[event.StateKey]string{with("$demote"), with("$bob-edit"), with("$promote")}, with("$demote")},
		{"power levels allowed in turn",
			[]map[event.StateKey]string{with("$bob-edit"), with("$promote")}, with("$promote")},
		{"power levels at equal depth by descending sha1",
			[]map[event.StateKey]string{with(highPL), with(lowPL)}, with(lowPL)},
		{"the first power levels event is taken unchecked",
			[]map[event.StateKey]string{with("$pl1"), with("$carol-pl")}, with("$carol-pl")},
		{"others: the deepest allowed event",
			[]map[event.StateKey]string{with("$pl1", "$t-bob"), with("$pl1", "$t-carol")}, with("$pl1", "$t-bob")},
		{"others: equal depth by ascending sha1",
			[]map[event.StateKey]string{with("$pl1", "$t-x"), with("$pl1", "$t-y")}, with("$pl1", lowTopic)},
		{"others are checked against the resolved power levels",
			[]map[event.StateKey]string{with("$demote", "$t-bob"), with("$pl1", "$t-x")}, with("$demote")},
		{"members after power levels",
			[]map[event.StateKey]string{with("$pl1", "$kick"), with("$pl1")}, with("$pl1", "$kick")},
		{"a membership the resolved power levels forbid",
			[]map[event.StateKey]string{with("$demote", "$carol-join"), with("$pl1", "$carol-ban")},
			with("$demote", "$carol-join")},
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
	if r.v.StateRes != roomversion.StateResV1 {
		t.Fatalf("room version %s does not use state resolution v1", r.v.ID)
	}
}
