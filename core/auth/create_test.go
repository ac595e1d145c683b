package auth

import (
	"encoding/json"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// createEvent builds an m.room.create event of version ver from a full
// JSON snippet (prev_events and auth_events default to empty).
func createEvent(t *testing.T, ver, id, snippet string) *event.PDU {
	t.Helper()
	v := roomversion.MustLookup(ver)
	var m map[string]any
	if err := json.Unmarshal([]byte(snippet), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"prev_events", "auth_events"} {
		if _, ok := m[k]; !ok {
			m[k] = []any{}
		}
	}
	if v.EventIDFormat == roomversion.EventIDInEvent {
		m["event_id"] = id
	}
	m["depth"] = 1
	m["origin_server_ts"] = 1
	raw, _ := json.Marshal(m)
	p, err := event.Load(id, raw, v)
	if err != nil {
		t.Fatalf("load %s: %v", raw, err)
	}
	return p
}

func TestCreate(t *testing.T) {
	type tc struct {
		name    string
		vers    []string
		snippet string
		allow   bool
	}
	pre12 := versionsBetween(1, 11)
	pre11 := versionsBetween(1, 10)
	cases := []tc{
		{"plain pre-v11", pre11, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{"creator":"@alice:a.example","room_version":"5"}}`, true},
		{"no creator pre-v11", pre11, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{}}`, false},
		{"no creator v11", []string{"11"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{}}`, true},
		{"creator key ignored v11", []string{"11"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{"creator":7}}`, true},
		{"room on another server", pre12, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:b.example","content":{"creator":"@alice:a.example"}}`, false},
		{"prev_events", pre12, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{"creator":"@alice:a.example"},"prev_events":["$x"]}`, false},
		{"unknown room_version", pre12, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{"creator":"@alice:a.example","room_version":"99"}}`, false},
		{"room_version not a string", pre12, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{"creator":"@alice:a.example","room_version":5}}`, false},
		{"additional_creators ignored before v12", pre12, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!r:a.example","content":{"creator":"@alice:a.example","additional_creators":"x"}}`, true},
		{"v12", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"room_version":"12"}}`, true},
		{"v12 with room_id", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!createhash","content":{}}`, false},
		{"v12 prev_events", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{},"prev_events":["$x"]}`, false},
		{"v12 unknown room_version", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"room_version":"x"}}`, false},
		{"v12 additional_creators", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"additional_creators":["@bob:b.example","@carol:c.example:8448"]}}`, true},
		{"v12 additional_creators empty", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"additional_creators":[]}}`, true},
		{"v12 additional_creators not an array", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"additional_creators":"@bob:b.example"}}`, false},
		{"v12 additional_creators not strings", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"additional_creators":[1]}}`, false},
		{"v12 additional_creators invalid ID", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"additional_creators":["bob"]}}`, false},
		{"v12 additional_creators null", []string{"12"}, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"additional_creators":null}}`, false},
	}
	for _, c := range cases {
		for _, ver := range c.vers {
			t.Run(c.name+"/v"+ver, func(t *testing.T) {
				id := "$createhash"
				if roomversion.MustLookup(ver).EventIDFormat == roomversion.EventIDInEvent {
					id = "$c:a.example"
				}
				ev := createEvent(t, ver, id, c.snippet)
				err := Check(ev, MapState{})
				if (err == nil) != c.allow {
					t.Fatalf("allowed=%v, want %v (%v)", err == nil, c.allow, err)
				}
				// The create event needs no auth events.
				if err2 := CheckAuthEvents(ev, nil); (err2 == nil) != c.allow {
					t.Fatalf("CheckAuthEvents disagrees: %v", err2)
				}
			})
		}
	}
}

func TestRoomAndCreateEvent(t *testing.T) {
	msg := `{"type":"m.room.message","sender":"@alice:a.example","content":{"body":"x"}}`
	for _, ver := range allVersions {
		t.Run("v"+ver, func(t *testing.T) {
			r := standard(t, ver, "public")
			r.expect(r.ev(msg), true)

			// No create event in the state.
			delete(r.state, createKey)
			r.expect(r.ev(msg), false)

			// A create event of another room.
			r = standard(t, ver, "public")
			other := newRoom(t, ver, "")
			if r.v.RoomIDFromCreateEvent {
				other = newRoomWithCreateID(t, ver, "$otherhash")
			} else {
				other.id = "!other:a.example"
				other.create = other.ev(`{"type":"m.room.create","state_key":"","sender":"@alice:a.example","room_id":"!other:a.example","content":{"creator":"@alice:a.example"},"prev_events":[]}`)
			}
			r.state[createKey] = other.create
			ok, err := r.check(r.ev(msg))
			if ok {
				t.Fatalf("create of another room accepted")
			}
			t.Log(err)
		})
	}
}

func TestV12RoomIDNamesCreateEvent(t *testing.T) {
	// A create event whose own ID does not name the room is not the
	// room's, even if it claims the room in a room_id field (which a valid
	// v12 create event never has).
	r := standard(t, "12", "public")
	r.expect(msgEv(alice, "m.room.message")(r), true)
	impostor := r.load("$otherhash", map[string]any{"type": typeCreate, "state_key": "", "sender": alice, "room_id": r.id, "content": map[string]any{}}, true)
	if impostor.RoomID() != r.id {
		t.Fatalf("impostor room %s", impostor.RoomID())
	}
	r.state[createKey] = impostor
	ok, err := r.check(msgEv(alice, "m.room.message")(r))
	if ok || !strings.Contains(err.Error(), "room id") {
		t.Fatalf("impostor create accepted: %v", err)
	}
}

// newRoomWithCreateID is newRoom for room version 12 with a chosen create
// event ID.
func newRoomWithCreateID(t *testing.T, ver, id string) *room {
	r := &room{t: t, v: roomversion.MustLookup(ver), state: MapState{}}
	r.create = r.load(id, map[string]any{"type": typeCreate, "state_key": "", "sender": alice, "content": map[string]any{}}, true)
	r.id = "!" + id[1:]
	r.state[createKey] = r.create
	return r
}

func TestFederate(t *testing.T) {
	for _, ver := range allVersions {
		t.Run("v"+ver, func(t *testing.T) {
			for _, tc := range []struct {
				federate string
				allowBob bool
			}{{`{"m.federate":false}`, false}, {`{"m.federate":true}`, true}, {``, true}, {`{"m.federate":"no"}`, true}} {
				r := newRoom(t, ver, tc.federate)
				r.member(alice, "join")
				r.joinRules("public")
				r.expect(r.memberEv(bob, bob, "join"), tc.allowBob)
				// Another user on the creator's server is unaffected.
				r.expect(r.memberEv("@al:a.example", "@al:a.example", "join"), true)
			}
		})
	}
}
