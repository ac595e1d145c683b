package auth

import (
	"errors"
	"fmt"
	"testing"

	"hearth/core/event"
)

// plEvent builds an m.room.power_levels event by sender with content.
func plEvent(r *room, sender, content string) *event.PDU {
	return r.ev(fmt.Sprintf(`{"type":"m.room.power_levels","state_key":"","sender":%q,"content":%s}`, sender, content))
}

// setPL returns a setup that joins carol and sets content, which names
// carol's level, as the power levels; before room version 12 alice is added
// at 100.
func setPL(top string, users ...string) func(r *room) {
	return func(r *room) {
		r.member(carol, "join")
		r.powerLevels(creatorPL(r, top, users...))
	}
}

// carolSets returns carol's power levels event with content built like
// creatorPL.
func carolSets(top string, users ...string) func(r *room) *event.PDU {
	return func(r *room) *event.PDU { return plEvent(r, carol, creatorPL(r, top, users...)) }
}

func TestPowerLevelsChanges(t *testing.T) {
	carol50 := `"@carol:c.example":50`
	cases := []ruleCase{
		{name: "no change", vers: allVersions, setup: setPL(`"ban":40`, carol50),
			ev: carolSets(`"ban":40`, carol50), allow: true},
		{name: "needs state level for power_levels", vers: allVersions, setup: setPL(`"events":{"m.room.power_levels":60}`, carol50),
			ev: carolSets(`"events":{"m.room.power_levels":60}`, carol50), allow: false, reason: "required power level"},
		{name: "lower a named level", vers: allVersions, setup: setPL(`"ban":40`, carol50),
			ev: carolSets(`"ban":30`, carol50), allow: true},
		{name: "raise a named level to own", vers: allVersions, setup: setPL(`"ban":40`, carol50),
			ev: carolSets(`"ban":50`, carol50), allow: true},
		{name: "raise a named level above own", vers: allVersions, setup: setPL(`"ban":40`, carol50),
			ev: carolSets(`"ban":51`, carol50), allow: false, reason: "new ban"},
		{name: "add a named level above own", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(`"invite":51`, carol50), allow: false},
		{name: "change a named level above own", vers: allVersions, setup: setPL(`"kick":60`, carol50),
			ev: carolSets(`"kick":40`, carol50), allow: false, reason: "kick"},
		{name: "remove a named level above own", vers: allVersions, setup: setPL(`"redact":60`, carol50),
			ev: carolSets(``, carol50), allow: false},
		{name: "remove a named level at own", vers: allVersions, setup: setPL(`"redact":50`, carol50),
			ev: carolSets(``, carol50), allow: true},
		{name: "events entry added above own", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(`"events":{"m.room.name":51}`, carol50), allow: false},
		{name: "events entry added at own", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(`"events":{"m.room.name":50}`, carol50), allow: true},
		{name: "events entry above own changed", vers: allVersions, setup: setPL(`"events":{"m.room.name":80}`, carol50),
			ev: carolSets(`"events":{"m.room.name":10}`, carol50), allow: false},
		{name: "events entry above own removed", vers: allVersions, setup: setPL(`"events":{"m.room.name":80}`, carol50),
			ev: carolSets(``, carol50), allow: false},
		{name: "events entry above own kept", vers: allVersions, setup: setPL(`"events":{"m.room.name":80}`, carol50),
			ev: carolSets(`"events":{"m.room.name":80,"m.room.topic":20}`, carol50), allow: true},
		{name: "notifications above own added", vers: versionsBetween(6, 12), setup: setPL(``, carol50),
			ev: carolSets(`"notifications":{"room":60}`, carol50), allow: false, reason: "notifications"},
		{name: "notifications above own removed", vers: versionsBetween(6, 12), setup: setPL(`"notifications":{"room":60}`, carol50),
			ev: carolSets(``, carol50), allow: false},
		{name: "notifications at own", vers: versionsBetween(6, 12), setup: setPL(``, carol50),
			ev: carolSets(`"notifications":{"room":50}`, carol50), allow: true},
		{name: "notifications unchecked before v6", vers: versionsBetween(1, 5), setup: setPL(`"notifications":{"room":90}`, carol50),
			ev: carolSets(`"notifications":{"room":100}`, carol50), allow: true},
		{name: "notifications malformed before v6", vers: versionsBetween(1, 5), setup: setPL(``, carol50),
			ev: carolSets(`"notifications":"loud"`, carol50), allow: true},
		{name: "notifications malformed from v6", vers: versionsBetween(6, 12), setup: setPL(``, carol50),
			ev: carolSets(`"notifications":"loud"`, carol50), allow: false},
		{name: "lower own entry", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(``, `"@carol:c.example":10`), allow: true},
		{name: "remove own entry", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(``), allow: true},
		{name: "raise self above own", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(``, `"@carol:c.example":51`), allow: false},
		{name: "promote other to own level", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(``, carol50, `"@bob:b.example":50`), allow: true},
		{name: "promote other above own level", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(``, carol50, `"@bob:b.example":51`), allow: false},
		{name: "demote other below own", vers: allVersions, setup: setPL(``, carol50, `"@bob:b.example":49`),
			ev: carolSets(``, carol50, `"@bob:b.example":0`), allow: true},
		{name: "demote other at own level", vers: allVersions, setup: setPL(``, carol50, `"@bob:b.example":50`),
			ev: carolSets(``, carol50, `"@bob:b.example":0`), allow: false, reason: "@bob:b.example"},
		{name: "remove other at own level", vers: allVersions, setup: setPL(``, carol50, `"@bob:b.example":50`),
			ev: carolSets(``, carol50), allow: false},
		{name: "keep other above own level", vers: allVersions, setup: setPL(``, carol50, `"@bob:b.example":90`),
			ev: carolSets(`"ban":10`, carol50, `"@bob:b.example":90`), allow: true},
		// Older versions compare values, not spellings.
		{name: "string respelling is no change", vers: versionsBetween(1, 9), setup: setPL(`"ban":"70"`, carol50),
			ev: carolSets(`"ban":70`, carol50), allow: true},
		{name: "string level accepted", vers: versionsBetween(1, 9), setup: setPL(``, carol50),
			ev: carolSets(`"ban":" +040 "`, `"@carol:c.example":"50"`), allow: true},
		{name: "string level rejected", vers: versionsBetween(10, 12), setup: setPL(``, carol50),
			ev: carolSets(`"ban":"40"`, carol50), allow: false, reason: "string"},
		{name: "string user level rejected", vers: versionsBetween(10, 12), setup: setPL(``, carol50),
			ev: carolSets(``, `"@carol:c.example":"50"`), allow: false},
		{name: "string events level rejected", vers: versionsBetween(10, 12), setup: setPL(``, carol50),
			ev: carolSets(`"events":{"m.room.name":"50"}`, carol50), allow: false},
		{name: "float level", vers: versionsBetween(1, 5), setup: setPL(``, carol50),
			ev: carolSets(`"ban":40.9`, `"@carol:c.example":50.57`), allow: true},
		{name: "float level is truncated before comparing", vers: versionsBetween(1, 5), setup: setPL(``, carol50),
			ev: carolSets(`"ban":50.99`, carol50), allow: true},
		{name: "float level rejected", vers: versionsBetween(6, 12), setup: setPL(``, carol50),
			ev: carolSets(`"ban":40.5`, carol50), allow: false},
		{name: "non-integer string", vers: versionsBetween(1, 9), setup: setPL(``, carol50),
			ev: carolSets(`"ban":"40.5"`, carol50), allow: false},
		{name: "boolean level", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(`"ban":true`, carol50), allow: false},
		{name: "null level", vers: versionsBetween(10, 12), setup: setPL(``, carol50),
			ev: carolSets(`"ban":null`, carol50), allow: false},
		{name: "null level is absent", vers: versionsBetween(1, 9), setup: setPL(``, carol50),
			ev: carolSets(`"ban":null`, carol50), allow: true},
		{name: "invalid user ID", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(``, carol50, `"bob":10`), allow: false, reason: "user ID"},
		{name: "users not an object", vers: allVersions, setup: setPL(``, carol50),
			ev: func(r *room) *event.PDU { return plEvent(r, carol, `{"users":[1]}`) }, allow: false},
		{name: "events not an object", vers: allVersions, setup: setPL(``, carol50),
			ev: carolSets(`"events":3`, carol50), allow: false},
		{name: "sender not joined", vers: allVersions,
			setup: func(r *room) {
				setPL(``, carol50)(r)
				r.member(carol, "leave")
			},
			ev: carolSets(``, carol50), allow: false, reason: "not joined"},
	}
	runCases(t, cases)
}

func TestFirstPowerLevels(t *testing.T) {
	for _, ver := range allVersions {
		t.Run("v"+ver, func(t *testing.T) {
			r := newRoom(t, ver, "")
			r.member(alice, "join")
			r.member(bob, "join")
			r.joinRules("public")
			// Without power levels the creator has 100 (or is a creator)
			// and everyone else 0, under a state_default of 50.
			r.expect(plEvent(r, alice, `{"users":{"@bob:b.example":100},"ban":1000}`), true)
			r.expect(plEvent(r, bob, `{}`), false)
			r.expect(plEvent(r, alice, `{"users":{"bob":100}}`), false)
			// Before v10 the first power levels only have their users checked.
			r.expect(plEvent(r, alice, `{"ban":"fifty"}`), !r.v.IntegerPowerLevels)
			// Once the room has power levels, such values are judged.
			r.powerLevels(creatorPL(r, ""))
			r.expect(plEvent(r, alice, creatorPL(r, `"ban":"fifty"`)), false)
		})
	}
}

func TestParsePowerLevels(t *testing.T) {
	r := newRoom(t, "1", "")
	pl := r.add(`{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":{
		"ban":"  -007 ","kick":"+60","redact":70.9,"invite":-5.5,"state_default":1e2,"events_default":"0",
		"users_default":3,"users":{"@bob:b.example":"42"},"events":{"m.room.name":"33"},"notifications":{"room":"20","bad":true}}}`)
	p, err := ParsePowerLevels(pl, r.create)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][2]int64{
		"ban": {p.Ban(), -7}, "kick": {p.Kick(), 60}, "redact": {p.Redact(), 70}, "invite": {p.Invite(), -5},
		"state_default": {p.StateDefault(), 100}, "events_default": {p.EventsDefault(), 0}, "users_default": {p.UsersDefault(), 3},
		"bob": {p.UserLevel(bob), 42}, "alice": {p.UserLevel(alice), 3},
		"m.room.name": {p.EventLevel("m.room.name", true), 33}, "m.room.topic": {p.EventLevel("m.room.topic", true), 100},
		"message": {p.EventLevel("m.room.message", false), 0},
		"room":    {p.Notification("room"), 20}, "bad": {p.Notification("bad"), 50},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %d, want %d", name, got[0], got[1])
		}
	}

	// Defaults of a room without power levels.
	for _, ver := range allVersions {
		r := newRoom(t, ver, "")
		p, err := ParsePowerLevels(nil, r.create)
		if err != nil {
			t.Fatal(err)
		}
		wantAlice := int64(100)
		if r.v.PrivilegedCreators {
			wantAlice = Infinite
		}
		if users := p.Users(); r.v.PrivilegedCreators != (len(users) == 0) {
			t.Errorf("v%s: users without power levels: %v", ver, users)
		}
		if p.UserLevel(alice) != wantAlice || p.UserLevel(bob) != 0 || p.FromEvent() {
			t.Errorf("v%s: alice %d bob %d fromEvent %v", ver, p.UserLevel(alice), p.UserLevel(bob), p.FromEvent())
		}
		if p.Ban() != 50 || p.Kick() != 50 || p.Redact() != 50 || p.Invite() != 0 ||
			p.StateDefault() != 50 || p.EventsDefault() != 0 || p.UsersDefault() != 0 || p.Notification("room") != 50 {
			t.Errorf("v%s: wrong defaults %+v", ver, p)
		}
	}

	// With a power levels event the creator is ordinary before v12.
	for _, ver := range allVersions {
		r := newRoom(t, ver, "")
		pl := r.add(`{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":{"users_default":5}}`)
		p, err := ParsePowerLevels(pl, r.create)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(5)
		if r.v.PrivilegedCreators {
			want = Infinite
		}
		if got := p.UserLevel(alice); got != want {
			t.Errorf("v%s: alice level %d, want %d", ver, got, want)
		}
		if p.IsCreator(alice) != r.v.PrivilegedCreators || !p.FromEvent() {
			t.Errorf("v%s: IsCreator %v FromEvent %v", ver, p.IsCreator(alice), p.FromEvent())
		}
	}

	// Errors wrap ErrInvalidPowerLevels.
	r = newRoom(t, "10", "")
	bad := r.add(`{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":{"kick":"5"}}`)
	if _, err := ParsePowerLevels(bad, r.create); !errors.Is(err, ErrInvalidPowerLevels) {
		t.Errorf("string level in v10: %v", err)
	}
	if _, err := ParsePowerLevels(nil, nil); !errors.Is(err, ErrInvalidPowerLevels) {
		t.Errorf("no events: %v", err)
	}
}

func TestParseLevelString(t *testing.T) {
	for s, want := range map[string]int64{
		"100": 100, "000100": 100, "+100": 100, "-100": -100, " 100 ": 100, " 00100 ": 100, " +100 ": 100, "\t-100\n": -100,
	} {
		got, err := parseLevelString(s)
		if err != nil || got != want {
			t.Errorf("parseLevelString(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", " ", "+", "-", "++1", "+-1", "1.5", "1e2", "0x10", "1 0", "ten", "99999999999999999999"} {
		if got, err := parseLevelString(s); err == nil {
			t.Errorf("parseLevelString(%q) = %d, want error", s, got)
		}
	}
}

func TestPowerLevelsAccessorsCopy(t *testing.T) {
	r := newRoom(t, "11", "")
	pl := r.add(`{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":{"users":{"@bob:b.example":9},"events":{"m.room.name":7},"notifications":{"room":8}}}`)
	p, err := ParsePowerLevels(pl, r.create)
	if err != nil {
		t.Fatal(err)
	}
	u, e, n := p.Users(), p.Events(), p.Notifications()
	if u[bob] != 9 || e["m.room.name"] != 7 || n["room"] != 8 {
		t.Fatalf("maps: %v %v %v", u, e, n)
	}
	u[bob], e["m.room.name"], n["room"] = 1, 1, 1
	if p.UserLevel(bob) != 9 || p.EventLevel("m.room.name", true) != 7 || p.Notification("room") != 8 {
		t.Error("accessor maps alias the parsed levels")
	}
}
