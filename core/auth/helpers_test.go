package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// Users of the test rooms. alice creates every room.
const (
	alice = "@alice:a.example"
	bob   = "@bob:b.example"
	carol = "@carol:c.example"
	dave  = "@dave:d.example"
)

// room builds a room's state from small JSON snippets. Events get
// synthetic IDs; the state is whatever was added last per (type,
// state_key).
type room struct {
	t      testing.TB
	v      *roomversion.Version
	id     string
	create *event.PDU
	state  MapState
	n      int
}

// newRoom starts a room of version ver created by alice, with extra keys
// merged into the create content.
func newRoom(t testing.TB, ver string, createContent string) *room {
	t.Helper()
	r := &room{t: t, v: roomversion.MustLookup(ver), state: MapState{}}
	content := map[string]any{"room_version": ver}
	if !r.v.CreatorIsSender {
		content["creator"] = alice
	}
	if createContent != "" {
		var extra map[string]any
		if err := json.Unmarshal([]byte(createContent), &extra); err != nil {
			t.Fatalf("create content: %v", err)
		}
		for k, v := range extra {
			if v == nil {
				delete(content, k)
			} else {
				content[k] = v
			}
		}
	}
	ev := map[string]any{"type": typeCreate, "state_key": "", "sender": alice, "content": content}
	if r.v.RoomIDFromCreateEvent {
		r.create = r.load("$createhash", ev, true)
		r.id = "!createhash"
	} else {
		r.id = "!room:a.example"
		ev["room_id"] = r.id
		r.create = r.load(r.nextID(), ev, true)
	}
	r.state[createKey] = r.create
	return r
}

// nextID returns a fresh synthetic event ID; in room versions 1 and 2 it
// carries the domain given, a.example by default.
func (r *room) nextID(dom ...string) string {
	r.n++
	if r.v.EventIDFormat == roomversion.EventIDInEvent {
		d := "a.example"
		if len(dom) > 0 {
			d = dom[0]
		}
		return fmt.Sprintf("$e%d:%s", r.n, d)
	}
	return fmt.Sprintf("$e%d", r.n)
}

// load turns a map into a PDU with the given ID through event.Load.
func (r *room) load(id string, ev map[string]any, isCreate bool) *event.PDU {
	r.t.Helper()
	if _, ok := ev["prev_events"]; !ok {
		if isCreate {
			ev["prev_events"] = []any{}
		} else {
			ev["prev_events"] = r.refs("$prev")
		}
	}
	if _, ok := ev["auth_events"]; !ok {
		ev["auth_events"] = []any{}
	}
	if _, ok := ev["depth"]; !ok {
		ev["depth"] = r.n
	}
	if _, ok := ev["origin_server_ts"]; !ok {
		ev["origin_server_ts"] = 1000 + r.n
	}
	if r.v.EventIDFormat == roomversion.EventIDInEvent {
		ev["event_id"] = id
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		r.t.Fatalf("marshal: %v", err)
	}
	p, err := event.Load(id, raw, r.v)
	if err != nil {
		r.t.Fatalf("load %s: %v", raw, err)
	}
	return p
}

// refs formats event IDs as prev_events or auth_events for the version.
func (r *room) refs(ids ...string) []any {
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		if r.v.EventIDFormat == roomversion.EventIDInEvent {
			out = append(out, []any{id, map[string]string{}})
		} else {
			out = append(out, id)
		}
	}
	return out
}

// ev builds an event of this room from a JSON snippet holding at least
// type, sender and content; room_id and the DAG fields are filled in.
func (r *room) ev(snippet string) *event.PDU {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(snippet), &m); err != nil {
		r.t.Fatalf("snippet %s: %v", snippet, err)
	}
	if _, ok := m["room_id"]; !ok {
		m["room_id"] = r.id
	}
	id, _ := m["event_id"].(string)
	if id == "" {
		id = r.nextID()
	}
	return r.load(id, m, false)
}

// add builds a state event from a snippet and puts it in the state.
func (r *room) add(snippet string) *event.PDU {
	r.t.Helper()
	p := r.ev(snippet)
	if !p.IsState() {
		r.t.Fatalf("not a state event: %s", snippet)
	}
	r.state[p.StateTuple()] = p
	return p
}

// member puts user's membership into the state.
func (r *room) member(user, membership string) *event.PDU {
	r.t.Helper()
	return r.add(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":%q}}`, user, user, membership))
}

// joinRules sets the room's join rule.
func (r *room) joinRules(rule string) {
	r.t.Helper()
	r.add(fmt.Sprintf(`{"type":"m.room.join_rules","state_key":"","sender":%q,"content":{"join_rule":%q}}`, alice, rule))
}

// powerLevels sets the room's power levels content.
func (r *room) powerLevels(content string) {
	r.t.Helper()
	r.add(fmt.Sprintf(`{"type":"m.room.power_levels","state_key":"","sender":%q,"content":%s}`, alice, content))
}

// standard gives a room with alice joined at 100 (or as creator in room
// version 12) and the given join rule.
func standard(t testing.TB, ver, rule string) *room {
	t.Helper()
	r := newRoom(t, ver, "")
	r.member(alice, "join")
	if r.v.PrivilegedCreators {
		r.powerLevels(`{}`)
	} else {
		r.powerLevels(fmt.Sprintf(`{"users":{%q:100}}`, alice))
	}
	r.joinRules(rule)
	return r
}

// check runs Check and reports whether it allowed ev, failing the test on
// an error that does not wrap ErrNotAllowed.
func (r *room) check(ev *event.PDU) (bool, error) {
	r.t.Helper()
	err := Check(ev, r.state)
	if err != nil && !errors.Is(err, ErrNotAllowed) {
		r.t.Fatalf("Check error does not wrap ErrNotAllowed: %v", err)
	}
	return err == nil, err
}

// expect asserts Check's verdict on ev.
func (r *room) expect(ev *event.PDU, allow bool) {
	r.t.Helper()
	ok, err := r.check(ev)
	if ok != allow {
		r.t.Errorf("room v%s: %s from %s: allowed=%v, want %v (err: %v)\n%s", r.v.ID, ev.Type(), ev.Sender(), ok, allow, err, ev.JSON())
	}
}

// memberEv builds a membership event by sender for target.
func (r *room) memberEv(sender, target, membership string) *event.PDU {
	r.t.Helper()
	return r.ev(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":%q}}`, target, sender, membership))
}

// versionsFrom returns the IDs of room versions lo to hi inclusive.
func versionsBetween(lo, hi int) []string {
	var out []string
	for i := lo; i <= hi; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

// allVersions is every supported room version.
var allVersions = versionsBetween(1, 12)

// mustJSON encodes v as a JSON string for splicing into snippets.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ruleCase is one row of a table-driven rule test: for each version in
// vers, a standard room with join rule rule is prepared by setup, then ev
// is checked and must be allowed or denied as allow says.
type ruleCase struct {
	name  string
	vers  []string
	rule  string
	setup func(r *room)
	ev    func(r *room) *event.PDU
	allow bool
	// reason, when set, must appear in the denial.
	reason string
}

// runCases runs a table of ruleCases.
func runCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		for _, ver := range c.vers {
			t.Run(c.name+"/v"+ver, func(t *testing.T) {
				rule := c.rule
				if rule == "" {
					rule = "public"
				}
				r := standard(t, ver, rule)
				if c.setup != nil {
					c.setup(r)
				}
				ev := c.ev(r)
				ok, err := r.check(ev)
				if ok != c.allow {
					t.Fatalf("allowed=%v, want %v (err: %v)\n%s", ok, c.allow, err, ev.JSON())
				}
				if c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)) {
					t.Fatalf("error %v does not mention %q", err, c.reason)
				}
			})
		}
	}
}
