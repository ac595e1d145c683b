package pushrules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestConditions(t *testing.T) {
	pl := func(sender int64, levels map[string]int64) Context {
		return Context{SenderPowerLevel: sender, NotificationPowerLevels: levels}
	}
	members := func(n int64) Context { return Context{MemberCount: n} }
	display := func(name string) Context { return Context{DisplayName: name} }
	match := EventMatch
	is := func(key, value string) Condition {
		return Condition{Kind: CondEventPropertyIs, Key: key, Value: json.RawMessage(value)}
	}
	contains := func(key, value string) Condition {
		return Condition{Kind: CondEventPropertyContains, Key: key, Value: json.RawMessage(value)}
	}
	count := func(s string) Condition { return Condition{Kind: CondRoomMemberCount, Is: s} }
	perm := func(key string) Condition { return Condition{Kind: CondSenderNotificationPermission, Key: key} }
	dn := Condition{Kind: CondContainsDisplayName}

	topic := func(v string) string { return `{"type":"m.room.topic","state_key":"","content":{"topic":` + v + `}}` }
	body := func(v string) string { return `{"type":"m.room.message","content":{"body":` + v + `}}` }
	create := `{"type":"m.room.create","state_key":"","content":{"creator":"@e:x","m.federate":true,"room_version":"1","n":7,"neg":-3,"f":1.5,"nil":null,"big":9007199254740992,"m\\foo":"bs","predecessor":{"room_id":"!old:x"}}}`
	aliases := `{"type":"m.room.canonical_alias","content":{"alt_aliases":["#somewhere:example.org","#myroom:example.com",{"x":1},["y"],3,true,null]}}`

	tests := []struct {
		name  string
		cond  Condition
		event string
		ctx   Context
		want  bool
	}{
		// event_match, with the spec's examples.
		{"match exact type", match("type", "m.room.topic"), topic(`"x"`), Context{}, true},
		{"match type glob *", match("type", "m.room.*"), topic(`"x"`), Context{}, true},
		{"match type glob ?", match("type", "m.room.topi?"), topic(`"x"`), Context{}, true},
		{"match is whole value", match("type", "m.room"), topic(`"x"`), Context{}, false},
		{"spec lunc?* Lunch plans", match("content.topic", "lunc?*"), topic(`"Lunch plans"`), Context{}, true},
		{"spec lunc?* LUNCH", match("content.topic", "lunc?*"), topic(`"LUNCH"`), Context{}, true},
		{"spec lunc?* leading space", match("content.topic", "lunc?*"), topic(`" lunch"`), Context{}, false},
		{"spec lunc?* lunc", match("content.topic", "lunc?*"), topic(`"lunc"`), Context{}, false},
		{"spec lunc?* null", match("content.topic", "lunc?*"), topic(`null`), Context{}, false},
		{"match * on absent key", match("content.nothing", "*"), topic(`"x"`), Context{}, false},
		{"match * on number", match("content.topic", "*"), topic(`5`), Context{}, false},
		{"match * on object", match("content", "*"), topic(`"x"`), Context{}, false},
		{"match empty pattern on empty state_key", match("state_key", ""), topic(`"x"`), Context{}, true},
		{"match empty pattern on absent state_key", match("state_key", ""), body(`"x"`), Context{}, false},
		{"match without pattern", Condition{Kind: CondEventMatch, Key: "type"}, topic(`"x"`), Context{}, false},
		{"spec body ex*ple in sentence", match("content.body", "ex*ple"), body(`"An example event."`), Context{}, true},
		{"spec body exple", match("content.body", "ex*ple"), body(`"exple"`), Context{}, true},
		{"spec body spans words", match("content.body", "ex*ple"), body(`"An exciting triple-whammy"`), Context{}, true},
		{"body needs word boundary", match("content.body", "ex*ple"), body(`"examples"`), Context{}, false},
		{"body boundary is not a word char", match("content.body", "cake"), body(`"my_cake"`), Context{}, false},
		{"body boundary non-ascii", match("content.body", "cake"), body(`"écakeé"`), Context{}, true},
		{"escaped dot in key", match(`content.m\.federate`, "*"), `{"content":{"m.federate":"yes"}}`, Context{}, true},
		{"unescaped dot is a path", match(`content.m.federate`, "*"), `{"content":{"m.federate":"yes"}}`, Context{}, false},
		{"escaped backslash in key", match(`content.m\\foo`, "bs"), create, Context{}, true},
		{"nested key", match("content.predecessor.room_id", "!old:x"), create, Context{}, true},

		// event_property_is, with the spec's examples.
		{"is true", is(`content.m\.federate`, `true`), create, Context{}, true},
		{"is string true", is(`content.m\.federate`, `"true"`), create, Context{}, false},
		{"is 1 for true", is(`content.m\.federate`, `1`), create, Context{}, false},
		{"is string", is("content.room_version", `"1"`), create, Context{}, true},
		{"is string vs integer", is("content.room_version", `1`), create, Context{}, false},
		{"is integer", is("content.n", `7`), create, Context{}, true},
		{"is negative integer", is("content.neg", `-3`), create, Context{}, true},
		{"is other integer", is("content.n", `8`), create, Context{}, false},
		{"is null", is("content.nil", `null`), create, Context{}, true},
		{"is null on absent", is("content.absent", `null`), create, Context{}, false},
		{"is fraction never", is("content.f", `1.5`), create, Context{}, false},
		{"is integer beyond 2^53", is("content.big", `9007199254740992`), create, Context{}, false},
		{"is object never", is("content.predecessor", `{"room_id":"!old:x"}`), create, Context{}, false},
		{"is without value", Condition{Kind: CondEventPropertyIs, Key: "content.nil"}, create, Context{}, false},

		// event_property_contains, with the spec's examples.
		{"contains", contains("content.alt_aliases", `"#myroom:example.com"`), aliases, Context{}, true},
		{"contains partial", contains("content.alt_aliases", `":example.com"`), aliases, Context{}, false},
		{"contains integer", contains("content.alt_aliases", `3`), aliases, Context{}, true},
		{"contains bool", contains("content.alt_aliases", `true`), aliases, Context{}, true},
		{"contains null", contains("content.alt_aliases", `null`), aliases, Context{}, true},
		{"contains ignores objects", contains("content.alt_aliases", `{"x":1}`), aliases, Context{}, false},
		{"contains on non-array", contains("type", `"m.room.canonical_alias"`), aliases, Context{}, false},
		{"contains on absent", contains("content.none", `"x"`), aliases, Context{}, false},

		// contains_display_name.
		{"display name", dn, body(`"Hi Alice!"`), display("Alice"), true},
		{"display name case", dn, body(`"HI ALICE"`), display("alice"), true},
		{"display name multiword", dn, body(`"ok Alice Liddell, go"`), display("Alice Liddell"), true},
		{"display name inside word", dn, body(`"Malice"`), display("Alice"), false},
		{"display name is literal", dn, body(`"axxb"`), display("a*b"), false},
		{"display name with star", dn, body(`"hey a*b"`), display("a*b"), true},
		{"empty display name", dn, body(`"anything"`), display(""), false},
		{"display name no body", dn, `{"type":"m.room.message","content":{}}`, display("Alice"), false},

		// room_member_count.
		{"count bare", count("2"), body(`""`), members(2), true},
		{"count bare other", count("2"), body(`""`), members(3), false},
		{"count ==", count("==2"), body(`""`), members(2), true},
		{"count <", count("<3"), body(`""`), members(2), true},
		{"count < equal", count("<2"), body(`""`), members(2), false},
		{"count >", count(">1"), body(`""`), members(2), true},
		{"count > equal", count(">2"), body(`""`), members(2), false},
		{"count <=", count("<=10"), body(`""`), members(10), true},
		{"count >=", count(">=10"), body(`""`), members(10), true},
		{"count >= below", count(">=10"), body(`""`), members(9), false},
		{"count bad op", count("=2"), body(`""`), members(2), false},
		{"count not number", count("two"), body(`""`), members(2), false},
		{"count empty", count(""), body(`""`), members(0), false},
		{"count sign", count("-1"), body(`""`), members(-1), false},
		{"count op only", count("<="), body(`""`), members(0), false},

		// sender_notification_permission.
		{"perm default room 50", perm("room"), body(`""`), pl(50, nil), true},
		{"perm default room below", perm("room"), body(`""`), pl(49, nil), false},
		{"perm room from levels", perm("room"), body(`""`), pl(50, map[string]int64{"room": 100}), false},
		{"perm room lowered", perm("room"), body(`""`), pl(0, map[string]int64{"room": 0}), true},
		{"perm other key set", perm("custom"), body(`""`), pl(10, map[string]int64{"custom": 10}), true},
		{"perm unknown key", perm("custom"), body(`""`), pl(100, nil), false},
		{"perm no key", perm(""), body(`""`), pl(100, map[string]int64{"": 0}), false},

		{"unknown kind", Condition{Kind: "org.example.future"}, body(`""`), Context{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := NewEventView([]byte(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			if got := conditionMatches(tc.cond, ev, tc.ctx); got != tc.want {
				t.Errorf("%+v on %s = %v, want %v", tc.cond, tc.event, got, tc.want)
			}
		})
	}
}

func TestUserRulesEvaluate(t *testing.T) {
	rs := Defaults("@alice:x", "alice")
	put := func(k Kind, id string, b RuleBody) {
		t.Helper()
		if err := rs.Put(k, id, b, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	cake := "cake*lie"
	put(KindContent, "cakelie", RuleBody{Pattern: &cake, Actions: []Action{Notify(), SetTweak(TweakSound, json.RawMessage(`"cake.wav"`))}})
	put(KindRoom, "!quiet:x", RuleBody{Actions: []Action{}})
	put(KindSender, "@spam:x", RuleBody{Actions: []Action{{Name: "dont_notify"}}})
	put(KindOverride, "beer", RuleBody{
		Conditions: []Condition{EventMatch("content.body", "beer"), {Kind: CondRoomMemberCount, Is: "<=10"}},
		Actions:    []Action{Notify(), SetTweak(TweakSound, json.RawMessage(`"beeroclock.wav"`))},
	})
	put(KindUnderride, "future", RuleBody{Conditions: []Condition{{Kind: "org.example.unknown"}}, Actions: []Action{Notify()}})

	tests := []struct {
		event      string
		members    int64
		wantKind   Kind
		wantRule   string
		wantNotify bool
	}{
		{`{"type":"m.room.message","room_id":"!a:x","sender":"@bob:x","content":{"body":"The cake is a lie"}}`, 5, KindContent, "cakelie", true},
		{`{"type":"m.room.message","room_id":"!quiet:x","sender":"@bob:x","content":{"body":"hi"}}`, 5, KindRoom, "!quiet:x", false},
		{`{"type":"m.room.message","room_id":"!a:x","sender":"@spam:x","content":{"body":"buy"}}`, 5, KindSender, "@spam:x", false},
		{`{"type":"m.room.message","room_id":"!quiet:x","sender":"@bob:x","content":{"body":"Beer?"}}`, 10, KindOverride, "beer", true},
		{`{"type":"m.room.message","room_id":"!a:x","sender":"@bob:x","content":{"body":"Beer?"}}`, 11, KindUnderride, RuleMessage, true},
		{`{"type":"m.room.message","room_id":"!a:x","sender":"@bob:x","content":{"body":"cake lie alice"}}`, 5, KindContent, "cakelie", true},
	}
	for _, tc := range tests {
		ev, err := NewEventView([]byte(tc.event))
		if err != nil {
			t.Fatal(err)
		}
		actions, m := Evaluate(rs, ev, Context{UserID: "@alice:x", MemberCount: tc.members})
		if m == nil || m.Kind != tc.wantKind || m.Rule.RuleID != tc.wantRule {
			t.Errorf("%s: matched %+v, want %s/%s", tc.event, m, tc.wantKind, tc.wantRule)
			continue
		}
		if Notifies(actions) != tc.wantNotify {
			t.Errorf("%s: actions %v notify = %v, want %v", tc.event, actions, !tc.wantNotify, tc.wantNotify)
		}
		if actions == nil {
			t.Errorf("%s: nil actions for a match", tc.event)
		}
	}
}

func TestNewEventViewErrors(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `"x"`, `{`, `{"a":1}x`} {
		if _, err := NewEventView([]byte(in)); err == nil {
			t.Errorf("NewEventView(%q) succeeded", in)
		}
	}
	ev, err := NewEventView([]byte(`{"content":{"a.b":{"c":[1]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := ev.Property(`content.a\.b.c`); !ok || len(v.([]any)) != 1 {
		t.Errorf("Property = %v, %v", v, ok)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, value string
		whole, words   bool
	}{
		{"", "", true, true},
		{"", "x", false, true}, // an empty match at the start
		{"*", "", true, true},
		{"*", "anything at all", true, true},
		{"a?c", "abc", true, true},
		{"a?c", "ac", false, false},
		{"a?c", "aéc", true, true},
		{"?", "日", true, true},
		{"a*", "ABC", true, true},
		{"école", "ÉCOLE", true, true},
		{"straße", "STRASSE", false, false},
		{"k", "\u212a", true, true}, // Kelvin sign folds to k
		{"**a**", "bab", true, true},
		{"a", "bab", false, false},
		{"cake", "I like cake!", false, true},
		{"cake", "cakes", false, false},
		{"c*e", "cake cake", true, true},
		{"lie", "a lie", false, true},
		{"a b", "x a b y", false, true},
		{"[a]", "[a]", true, true},
		{"a*?", "a", false, false},
		{"a*?", "ab", true, true},
		{"*b*", "abc", true, true},
		{"b", "a b c", false, true},
		{"@room", "x@room", false, true},
		{"@room", "@roomy", false, false},
		{"room", "@room", false, true},
		{"-x", "a-x", false, true},
		{"x-", "x-a", false, true},
		{"alice", "malice", false, false},
		{"alice", "alice_", false, false},
		{"@room", "hi @room!", false, true},
		{"a", "ä a", false, true},
		{"*", "", true, true},
	}
	for _, tc := range tests {
		for _, wide := range []bool{false, true} {
			g := compileGlob(tc.pattern)
			g.wide = g.wide || wide // the slice automaton must agree with the one-word one
			if got := g.match(tc.value); got != tc.whole {
				t.Errorf("match(%q, %q) wide=%v = %v, want %v", tc.pattern, tc.value, wide, got, tc.whole)
			}
			if got := g.matchWords(tc.value); got != tc.words {
				t.Errorf("matchWords(%q, %q) wide=%v = %v, want %v", tc.pattern, tc.value, wide, got, tc.words)
			}
		}
	}
}

// Patterns of 64 tokens or more use the slice automaton.
func TestGlobLong(t *testing.T) {
	word := strings.Repeat("ab", 40)
	tests := []struct {
		pattern, value string
		whole, words   bool
	}{
		{word, word, true, true},
		{word, "x " + strings.ToUpper(word) + "!", false, true},
		{word, "x" + word, false, false},
		{strings.Repeat("a?", 40), word, true, true},
		{strings.Repeat("*a", 40) + "*", strings.Repeat("ba", 40), true, true},
		{strings.Repeat("*a", 40) + "*", strings.Repeat("ba", 39), false, false},
	}
	for _, tc := range tests {
		g := compileGlob(tc.pattern)
		if !g.wide {
			t.Fatalf("pattern of %d runes is not wide", len(tc.pattern))
		}
		if got := g.match(tc.value); got != tc.whole {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.value, got, tc.whole)
		}
		if got := g.matchWords(tc.value); got != tc.words {
			t.Errorf("matchWords(%q, %q) = %v, want %v", tc.pattern, tc.value, got, tc.words)
		}
	}
}

// A pattern that makes backtracking matchers exponential must stay fast.
func TestGlobPathological(t *testing.T) {
	pattern := strings.Repeat("*a", 30) + "*b"
	value := strings.Repeat("a", 20000)
	g := compileGlob(pattern)
	if g.match(value) || g.matchWords(value) {
		t.Error("matched a value without b")
	}
}

func BenchmarkEvaluateMessage(b *testing.B) {
	rs := Defaults("@alice:example.org", "alice")
	ev, err := NewEventView([]byte(`{"type":"m.room.message","room_id":"!r:x","sender":"@bob:x","content":{"msgtype":"m.text","body":"` +
		strings.Repeat("lorem ipsum dolor ", 200) + `"}}`))
	if err != nil {
		b.Fatal(err)
	}
	ctx := Context{UserID: "@alice:example.org", DisplayName: "Alice Liddell", MemberCount: 40}
	for b.Loop() {
		Evaluate(rs, ev, ctx)
	}
}

// TestNewEventViewOfMatchesDecoding checks that a view built from an
// event's fields sees what a view decoded from its JSON sees.
func TestNewEventViewOfMatchesDecoding(t *testing.T) {
	sk := "@bob:x"
	tests := []struct {
		name string
		f    Fields
		json string
	}{
		{"message", Fields{ID: "$1", Type: "m.room.message", Sender: "@a:x", RoomID: "!r:x", TS: 1700000000123, Content: json.RawMessage(`{"body":"hi","n":12345678901234567890,"m.relates_to":{"rel_type":"m.thread"}}`)},
			`{"event_id":"$1","type":"m.room.message","sender":"@a:x","room_id":"!r:x","origin_server_ts":1700000000123,"content":{"body":"hi","n":12345678901234567890,"m.relates_to":{"rel_type":"m.thread"}}}`},
		{"state", Fields{ID: "$2", Type: "m.room.member", Sender: "@a:x", RoomID: "!r:x", TS: 5, StateKey: &sk, Content: json.RawMessage(`{"membership":"invite"}`)},
			`{"event_id":"$2","type":"m.room.member","sender":"@a:x","room_id":"!r:x","origin_server_ts":5,"state_key":"@bob:x","content":{"membership":"invite"}}`},
		{"redaction without content", Fields{ID: "$3", Type: "m.room.redaction", Sender: "@a:x", RoomID: "!r:x", TS: 6, Redacts: "$1"},
			`{"event_id":"$3","type":"m.room.redaction","sender":"@a:x","room_id":"!r:x","origin_server_ts":6,"redacts":"$1","content":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewEventViewOf(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := NewEventView([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.obj, want.obj) {
				t.Errorf("view %v, want %v", got.obj, want.obj)
			}
		})
	}
	if _, err := NewEventViewOf(Fields{Content: json.RawMessage(`{"body":`)}); err == nil {
		t.Error("a view of broken content was built")
	}
}
