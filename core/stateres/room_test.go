package stateres

import (
	"encoding/json"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// testRoom builds events for the unit tests.
type testRoom struct {
	t      testing.TB
	v      *roomversion.Version
	roomID string
	evs    memEvents
}

// ev describes one test event; every test event is a state event.
type ev struct {
	id, sender, typ, sk, content string
	auth, prev                   []string
	ts, depth                    int64
}

const (
	alice   = "@alice:example.com"
	bob     = "@bob:example.com"
	carol   = "@carol:example.com"
	dave    = "@dave:example.com"
	tMember = "m.room.member"
	tPL     = "m.room.power_levels"
	tJR     = "m.room.join_rules"
	tTopic  = "m.room.topic"
	tCreate = "m.room.create"
	joined  = `{"membership":"join"}`
)

func newTestRoom(t testing.TB, version string) *testRoom {
	return &testRoom{t: t, v: roomversion.MustLookup(version), roomID: "!room:example.com", evs: memEvents{}}
}

// add builds e as a PDU of the room's version and stores it.
func (r *testRoom) add(e ev) *event.PDU {
	r.t.Helper()
	refs := func(ids []string) any {
		if r.v.EventIDFormat != roomversion.EventIDInEvent {
			if ids == nil {
				return []string{}
			}
			return ids
		}
		pairs := make([][]any, 0, len(ids))
		for _, id := range ids {
			pairs = append(pairs, []any{id, map[string]string{}})
		}
		return pairs
	}
	depth := e.depth
	if depth == 0 {
		depth = e.ts
	}
	m := map[string]any{
		"sender":           e.sender,
		"type":             e.typ,
		"state_key":        e.sk,
		"content":          json.RawMessage(e.content),
		"auth_events":      refs(e.auth),
		"prev_events":      refs(e.prev),
		"depth":            depth,
		"origin_server_ts": e.ts,
	}
	if r.v.EventIDFormat == roomversion.EventIDInEvent {
		m["event_id"] = e.id
	}
	isCreate := e.typ == tCreate && e.sk == ""
	if r.v.RoomIDFromCreateEvent && isCreate {
		r.roomID = "!" + e.id[1:]
	} else {
		m["room_id"] = r.roomID
	}
	raw, err := json.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := event.Load(e.id, raw, r.v)
	if err != nil {
		r.t.Fatalf("load %s: %v", e.id, err)
	}
	r.evs[e.id] = p
	return p
}

// create adds the create event $create by alice.
func (r *testRoom) create() {
	content := `{"creator":"` + alice + `","room_version":"` + r.v.ID + `"}`
	if r.v.CreatorIsSender {
		content = `{"room_version":"` + r.v.ID + `"}`
	}
	r.add(ev{id: "$create", sender: alice, typ: tCreate, content: content, ts: 1})
}

// auth lists the create event (unless the room version implies it) and
// the given IDs.
func (r *testRoom) auth(ids ...string) []string {
	if r.v.RoomIDFromCreateEvent {
		return ids
	}
	return append([]string{"$create"}, ids...)
}

// bootstrap adds the usual start of a room: $create, alice's join
// $alice, power levels $pl1 (alice 100, bob 50), public join rules $jr and
// bob's join $bob.
func (r *testRoom) bootstrap() {
	r.create()
	r.add(ev{id: "$alice", sender: alice, typ: tMember, sk: alice, content: joined,
		auth: r.auth(), prev: []string{"$create"}, ts: 2})
	r.add(ev{id: "$pl1", sender: alice, typ: tPL, content: r.users(bob, 50),
		auth: r.auth("$alice"), prev: []string{"$alice"}, ts: 3})
	r.add(ev{id: "$jr", sender: alice, typ: tJR, content: `{"join_rule":"public"}`,
		auth: r.auth("$alice", "$pl1"), prev: []string{"$pl1"}, ts: 4})
	r.add(ev{id: "$bob", sender: bob, typ: tMember, sk: bob, content: joined,
		auth: r.auth("$pl1", "$jr"), prev: []string{"$jr"}, ts: 5})
}

// users returns power levels content giving alice 100, unless she is a
// room version 12 creator whom power levels cannot name, and the given
// users (alternating user ID and level) their levels.
func (r *testRoom) users(levels ...any) string {
	m := map[string]any{}
	if !r.v.PrivilegedCreators {
		m[alice] = 100
	}
	for i := 0; i+1 < len(levels); i += 2 {
		m[levels[i].(string)] = levels[i+1]
	}
	raw, err := json.Marshal(map[string]any{"users": m})
	if err != nil {
		r.t.Fatal(err)
	}
	return string(raw)
}

// state builds a state map from event IDs.
func (r *testRoom) state(ids ...string) map[event.StateKey]string {
	r.t.Helper()
	s := map[event.StateKey]string{}
	for _, id := range ids {
		p, ok := r.evs[id]
		if !ok {
			r.t.Fatalf("no test event %s", id)
		}
		s[p.StateTuple()] = id
	}
	return s
}

// ids makes an idSet.
func ids(list ...string) idSet {
	s := idSet{}
	for _, id := range list {
		s.add(id)
	}
	return s
}
