package auth

import (
	"fmt"
	"testing"

	"hearth/core/event"
)

// joinVia builds a join by user naming via as join_authorised_via_users_server,
// signed by the servers given.
func joinVia(r *room, user, via string, signers ...string) *event.PDU {
	sigs := map[string]map[string]string{}
	for _, s := range signers {
		sigs[s] = map[string]string{"ed25519:k": "c2ln"}
	}
	return r.ev(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":"join","join_authorised_via_users_server":%q},"signatures":%s}`,
		user, user, via, mustJSON(sigs)))
}

func TestJoin(t *testing.T) {
	bobJoins := func(r *room) *event.PDU { return r.memberEv(bob, bob, "join") }
	cases := []ruleCase{
		{name: "public", vers: allVersions, rule: "public", ev: bobJoins, allow: true},
		{name: "public already joined", vers: allVersions, rule: "public",
			setup: func(r *room) { r.member(bob, "join") }, ev: bobJoins, allow: true},
		{name: "public banned", vers: allVersions, rule: "public",
			setup: func(r *room) { r.member(bob, "ban") }, ev: bobJoins, allow: false, reason: "banned"},
		{name: "sender is not state_key", vers: allVersions, rule: "public",
			ev: func(r *room) *event.PDU { return r.memberEv(alice, bob, "join") }, allow: false},
		{name: "invite without invite", vers: allVersions, rule: "invite", ev: bobJoins, allow: false},
		{name: "invite with invite", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(bob, "invite") }, ev: bobJoins, allow: true},
		{name: "invite already joined", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(bob, "join") }, ev: bobJoins, allow: true},
		{name: "invite after leave", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(bob, "leave") }, ev: bobJoins, allow: false},
		{name: "no join rules reads as invite, invited", vers: allVersions,
			setup: func(r *room) { delete(r.state, joinRulesKey); r.member(bob, "invite") }, ev: bobJoins, allow: true},
		{name: "no join rules reads as invite, not invited", vers: allVersions,
			setup: func(r *room) { delete(r.state, joinRulesKey) }, ev: bobJoins, allow: false},
		{name: "private", vers: allVersions, rule: "private", ev: bobJoins, allow: false},
		{name: "unknown rule", vers: allVersions, rule: "whatever", ev: bobJoins, allow: false},
		{name: "knock with invite", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "invite") }, ev: bobJoins, allow: true},
		{name: "knock without invite", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "knock") }, ev: bobJoins, allow: false},
		{name: "knock rule unknown before v7", vers: versionsBetween(1, 6), rule: "knock",
			setup: func(r *room) { r.member(bob, "invite") }, ev: bobJoins, allow: false},
		// Restricted joins.
		{name: "restricted with authoriser", vers: versionsBetween(8, 12), rule: "restricted",
			ev: func(r *room) *event.PDU { return joinVia(r, bob, alice, "a.example", "b.example") }, allow: true},
		{name: "restricted invited needs no authoriser", vers: versionsBetween(8, 12), rule: "restricted",
			setup: func(r *room) { r.member(bob, "invite") }, ev: bobJoins, allow: true},
		{name: "restricted without authoriser", vers: versionsBetween(8, 12), rule: "restricted",
			ev: bobJoins, allow: false, reason: "join_authorised_via_users_server"},
		{name: "restricted authoriser not joined", vers: versionsBetween(8, 12), rule: "restricted",
			setup: func(r *room) { r.member(carol, "leave") },
			ev:    func(r *room) *event.PDU { return joinVia(r, bob, carol, "c.example") }, allow: false, reason: "not joined"},
		{name: "restricted authoriser without invite power", vers: versionsBetween(8, 12), rule: "restricted",
			setup: func(r *room) {
				r.member(carol, "join")
				r.powerLevels(`{"invite":50,"users":{"@alice:a.example":100}}`)
				if r.v.PrivilegedCreators {
					r.powerLevels(`{"invite":50}`)
				}
			},
			ev: func(r *room) *event.PDU { return joinVia(r, bob, carol, "c.example") }, allow: false, reason: "invite level"},
		{name: "restricted authoriser with invite power", vers: versionsBetween(8, 12), rule: "restricted",
			setup: func(r *room) { r.member(carol, "join") },
			ev:    func(r *room) *event.PDU { return joinVia(r, bob, carol, "c.example") }, allow: true},
		{name: "restricted authoriser's server did not sign", vers: versionsBetween(8, 12), rule: "restricted",
			ev: func(r *room) *event.PDU { return joinVia(r, bob, alice, "b.example") }, allow: false, reason: "not signed"},
		{name: "authoriser's signature needed even in public rooms", vers: versionsBetween(8, 12), rule: "public",
			ev: func(r *room) *event.PDU { return joinVia(r, bob, alice, "b.example") }, allow: false, reason: "not signed"},
		{name: "authoriser key ignored before v8", vers: versionsBetween(1, 7), rule: "public",
			ev: func(r *room) *event.PDU { return joinVia(r, bob, alice, "b.example") }, allow: true},
		{name: "restricted banned", vers: versionsBetween(8, 12), rule: "restricted",
			setup: func(r *room) { r.member(bob, "ban") },
			ev:    func(r *room) *event.PDU { return joinVia(r, bob, alice, "a.example") }, allow: false, reason: "banned"},
		{name: "restricted unknown before v8", vers: versionsBetween(1, 7), rule: "restricted",
			ev: func(r *room) *event.PDU { return joinVia(r, bob, alice, "a.example") }, allow: false},
		{name: "knock_restricted with authoriser", vers: versionsBetween(10, 12), rule: "knock_restricted",
			ev: func(r *room) *event.PDU { return joinVia(r, bob, alice, "a.example") }, allow: true},
		{name: "knock_restricted without authoriser", vers: versionsBetween(10, 12), rule: "knock_restricted",
			ev: bobJoins, allow: false},
		{name: "knock_restricted invited", vers: versionsBetween(10, 12), rule: "knock_restricted",
			setup: func(r *room) { r.member(bob, "invite") }, ev: bobJoins, allow: true},
		{name: "knock_restricted unknown before v10", vers: versionsBetween(1, 9), rule: "knock_restricted",
			ev: func(r *room) *event.PDU { return joinVia(r, bob, alice, "a.example") }, allow: false},
		{name: "authoriser not a user ID", vers: versionsBetween(8, 12), rule: "restricted",
			ev: func(r *room) *event.PDU {
				return r.ev(`{"type":"m.room.member","state_key":"@bob:b.example","sender":"@bob:b.example","content":{"membership":"join","join_authorised_via_users_server":7}}`)
			}, allow: false},
		// Malformed membership events.
		{name: "no membership", vers: allVersions,
			ev: func(r *room) *event.PDU {
				return r.ev(`{"type":"m.room.member","state_key":"@bob:b.example","sender":"@bob:b.example","content":{}}`)
			}, allow: false, reason: "no membership"},
		{name: "membership not a string", vers: allVersions,
			ev: func(r *room) *event.PDU {
				return r.ev(`{"type":"m.room.member","state_key":"@bob:b.example","sender":"@bob:b.example","content":{"membership":1}}`)
			}, allow: false},
		{name: "no state_key", vers: allVersions,
			ev: func(r *room) *event.PDU {
				return r.ev(`{"type":"m.room.member","sender":"@bob:b.example","content":{"membership":"join"}}`)
			}, allow: false, reason: "no state_key"},
		{name: "unknown membership", vers: allVersions,
			setup: func(r *room) { r.member(bob, "join") },
			ev:    func(r *room) *event.PDU { return r.memberEv(bob, bob, "sleep") }, allow: false, reason: "unknown membership"},
	}
	runCases(t, cases)
}

func TestCreatorFirstJoin(t *testing.T) {
	for _, ver := range allVersions {
		t.Run("v"+ver, func(t *testing.T) {
			r := newRoom(t, ver, "")
			first := func(sender, target string, prev ...string) *event.PDU {
				return r.ev(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":"join"},"prev_events":%s}`,
					target, sender, mustJSON(r.refs(prev...))))
			}
			r.expect(first(alice, alice, r.create.ID()), true)
			// Not the only previous event.
			r.expect(first(alice, alice, r.create.ID(), "$other"), false)
			// The previous event is not the create event.
			r.expect(first(alice, alice, "$other"), false)
			// Not the creator.
			r.expect(first(bob, bob, r.create.ID()), false)
		})
	}
	// In room versions before 11 the creator is content.creator, which
	// need not be the sender; from 11 it is the sender.
	for _, ver := range versionsBetween(1, 12) {
		t.Run("creator key v"+ver, func(t *testing.T) {
			r := newRoom(t, ver, fmt.Sprintf(`{"creator":%q}`, bob))
			join := r.ev(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":"join"},"prev_events":%s}`,
				bob, bob, mustJSON(r.refs(r.create.ID()))))
			r.expect(join, !r.v.CreatorIsSender)
		})
	}
}

func TestInvite(t *testing.T) {
	aliceInvitesBob := func(r *room) *event.PDU { return r.memberEv(alice, bob, "invite") }
	cases := []ruleCase{
		{name: "joined inviter", vers: allVersions, rule: "invite", ev: aliceInvitesBob, allow: true},
		{name: "inviter not joined", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(carol, "invite") },
			ev:    func(r *room) *event.PDU { return r.memberEv(carol, bob, "invite") }, allow: false, reason: "not joined"},
		{name: "target banned", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(bob, "ban") }, ev: aliceInvitesBob, allow: false, reason: "ban"},
		{name: "target joined", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(bob, "join") }, ev: aliceInvitesBob, allow: false},
		{name: "target already invited", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(bob, "invite") }, ev: aliceInvitesBob, allow: true},
		{name: "target knocked", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "knock") }, ev: aliceInvitesBob, allow: true},
		{name: "default invite level 0", vers: allVersions, rule: "invite",
			setup: func(r *room) { r.member(carol, "join") },
			ev:    func(r *room) *event.PDU { return r.memberEv(carol, bob, "invite") }, allow: true},
		{name: "below invite level", vers: allVersions, rule: "invite",
			setup: func(r *room) {
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, `"invite":50`, `"@carol:c.example":49`))
			},
			ev: func(r *room) *event.PDU { return r.memberEv(carol, bob, "invite") }, allow: false, reason: "invite level"},
		{name: "at invite level", vers: allVersions, rule: "invite",
			setup: func(r *room) {
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, `"invite":50`, `"@carol:c.example":50`))
			},
			ev: func(r *room) *event.PDU { return r.memberEv(carol, bob, "invite") }, allow: true},
	}
	runCases(t, cases)
}

// creatorPL returns power levels content with the given top-level members
// and users entries, plus alice at 100 before room version 12.
func creatorPL(r *room, top string, users ...string) string {
	u := ""
	if !r.v.PrivilegedCreators {
		u = `"@alice:a.example":100`
	}
	for _, x := range users {
		if u != "" {
			u += ","
		}
		u += x
	}
	if top != "" {
		top += ","
	}
	return "{" + top + `"users":{` + u + "}}"
}

func TestLeaveKick(t *testing.T) {
	leave := func(sender, target string) func(r *room) *event.PDU {
		return func(r *room) *event.PDU { return r.memberEv(sender, target, "leave") }
	}
	cases := []ruleCase{
		{name: "joined leaves", vers: allVersions, setup: func(r *room) { r.member(bob, "join") }, ev: leave(bob, bob), allow: true},
		{name: "invitee rejects", vers: allVersions, setup: func(r *room) { r.member(bob, "invite") }, ev: leave(bob, bob), allow: true},
		{name: "knocker rescinds", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "knock") }, ev: leave(bob, bob), allow: true},
		{name: "banned cannot leave", vers: allVersions, setup: func(r *room) { r.member(bob, "ban") }, ev: leave(bob, bob), allow: false},
		{name: "left cannot leave", vers: allVersions, setup: func(r *room) { r.member(bob, "leave") }, ev: leave(bob, bob), allow: false},
		{name: "stranger cannot leave", vers: allVersions, ev: leave(bob, bob), allow: false},
		// A knock membership cannot arise before v7; were one in the
		// state, it would not let its user leave.
		{name: "knock leaves only from v7", vers: versionsBetween(1, 6),
			setup: func(r *room) { r.member(bob, "knock") }, ev: leave(bob, bob), allow: false},
		{name: "kick by higher", vers: allVersions, setup: func(r *room) { r.member(bob, "join") }, ev: leave(alice, bob), allow: true},
		{name: "kick by unjoined", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "join")
				r.member(carol, "invite")
				r.powerLevels(creatorPL(r, "", `"@carol:c.example":100`))
			},
			ev: leave(carol, bob), allow: false, reason: "not joined"},
		{name: "kick below kick level", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "join")
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, `"kick":60`, `"@carol:c.example":59`))
			},
			ev: leave(carol, bob), allow: false},
		{name: "kick at kick level", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "join")
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, `"kick":60`, `"@carol:c.example":60`))
			},
			ev: leave(carol, bob), allow: true},
		{name: "kick equal level target", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "join")
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, "", `"@carol:c.example":60`, `"@bob:b.example":60`))
			},
			ev: leave(carol, bob), allow: false},
		{name: "kick higher target", vers: allVersions,
			setup: func(r *room) {
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, "", `"@carol:c.example":60`, `"@bob:b.example":70`))
			},
			ev: leave(carol, bob), allow: false},
		{name: "kick a non-member", vers: allVersions, ev: leave(alice, bob), allow: true},
		{name: "unban with ban level", vers: allVersions,
			setup: func(r *room) { r.member(bob, "ban") }, ev: leave(alice, bob), allow: true},
		{name: "unban below ban level", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "ban")
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, `"kick":10,"ban":80`, `"@carol:c.example":70`))
			},
			ev: leave(carol, bob), allow: false, reason: "unban"},
		{name: "unban needs kick level too", vers: allVersions,
			setup: func(r *room) {
				r.member(bob, "ban")
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, `"kick":80,"ban":10`, `"@carol:c.example":70`))
			},
			ev: leave(carol, bob), allow: false},
	}
	runCases(t, cases)
}

func TestBan(t *testing.T) {
	ban := func(sender, target string) func(r *room) *event.PDU {
		return func(r *room) *event.PDU { return r.memberEv(sender, target, "ban") }
	}
	cases := []ruleCase{
		{name: "ban member", vers: allVersions, setup: func(r *room) { r.member(bob, "join") }, ev: ban(alice, bob), allow: true},
		{name: "ban stranger", vers: allVersions, ev: ban(alice, bob), allow: true},
		{name: "ban by unjoined", vers: allVersions,
			setup: func(r *room) {
				r.member(carol, "leave")
				r.powerLevels(creatorPL(r, "", `"@carol:c.example":100`))
			},
			ev: ban(carol, bob), allow: false, reason: "not joined"},
		{name: "ban below ban level", vers: allVersions,
			setup: func(r *room) {
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, `"ban":60`, `"@carol:c.example":59`))
			},
			ev: ban(carol, bob), allow: false},
		{name: "ban equal target", vers: allVersions,
			setup: func(r *room) {
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, "", `"@carol:c.example":60`, `"@bob:b.example":60`))
			},
			ev: ban(carol, bob), allow: false},
		{name: "default ban level 50", vers: allVersions,
			setup: func(r *room) {
				r.member(carol, "join")
				r.powerLevels(creatorPL(r, "", `"@carol:c.example":50`))
			},
			ev: ban(carol, bob), allow: true},
		{name: "self ban", vers: allVersions, ev: ban(alice, alice), allow: false},
	}
	runCases(t, cases)
}

func TestKnock(t *testing.T) {
	knock := func(r *room) *event.PDU { return r.memberEv(bob, bob, "knock") }
	cases := []ruleCase{
		{name: "knock rule", vers: versionsBetween(7, 12), rule: "knock", ev: knock, allow: true},
		{name: "knock after leave", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "leave") }, ev: knock, allow: true},
		{name: "knock again", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "knock") }, ev: knock, allow: true},
		{name: "knock before v7", vers: versionsBetween(1, 6), rule: "knock", ev: knock, allow: false, reason: "unknown membership"},
		{name: "knock_restricted", vers: versionsBetween(10, 12), rule: "knock_restricted", ev: knock, allow: true},
		{name: "knock_restricted before v10", vers: versionsBetween(7, 9), rule: "knock_restricted", ev: knock, allow: false},
		{name: "public room", vers: versionsBetween(7, 12), rule: "public", ev: knock, allow: false},
		{name: "invite room", vers: versionsBetween(7, 12), rule: "invite", ev: knock, allow: false},
		{name: "restricted room", vers: versionsBetween(8, 12), rule: "restricted", ev: knock, allow: false},
		{name: "banned", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "ban") }, ev: knock, allow: false},
		{name: "joined", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "join") }, ev: knock, allow: false},
		{name: "invited", vers: versionsBetween(7, 12), rule: "knock",
			setup: func(r *room) { r.member(bob, "invite") }, ev: knock, allow: false},
		{name: "for someone else", vers: versionsBetween(7, 12), rule: "knock",
			ev: func(r *room) *event.PDU { return r.memberEv(alice, bob, "knock") }, allow: false},
	}
	runCases(t, cases)
}

func TestMembership(t *testing.T) {
	r := newRoom(t, "10", "")
	for content, want := range map[string]string{
		`{"membership":"join"}`: "join",
		`{"membership":"ban"}`:  "ban",
		`{"membership":5}`:      "",
		`{}`:                    "",
	} {
		ev := r.ev(`{"type":"m.room.member","state_key":"@bob:b.example","sender":"@bob:b.example","content":` + content + `}`)
		if got := Membership(ev); got != want {
			t.Errorf("Membership(%s) = %q, want %q", content, got, want)
		}
	}
	if got := Membership(nil); got != "" {
		t.Errorf("Membership(nil) = %q", got)
	}
}
