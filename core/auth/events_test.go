package auth

import (
	"fmt"
	"testing"

	"hearth/core/event"
	"hearth/core/mxid"
)

// stateEv returns a builder for a state event.
func stateEv(sender, typ, stateKey string) func(r *room) *event.PDU {
	return func(r *room) *event.PDU {
		return r.ev(fmt.Sprintf(`{"type":%q,"state_key":%q,"sender":%q,"content":{"x":1}}`, typ, stateKey, sender))
	}
}

// msgEv returns a builder for a message event.
func msgEv(sender, typ string) func(r *room) *event.PDU {
	return func(r *room) *event.PDU {
		return r.ev(fmt.Sprintf(`{"type":%q,"sender":%q,"content":{"body":"x"}}`, typ, sender))
	}
}

func TestAliases(t *testing.T) {
	pre6 := versionsBetween(1, 5)
	from6 := versionsBetween(6, 12)
	cases := []ruleCase{
		// Room versions 1 to 5: the server's own state_key, membership
		// and power do not matter.
		{name: "own domain", vers: pre6, ev: stateEv(bob, "m.room.aliases", "b.example"), allow: true},
		{name: "other domain", vers: pre6, ev: stateEv(bob, "m.room.aliases", "a.example"), allow: false, reason: "m.room.aliases"},
		{name: "no state_key", vers: pre6, ev: msgEv(bob, "m.room.aliases"), allow: false},
		{name: "domain with port", vers: pre6, ev: stateEv("@x:h.example:8448", "m.room.aliases", "h.example:8448"), allow: true},
		// m.federate still applies first.
		{name: "unfederated room", vers: pre6,
			setup: func(r *room) {
				r.state[createKey] = nil
				nr := newRoom(t, r.v.ID, `{"m.federate":false}`)
				r.state[createKey] = nr.create
			},
			ev: stateEv(bob, "m.room.aliases", "b.example"), allow: false, reason: "m.federate"},
		// From room version 6 aliases are ordinary state.
		{name: "not joined v6+", vers: from6, ev: stateEv(bob, "m.room.aliases", "b.example"), allow: false, reason: "not joined"},
		{name: "state_default v6+", vers: from6, setup: func(r *room) { r.member(bob, "join") },
			ev: stateEv(bob, "m.room.aliases", "b.example"), allow: false, reason: "required power level"},
		{name: "privileged v6+", vers: from6, ev: stateEv(alice, "m.room.aliases", "b.example"), allow: true},
	}
	runCases(t, cases)
}

func TestRedaction(t *testing.T) {
	pre3 := versionsBetween(1, 2)
	from3 := versionsBetween(3, 12)
	redact := func(sender, target string) func(r *room) *event.PDU {
		return func(r *room) *event.PDU {
			// The redaction's own ID is on the sender's server.
			id := r.nextID(mxid.ServerOf(sender))
			if r.v.RedactsInContent {
				return r.ev(fmt.Sprintf(`{"event_id":%q,"type":"m.room.redaction","sender":%q,"content":{"redacts":%q}}`, id, sender, target))
			}
			return r.ev(fmt.Sprintf(`{"event_id":%q,"type":"m.room.redaction","sender":%q,"redacts":%q,"content":{}}`, id, sender, target))
		}
	}
	joinBob := func(r *room) { r.member(bob, "join") }
	cases := []ruleCase{
		{name: "v1-2 redact level", vers: pre3, setup: joinBob, ev: redact(alice, "$x:b.example"), allow: true},
		{name: "v1-2 same domain", vers: pre3, setup: joinBob, ev: redact(bob, "$x:b.example"), allow: true},
		{name: "v1-2 other domain", vers: pre3, setup: joinBob, ev: redact(bob, "$x:a.example"), allow: false, reason: "m.room.redaction"},
		{name: "v1-2 redact level lowered", vers: pre3,
			setup: func(r *room) {
				joinBob(r)
				r.powerLevels(creatorPL(r, `"redact":0`))
			},
			ev: redact(bob, "$x:a.example"), allow: true},
		// From room version 3 the redact level is not an auth rule.
		// bob is below the redact level and the target is nominally
		// from another server: neither matters from v3.
		{name: "v3+ other sender", vers: from3, setup: joinBob, ev: redact(bob, "$x:a.example"), allow: true},
		{name: "v3+ events level", vers: from3,
			setup: func(r *room) {
				joinBob(r)
				r.powerLevels(creatorPL(r, `"events":{"m.room.redaction":10}`))
			},
			ev: redact(bob, "$anything"), allow: false, reason: "required power level"},
		{name: "v1-2 events level first", vers: pre3,
			setup: func(r *room) {
				joinBob(r)
				r.powerLevels(creatorPL(r, `"events":{"m.room.redaction":10}`))
			},
			ev: redact(bob, "$x:b.example"), allow: false, reason: "required power level"},
		{name: "not joined", vers: allVersions, ev: redact(bob, "$x:b.example"), allow: false},
	}
	runCases(t, cases)
}

func TestGenericEvents(t *testing.T) {
	joinBob := func(r *room) { r.member(bob, "join") }
	cases := []ruleCase{
		{name: "message default 0", vers: allVersions, setup: joinBob, ev: msgEv(bob, "m.room.message"), allow: true},
		{name: "message not joined", vers: allVersions, ev: msgEv(bob, "m.room.message"), allow: false, reason: "not joined"},
		{name: "message invited", vers: allVersions, setup: func(r *room) { r.member(bob, "invite") }, ev: msgEv(bob, "m.room.message"), allow: false},
		{name: "message banned", vers: allVersions, setup: func(r *room) { r.member(bob, "ban") }, ev: msgEv(bob, "m.room.message"), allow: false},
		{name: "events_default", vers: allVersions,
			setup: func(r *room) { joinBob(r); r.powerLevels(creatorPL(r, `"events_default":10`, `"@bob:b.example":9`)) },
			ev:    msgEv(bob, "m.room.message"), allow: false},
		{name: "events_default met", vers: allVersions,
			setup: func(r *room) { joinBob(r); r.powerLevels(creatorPL(r, `"events_default":10`, `"@bob:b.example":10`)) },
			ev:    msgEv(bob, "m.room.message"), allow: true},
		{name: "events entry for message", vers: allVersions,
			setup: func(r *room) {
				joinBob(r)
				r.powerLevels(creatorPL(r, `"events_default":0,"events":{"m.reaction":5}`))
			},
			ev: msgEv(bob, "m.reaction"), allow: false},
		{name: "events entry lowers state", vers: allVersions,
			setup: func(r *room) { joinBob(r); r.powerLevels(creatorPL(r, `"events":{"m.room.topic":0}`)) },
			ev:    stateEv(bob, "m.room.topic", ""), allow: true},
		{name: "state_default 50", vers: allVersions, setup: joinBob, ev: stateEv(bob, "m.room.topic", ""), allow: false},
		{name: "state_default lowered", vers: allVersions,
			setup: func(r *room) { joinBob(r); r.powerLevels(creatorPL(r, `"state_default":0`)) },
			ev:    stateEv(bob, "m.room.topic", ""), allow: true},
		{name: "users_default", vers: allVersions,
			setup: func(r *room) { joinBob(r); r.powerLevels(creatorPL(r, `"users_default":50`)) },
			ev:    stateEv(bob, "m.room.topic", ""), allow: true},
		{name: "no power levels, state by others", vers: allVersions,
			setup: func(r *room) { joinBob(r); delete(r.state, powerLevelsKey) },
			ev:    stateEv(bob, "m.room.topic", ""), allow: false},
		{name: "no power levels, state by creator", vers: allVersions,
			setup: func(r *room) { delete(r.state, powerLevelsKey) },
			ev:    stateEv(alice, "m.room.topic", ""), allow: true},
		{name: "no power levels, messages", vers: allVersions,
			setup: func(r *room) { joinBob(r); delete(r.state, powerLevelsKey) },
			ev:    msgEv(bob, "m.room.message"), allow: true},
		{name: "own user state key", vers: allVersions,
			setup: func(r *room) { joinBob(r); r.powerLevels(creatorPL(r, `"state_default":0`)) },
			ev:    stateEv(bob, "m.custom", bob), allow: true},
		{name: "another user's state key", vers: allVersions,
			ev: stateEv(alice, "m.custom", bob), allow: false, reason: "state_key"},
		{name: "non-user @ state key", vers: allVersions,
			ev: stateEv(alice, "m.custom", "@"), allow: false},
		{name: "join rules need state level", vers: allVersions, setup: joinBob,
			ev: stateEv(bob, "m.room.join_rules", ""), allow: false},
		{name: "unusable power levels in state", vers: versionsBetween(1, 9),
			setup: func(r *room) { joinBob(r); r.powerLevels(`{"users":{"@bob:b.example":"lots"}}`) },
			ev:    msgEv(bob, "m.room.message"), allow: false, reason: "m.room.power_levels"},
	}
	runCases(t, cases)
}

func TestPrivilegedCreators(t *testing.T) {
	// A room version 12 room created by alice with bob as an additional
	// creator; carol is the highest ordinary user.
	setup := func(t *testing.T, ver string) *room {
		r := newRoom(t, ver, `{"additional_creators":["@bob:b.example"]}`)
		r.member(alice, "join")
		r.member(bob, "join")
		r.member(carol, "join")
		r.member(dave, "join")
		r.joinRules("invite")
		users := `"@carol:c.example":100`
		if !r.v.PrivilegedCreators {
			users = `"@alice:a.example":100,"@carol:c.example":100`
		}
		r.powerLevels(`{"users":{` + users + `},"events":{"m.room.tombstone":150}}`)
		return r
	}
	t.Run("v12", func(t *testing.T) {
		r := setup(t, "12")
		// Creators outrank everyone and cannot be acted on by others.
		r.expect(r.memberEv(bob, carol, "ban"), true)
		r.expect(r.memberEv(alice, carol, "leave"), true)
		r.expect(r.memberEv(carol, bob, "ban"), false)
		r.expect(r.memberEv(carol, alice, "leave"), false)
		// Creators are equals: neither can remove the other.
		r.expect(r.memberEv(alice, bob, "ban"), false)
		r.expect(r.memberEv(bob, alice, "leave"), false)
		// A level of 150 is beyond carol but not a creator.
		r.expect(stateEv(carol, "m.room.tombstone", "")(r), false)
		r.expect(stateEv(bob, "m.room.tombstone", "")(r), true)
		// Power levels may not name creators, and creators may set any level.
		r.expect(plEvent(r, alice, `{"users":{"@bob:b.example":100}}`), false)
		r.expect(plEvent(r, alice, `{"users":{"@alice:a.example":100}}`), false)
		r.expect(plEvent(r, bob, `{"users":{"@carol:c.example":100,"@dave:d.example":9007199254740991},"ban":9007199254740991}`), true)
		// Carol (100) may not touch a peer at 100 but may promote dave to 100.
		r.expect(plEvent(r, carol, `{"users":{"@carol:c.example":100,"@dave:d.example":100},"events":{"m.room.tombstone":150}}`), true)
		r.expect(plEvent(r, carol, `{"users":{"@carol:c.example":100},"events":{"m.room.tombstone":100}}`), false)
		// Restricted joins can be authorised by a creator.
		r.joinRules("restricted")
		r.expect(joinVia(r, "@eve:e.example", bob, "b.example"), true)
	})
	t.Run("v11 has no privileged creators", func(t *testing.T) {
		r := setup(t, "11")
		// alice and carol are both 100 and bob is an ordinary user.
		r.expect(r.memberEv(bob, carol, "ban"), false)
		r.expect(r.memberEv(alice, carol, "ban"), false)
		r.expect(r.memberEv(carol, bob, "ban"), true)
		r.expect(stateEv(alice, "m.room.tombstone", "")(r), false)
		r.expect(plEvent(r, alice, `{"users":{"@alice:a.example":100,"@carol:c.example":100,"@bob:b.example":100},"events":{"m.room.tombstone":150}}`), true)
		// Dropping the tombstone entry above her level is not hers to do.
		r.expect(plEvent(r, alice, `{"users":{"@alice:a.example":100,"@carol:c.example":100}}`), false)
	})
	t.Run("v12 without power levels", func(t *testing.T) {
		r := newRoom(t, "12", `{"additional_creators":["@bob:b.example"]}`)
		r.member(alice, "join")
		r.member(bob, "join")
		r.member(carol, "join")
		r.joinRules("public")
		r.expect(stateEv(bob, "m.room.name", "")(r), true)
		r.expect(stateEv(carol, "m.room.name", "")(r), false)
		r.expect(plEvent(r, bob, `{"users":{"@carol:c.example":50}}`), true)
		r.expect(plEvent(r, carol, `{}`), false)
	})
}
