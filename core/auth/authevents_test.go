package auth

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

func TestNeededKeys(t *testing.T) {
	sk := func(s string) *string { return &s }
	create, pl, jr := createKey, powerLevelsKey, joinRulesKey
	m := memberKey
	tpi := func(tok string) event.StateKey { return event.StateKey{Type: typeThirdPartyInvite, StateKey: tok} }
	type tc struct {
		name     string
		ver      string
		typ      string
		sender   string
		stateKey *string
		content  string
		want     []event.StateKey
	}
	cases := []tc{
		{"create", "11", "m.room.create", alice, sk(""), `{}`, nil},
		{"message", "11", "m.room.message", bob, nil, `{}`, []event.StateKey{create, pl, m(bob)}},
		{"message v12", "12", "m.room.message", bob, nil, `{}`, []event.StateKey{pl, m(bob)}},
		{"state", "1", "m.room.topic", bob, sk(""), `{}`, []event.StateKey{create, pl, m(bob)}},
		{"join", "5", "m.room.member", bob, sk(bob), `{"membership":"join"}`, []event.StateKey{create, pl, m(bob), jr}},
		{"invite", "5", "m.room.member", alice, sk(bob), `{"membership":"invite"}`, []event.StateKey{create, pl, m(alice), m(bob), jr}},
		{"knock", "7", "m.room.member", bob, sk(bob), `{"membership":"knock"}`, []event.StateKey{create, pl, m(bob), jr}},
		{"leave", "7", "m.room.member", bob, sk(bob), `{"membership":"leave"}`, []event.StateKey{create, pl, m(bob)}},
		{"kick", "7", "m.room.member", alice, sk(bob), `{"membership":"leave"}`, []event.StateKey{create, pl, m(alice), m(bob)}},
		{"ban", "12", "m.room.member", alice, sk(bob), `{"membership":"ban"}`, []event.StateKey{pl, m(alice), m(bob)}},
		{"third party invite", "10", "m.room.member", alice, sk(bob),
			`{"membership":"invite","third_party_invite":{"signed":{"mxid":"@bob:b.example","token":"tok"}}}`,
			[]event.StateKey{create, pl, m(alice), m(bob), jr, tpi("tok")}},
		{"third party invite without token", "10", "m.room.member", alice, sk(bob),
			`{"membership":"invite","third_party_invite":{"signed":{}}}`, []event.StateKey{create, pl, m(alice), m(bob), jr}},
		{"restricted join", "8", "m.room.member", bob, sk(bob),
			`{"membership":"join","join_authorised_via_users_server":"@carol:c.example"}`, []event.StateKey{create, pl, m(bob), jr, m(carol)}},
		{"restricted join v12", "12", "m.room.member", bob, sk(bob),
			`{"membership":"join","join_authorised_via_users_server":"@carol:c.example"}`, []event.StateKey{pl, m(bob), jr, m(carol)}},
		{"authoriser ignored before v8", "7", "m.room.member", bob, sk(bob),
			`{"membership":"join","join_authorised_via_users_server":"@carol:c.example"}`, []event.StateKey{create, pl, m(bob), jr}},
		{"authoriser only for joins", "9", "m.room.member", bob, sk(bob),
			`{"membership":"leave","join_authorised_via_users_server":"@carol:c.example"}`, []event.StateKey{create, pl, m(bob)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NeededKeys(roomversion.MustLookup(c.ver), c.typ, c.sender, c.stateKey, []byte(c.content))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	v := roomversion.MustLookup("10")
	if _, err := NeededKeys(v, "m.room.member", bob, nil, []byte(`{"membership":"join"}`)); err == nil {
		t.Error("member event without state_key: no error")
	}
	if _, err := NeededKeys(v, "m.room.member", bob, sk(bob), []byte(`[]`)); err == nil {
		t.Error("member event with array content: no error")
	}
}

// withAuth rebuilds a snippet's event with auth_events listing ids.
func withAuth(r *room, snippet string, ids ...string) *event.PDU {
	return r.ev(strings.Replace(snippet, "{", fmt.Sprintf(`{"auth_events":%s,`, mustJSON(r.refs(ids...))), 1))
}

func TestCheckAuthEvents(t *testing.T) {
	for _, ver := range allVersions {
		t.Run("v"+ver, func(t *testing.T) {
			r := standard(t, ver, "invite")
			bobInvite := r.memberEv(alice, bob, "invite")
			r.state[bobInvite.StateTuple()] = bobInvite
			plEv := r.state[powerLevelsKey]
			jrEv := r.state[joinRulesKey]
			topic := r.add(`{"type":"m.room.topic","state_key":"","sender":"@alice:a.example","content":{"topic":"t"}}`)
			const join = `{"type":"m.room.member","state_key":"@bob:b.example","sender":"@bob:b.example","content":{"membership":"join"}}`

			// The auth events a join needs, as the version lists them.
			var ids []string
			var evs []*event.PDU
			if !r.v.RoomIDFromCreateEvent {
				ids = append(ids, r.create.ID())
			}
			ids = append(ids, plEv.ID(), jrEv.ID(), bobInvite.ID())
			evs = append(evs, r.create, plEv, jrEv, bobInvite)

			// run checks ev against auth; reason is "" for an allowed
			// event, else text the denial must contain.
			run := func(name string, ev *event.PDU, auth []*event.PDU, reason string) {
				t.Helper()
				err := CheckAuthEvents(ev, auth)
				if err != nil && !errors.Is(err, ErrNotAllowed) {
					t.Fatalf("%s: error does not wrap ErrNotAllowed: %v", name, err)
				}
				switch {
				case reason == "" && err != nil:
					t.Errorf("%s: denied: %v", name, err)
				case reason != "" && err == nil:
					t.Errorf("%s: allowed, want denial mentioning %q", name, reason)
				case reason != "" && !strings.Contains(err.Error(), reason):
					t.Errorf("%s: denial %v does not mention %q", name, err, reason)
				}
			}
			run("valid", withAuth(r, join, ids...), evs, "")
			run("no invite among them", withAuth(r, join, ids[:len(ids)-1]...), evs[:len(evs)-1], "needs an invite")
			run("listed but not supplied", withAuth(r, join, ids...), evs[:len(evs)-1], "not supplied")
			run("supplied but not listed", withAuth(r, join, ids[:len(ids)-1]...), evs, "not in the event's auth_events")
			run("not selectable", withAuth(r, join, append(ids, topic.ID())...), append(evs, topic), "not selectable")

			// Two membership events for bob.
			bobInvite2 := r.memberEv(alice, bob, "invite")
			run("duplicate pair", withAuth(r, join, append(ids, bobInvite2.ID())...), append(evs, bobInvite2), "duplicate entries")

			// An auth event from another room.
			foreign := r.ev(fmt.Sprintf(`{"type":"m.room.join_rules","state_key":"","sender":%q,"room_id":"!else:a.example","content":{"join_rule":"public"}}`, alice))
			fids := append(append([]string{}, ids[:len(ids)-2]...), foreign.ID())
			fevs := []*event.PDU{r.create, plEv, foreign}
			run("other room", withAuth(r, `{"type":"m.room.member","state_key":"@dave:d.example","sender":"@dave:d.example","content":{"membership":"join"}}`, fids...), fevs, "is in room !else:a.example")

			// A message event is not an auth event.
			msg := r.ev(`{"type":"m.room.message","sender":"@alice:a.example","content":{}}`)
			run("message as auth event", withAuth(r, join, append(ids, msg.ID())...), append(evs, msg), "not a state event")

			if r.v.RoomIDFromCreateEvent {
				run("create listed in v12", withAuth(r, join, append(ids, r.create.ID())...), evs, "lists the m.room.create")
				run("create not supplied in v12", withAuth(r, join, ids...), evs[1:], "no m.room.create")
			} else {
				run("no create", withAuth(r, join, ids[1:]...), evs[1:], "no m.room.create")
			}
		})
	}
}

func TestCheckAuthEventsAgreesWithCheck(t *testing.T) {
	// A message by a user below events_default, given exactly its auth
	// events, is denied for the same reason Check gives.
	r := standard(t, "10", "public")
	r.member(bob, "join")
	r.powerLevels(creatorPL(r, `"events_default":5`))
	snippet := `{"type":"m.room.message","sender":"@bob:b.example","content":{"body":"x"}}`
	ev := withAuth(r, snippet, r.create.ID(), r.state[powerLevelsKey].ID(), r.state[memberKey(bob)].ID())
	err1 := CheckAuthEvents(ev, []*event.PDU{r.create, r.state[powerLevelsKey], r.state[memberKey(bob)]})
	_, err2 := r.check(ev)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Fatalf("CheckAuthEvents %v, Check %v", err1, err2)
	}
}
