package pushrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The reference below is how views and evaluation worked before views read
// content lazily: the event decoded into maps by encoding/json, and the
// conditions applied to those maps with the glob automaton alone. The
// tests check the lazy views, the compiled rules and the glob's byte
// comparison against it.

// refEventViewOf decodes an event from its fields as NewEventViewOf did.
func refEventViewOf(f Fields) (map[string]any, error) {
	obj := map[string]any{
		"event_id":         f.ID,
		"type":             f.Type,
		"sender":           f.Sender,
		"room_id":          f.RoomID,
		"origin_server_ts": json.Number(strconv.FormatInt(f.TS, 10)),
	}
	if f.StateKey != nil {
		obj["state_key"] = *f.StateKey
	}
	if f.Redacts != "" {
		obj["redacts"] = f.Redacts
	}
	content := f.Content
	if len(content) == 0 {
		content = json.RawMessage("null")
	}
	d := json.NewDecoder(bytes.NewReader(content))
	d.UseNumber()
	var c any
	if err := d.Decode(&c); err != nil {
		return nil, err
	}
	obj["content"] = c
	return obj, nil
}

// refEventView decodes an event's JSON as NewEventView did.
func refEventView(eventJSON []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(eventJSON))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("null")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return obj, nil
}

// refLookup follows path through decoded objects.
func refLookup(root map[string]any, path []string) (any, bool) {
	var v any = root
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// refGlob compiles a pattern for the automaton alone.
func refGlob(pattern string, wildcards bool) *glob {
	g := compile(pattern, wildcards)
	g.lit = nil
	return g
}

// refEvaluate is Evaluate over a decoded event.
func refEvaluate(rs Ruleset, obj map[string]any, ctx Context) ([]Action, *Match) {
	if sender, _ := obj["sender"].(string); ctx.UserID != "" && sender == ctx.UserID {
		return nil, nil
	}
	_, hasMentions := refLookup(obj, []string{"content", "m.mentions"})
	for _, k := range Kinds() {
		for _, r := range *rs.Global.list(k) {
			if !r.Enabled || hasMentions && IsServerDefault(r.RuleID) && legacyMentionRule(r.RuleID) {
				continue
			}
			if refRuleMatches(k, r, obj, ctx) {
				return stripHistorical(r.Actions), &Match{Kind: k, Rule: r.clone()}
			}
		}
	}
	return nil, nil
}

func refBody(obj map[string]any) (string, bool) {
	b, ok := refLookup(obj, []string{"content", "body"})
	s, isString := b.(string)
	return s, ok && isString
}

func refRuleMatches(k Kind, r Rule, obj map[string]any, ctx Context) bool {
	switch k {
	case KindContent:
		body, ok := refBody(obj)
		return ok && refGlob(r.Pattern, true).matchWords(body)
	case KindRoom:
		s, _ := obj["room_id"].(string)
		return s == r.RuleID
	case KindSender:
		s, _ := obj["sender"].(string)
		return s == r.RuleID
	}
	for _, c := range r.Conditions {
		if !refConditionMatches(c, obj, ctx) {
			return false
		}
	}
	return true
}

func refConditionMatches(c Condition, obj map[string]any, ctx Context) bool {
	switch c.Kind {
	case CondEventMatch:
		if c.Pattern == nil {
			return false
		}
		path := cachedPath(c.Key)
		v, _ := refLookup(obj, path)
		s, ok := v.(string)
		if !ok {
			return false
		}
		g := refGlob(*c.Pattern, true)
		if slices.Equal(path, []string{"content", "body"}) {
			return g.matchWords(s)
		}
		return g.match(s)
	case CondEventPropertyIs:
		want, ok := decodeScalar(c.Value)
		if !ok {
			return false
		}
		v, found := refLookup(obj, cachedPath(c.Key))
		got, ok := scalarOf(v)
		return found && ok && got == want
	case CondEventPropertyContains:
		want, ok := decodeScalar(c.Value)
		if !ok {
			return false
		}
		v, _ := refLookup(obj, cachedPath(c.Key))
		arr, _ := v.([]any)
		for _, e := range arr {
			if got, ok := scalarOf(e); ok && got == want {
				return true
			}
		}
		return false
	case CondContainsDisplayName:
		body, ok := refBody(obj)
		return ok && ctx.DisplayName != "" && refGlob(ctx.DisplayName, false).matchWords(body)
	case CondRoomMemberCount:
		op, n, ok := parseMemberCount(c.Is)
		return ok && compareCount(op, n, ctx.MemberCount)
	case CondSenderNotificationPermission:
		level, ok := ctx.NotificationPowerLevels[c.Key]
		if !ok && c.Key == "room" {
			level, ok = defaultRoomNotificationLevel, true
		}
		return ok && c.Key != "" && ctx.SenderPowerLevel >= level
	}
	return false
}

// trickyContents are contents that a lazy reading could get wrong.
var trickyContents = []string{
	``,
	`null`,
	` null `,
	`{}`,
	` { } `,
	`{"msgtype":"m.text","body":"hello @room and alice"}`,
	`{"msgtype":"m.notice","body":"alice"}`,
	`{"body":"Alice Liddell!","m.mentions":{}}`,
	`{"body":"x","m.mentions":{"user_ids":["@carol:x","@alice:example.org"]}}`,
	`{"body":"x","m.mentions":{"user_ids":[1,true,null,{"a":1},["@alice:example.org"],"@alice:example.org"]}}`,
	`{"body":"x","m.mentions":{"user_ids":"@alice:example.org"}}`,
	`{"body":"x","m.mentions":{"room":true}}`,
	`{"body":"x","m.mentions":{"room":"true"}}`,
	`{"body":"x","m.mentions":{"room":1}}`,
	`{"body":"x","m.mentions":null}`,
	`{"body":"* fix","m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}`,
	`{"body":"in thread","m.relates_to":{"rel_type":"m.thread","event_id":"$root","m.in_reply_to":{"event_id":"$r"}}}`,
	`{"m.relates_to":{"rel_type":"m.annotation","key":"👍"}}`,
	// Escapes in keys and values.
	`{"bo\u0064y":"alice","m\u002erelates_to":{"rel\u005ftype":"m.replace"}}`,
	`{"body":"a\nb \u00e9 \ud83d\ude00 @room\t!","msgtype":"m.te\u0078t"}`,
	`{"body":"\u0040room"}`,
	`{"body":"lone \ud800 surrogate"}`,
	`{"body":"\"alice\" \\ \/ \b\f\r"}`,
	// Invalid UTF-8, which encoding/json turns into U+FFFD.
	"{\"body\":\"al\xffice alice\"}",
	"{\"b\xffody\":\"alice\",\"body\":\"x\"}",
	"{\"body\":\"\xef\xbf\xbd\",\"\xef\xbf\xbd\":1}",
	// Non-ASCII text and case folding.
	`{"body":"ÉCOLE alıce ALICE"}`,
	"{\"body\":\"\u212aelvin alice\"}",
	`{"body":"écake alice_"}`,
	// Duplicate keys: the last one counts.
	`{"body":"alice","body":"nothing"}`,
	`{"body":"nothing","body":"@room"}`,
	`{"m.relates_to":{"rel_type":"m.replace"},"m.relates_to":5}`,
	`{"m.relates_to":{"rel_type":"m.replace","rel_type":"m.thread"}}`,
	`{"m.mentions":{"room":true},"m.mentions":{"room":false}}`,
	`{"a":{"b":1},"a":{"c":2}}`,
	// Keys with dots and backslashes, empty keys.
	`{"a.b":{"c":[1]},"a":{"b":2}}`,
	`{"m\\foo":"bs","":{"":"empty"}}`,
	`{"m.relates_to.rel_type":"m.replace"}`,
	// Other types where strings are expected.
	`{"body":5,"msgtype":["m.notice"],"membership":{"x":1}}`,
	`{"body":null,"msgtype":true}`,
	`{"body":{"text":"alice"}}`,
	// Numbers.
	`{"n":12345678901234567890,"i":-3,"z":-0,"f":1.5,"e":1e3,"E":2E-2,"max":9007199254740991,"big":9007199254740992}`,
	// Content that is not an object.
	`[]`,
	`[{"body":"alice"}]`,
	`"alice"`,
	`"alice" trailing`,
	`"alice"x`,
	`5`,
	`5 x`,
	`5x`,
	`5-`,
	`05`,
	`-05`,
	`1.x`,
	`1e+`,
	`-`,
	`true`,
	`truex`,
	`nul`,
	// What follows an object or array is not read.
	`{"body":"alice"} garbage`,
	`{"body":"alice"}}`,
	`{"body":"alice"}{"body":"x"}`,
	`[1] x`,
	"\t\r\n {\"body\" : \"alice\" , \"msgtype\"\t:\n\"m.text\" }\n",
	// Invalid JSON.
	` `,
	`{`,
	`{"body":}`,
	`{"body" "x"}`,
	`{,}`,
	`{"a":1,}`,
	`[1,]`,
	`{"a":tru}`,
	`{"a":01}`,
	`{"a":-}`,
	`{"a":1.}`,
	`{"a":1e}`,
	`{"a":.5}`,
	`{"a":+1}`,
	"{\"a\":\"\x01\"}",
	`{"a":"\q"}`,
	`{"a":"\u12"}`,
	`{"a":"\u12G4"}`,
	`{"a":"unterminated}`,
	`{"a":[1 2]}`,
	`{"a":{"b" 1}}`,
	`{'a':1}`,
	`{"a":1 "b":2}`,
	`{"a":NaN}`,
	// Nesting at and past encoding/json's limit.
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	`{"a":` + strings.Repeat(`{"a":`, maxDepth-2) + `1` + strings.Repeat("}", maxDepth-1) + `}`,
	`{"a":` + strings.Repeat(`{"a":`, maxDepth-1) + `1` + strings.Repeat("}", maxDepth) + `}`,
}

// viewPaths are property paths to compare views on: those the default
// rules and core/notifications read, and others.
var viewPaths = []string{
	"", ".", "content", "content.", "content..", "content.body", "content.body.x", "content.msgtype",
	"content.membership", `content.m\.relates_to`, `content.m\.relates_to.rel_type`,
	`content.m\.relates_to.event_id`, `content.m\.relates_to.m\.in_reply_to.event_id`,
	`content.m\.mentions`, `content.m\.mentions.user_ids`, `content.m\.mentions.room`,
	"content.m.relates_to", `content.m\.relates_to\.rel_type`, "content.a", "content.a.b",
	`content.a\.b`, `content.a\.b.c`, `content.m\\foo`, "content..", "content.n", "content.big",
	"content.z", "content.e", "content.0", "content.\ufffd", "content.b\ufffdody",
	"type", "type.x", "sender", "room_id", "event_id", "origin_server_ts", "state_key", "redacts",
	"unsigned", "unsigned.age", "nothing", `content\.body`,
}

// viewRulesets are the rulesets to compare evaluation on: the defaults,
// and for each default rule the defaults with only that one enabled.
func viewRulesets(user, localpart string) []Ruleset {
	out := []Ruleset{Defaults(user, localpart)}
	all := Defaults(user, localpart)
	for _, k := range Kinds() {
		for _, r := range *all.Global.list(k) {
			rs := Defaults(user, localpart)
			for _, k2 := range Kinds() {
				for i := range *rs.Global.list(k2) {
					l := *rs.Global.list(k2)
					l[i].Enabled = l[i].RuleID == r.RuleID
				}
			}
			out = append(out, rs)
		}
	}
	return out
}

// viewContexts are the contexts to evaluate in.
var viewContexts = []Context{
	{UserID: "@alice:example.org", DisplayName: "Alice Liddell", MemberCount: 5},
	{UserID: "@alice:example.org", DisplayName: "alice", MemberCount: 2, SenderPowerLevel: 50},
	{UserID: "@alice:example.org", MemberCount: 2, SenderPowerLevel: 100, NotificationPowerLevels: map[string]int64{"room": 100}},
	{UserID: "@bob:x", DisplayName: "ÉCOLE", MemberCount: 40},
}

// compareViews checks that got, a view, sees what want, the reference's
// decoding, sees: the same properties and the same evaluations.
func compareViews(t *testing.T, what string, got EventView, want map[string]any, rulesets []Ruleset, compiled []*Compiled) {
	t.Helper()
	for _, p := range viewPaths {
		gv, gok := got.Property(p)
		wv, wok := refLookup(want, cachedPath(p))
		if gok != wok || !reflect.DeepEqual(gv, wv) {
			t.Errorf("%s: Property(%q) = %#v, %v; want %#v, %v", what, p, gv, gok, wv, wok)
		}
	}
	for i, rs := range rulesets {
		for _, ctx := range viewContexts {
			wantActions, wantMatch := refEvaluate(rs, want, ctx)
			gotActions, gotMatch := Evaluate(rs, got, ctx)
			if !reflect.DeepEqual(gotActions, wantActions) || !reflect.DeepEqual(gotMatch, wantMatch) {
				t.Errorf("%s: ruleset %d, %+v: Evaluate = %v %+v, want %v %+v", what, i, ctx, gotActions, gotMatch, wantActions, wantMatch)
			}
			cActions, cMatch := compiled[i].Evaluate(got, ctx)
			if !reflect.DeepEqual(cActions, wantActions) || !reflect.DeepEqual(cMatch, wantMatch) {
				t.Errorf("%s: ruleset %d, %+v: compiled Evaluate = %v %+v, want %v %+v", what, i, ctx, cActions, cMatch, wantActions, wantMatch)
			}
		}
	}
}

func compileAll(rulesets []Ruleset) []*Compiled {
	var out []*Compiled
	for _, rs := range rulesets {
		out = append(out, Compile(rs))
	}
	return out
}

// TestViewsMatchDecoding checks NewEventViewOf and NewEventView against
// the reference's decoding on tricky contents, for every property path
// and every default rule.
func TestViewsMatchDecoding(t *testing.T) {
	rulesets := viewRulesets("@alice:example.org", "alice")
	compiled := compileAll(rulesets)
	sk, empty := "@alice:example.org", ""
	fields := []Fields{
		{ID: "$1", Type: "m.room.message", Sender: "@bob:x", RoomID: "!r:x", TS: 1700000000123},
		{ID: "$2", Type: "m.room.member", Sender: "@bob:x", RoomID: "!r:x", TS: -5, StateKey: &sk},
		{ID: "$3", Type: "m.room.tombstone", Sender: "@alice:example.org", RoomID: "!r:x", StateKey: &empty},
		{Type: "m.room.redaction", Sender: "@bob:x", Redacts: "$1"},
		{},
	}
	for ci, content := range trickyContents {
		for fi, f := range fields {
			f.Content = json.RawMessage(content)
			what := fmt.Sprintf("content %d %.60q, fields %d", ci, content, fi)
			got, err := NewEventViewOf(f)
			want, wantErr := refEventViewOf(f)
			if (err != nil) != (wantErr != nil) {
				t.Errorf("%s: NewEventViewOf error %v, want %v", what, err, wantErr)
				continue
			}
			if err != nil {
				if err.Error() != "pushrules: decoding content: "+wantErr.Error() {
					t.Errorf("%s: NewEventViewOf error %q, want the decoder's %q", what, err, wantErr)
				}
				continue
			}
			compareViews(t, what, got, want, rulesets, compiled)
		}
	}
}

// eventJSONs wraps each tricky content into whole events for NewEventView.
func eventJSONs() []string {
	var out []string
	for _, c := range trickyContents {
		out = append(out,
			`{"type":"m.room.message","sender":"@bob:x","room_id":"!r:x","content":`+c+`}`,
			`{"content":`+c+`,"type":"m.room.member","state_key":"@alice:example.org","sender":"@bob:x","origin_server_ts":12}`,
		)
	}
	return append(out,
		``, ` `, `null`, `[]`, `"x"`, `{}`, ` {} `, `{}x`, `{} {}`, `{"a":1}x`, `{"a":1} `, `{"content":{"body":"alice"}}`,
		`{"type":5,"sender":["@bob:x"],"room_id":null,"state_key":{},"redacts":"","event_id":1}`,
		`{"origin_server_ts":1.5}`, `{"origin_server_ts":-0}`, `{"origin_server_ts":007}`, `{"origin_server_ts":99999999999999999999}`,
		`{"origin_server_ts":"12"}`, `{"origin_server_ts":-12}`,
		`{"type":"m.room.message","type":5,"content":{"body":"alice"},"content":{"body":"x"}}`,
		`{"sender":5,"sender":"@bob:x","content":{"body":"@room"}}`,
		`{"s\u0065nder":"@alice:example.org","content":{"body":"alice"}}`,
		`{"unsigned":{"age":5},"content":{"body":"alice"},"sender":"@bob:x","type":"m.room.message"}`,
		"{\"type\":\"m.room.m\xffessage\",\"content\":{}}",
	)
}

func TestEventViewMatchesDecoding(t *testing.T) {
	rulesets := viewRulesets("@alice:example.org", "alice")
	compiled := compileAll(rulesets)
	for i, ev := range eventJSONs() {
		what := fmt.Sprintf("event %d %.80q", i, ev)
		got, err := NewEventView([]byte(ev))
		want, wantErr := refEventView([]byte(ev))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: NewEventView error %v, want %v", what, err, wantErr)
			continue
		}
		if err == nil {
			compareViews(t, what, got, want, rulesets, compiled)
		}
	}
}

// TestViewZero checks that the zero EventView has no properties.
func TestViewZero(t *testing.T) {
	var v EventView
	for _, p := range viewPaths {
		if got, ok := v.Property(p); ok {
			t.Errorf("zero view has %q = %v", p, got)
		}
	}
	if a, m := Evaluate(Defaults("@a:x", "a"), v, Context{UserID: "@a:x"}); a != nil || m != nil {
		t.Errorf("zero view matched %v", m)
	}
}

// TestCheckValue checks the JSON grammar against encoding/json's.
func TestCheckValue(t *testing.T) {
	inputs := append([]string{}, trickyContents...)
	inputs = append(inputs, eventJSONs()...)
	for _, in := range inputs {
		checkGrammar(t, in)
	}
}

// checkGrammar checks that checkValue accepts in, with surrounding
// whitespace, exactly when json.Valid does, and that indexObject agrees
// with checkValue on objects.
func checkGrammar(t *testing.T, in string) {
	t.Helper()
	start := skipSpace(in, 0)
	end, ok := checkValue(in, start, 0)
	got := ok && skipSpace(in, end) == len(in)
	if want := json.Valid([]byte(in)); got != want {
		t.Errorf("checkValue(%.80q) ok=%v end=%d: valid %v, json.Valid %v", in, ok, end, got, want)
	}
	if start < len(in) && in[start] == '{' {
		if _, iend, iok := indexObject(in, start, nil); iok != ok || ok && iend != end {
			t.Errorf("indexObject(%.80q) = %d, %v; checkValue %d, %v", in, iend, iok, end, ok)
		}
	}
}

func FuzzCheckValue(f *testing.F) {
	for _, c := range trickyContents {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, in string) { checkGrammar(t, in) })
}

// FuzzEventViewOf checks NewEventViewOf against the reference on any
// content, on the paths of viewPaths and on paths to the content's own
// keys.
func FuzzEventViewOf(f *testing.F) {
	for _, c := range trickyContents {
		if len(c) < 1000 {
			f.Add(c)
		}
	}
	rulesets := []Ruleset{Defaults("@alice:example.org", "alice")}
	compiled := compileAll(rulesets)
	f.Fuzz(func(t *testing.T, content string) {
		fl := Fields{Type: "m.room.message", Sender: "@bob:x", Content: json.RawMessage(content)}
		got, err := NewEventViewOf(fl)
		want, wantErr := refEventViewOf(fl)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("NewEventViewOf(%q) error %v, want %v", content, err, wantErr)
		}
		if err != nil {
			return
		}
		compareViews(t, fmt.Sprintf("%q", content), got, want, rulesets, compiled)
		// Every key of the content, one and two levels down.
		c, _ := want["content"].(map[string]any)
		for k, v := range c {
			p := "content." + escapeKey(k)
			paths := []string{p}
			if inner, ok := v.(map[string]any); ok {
				for k2 := range inner {
					paths = append(paths, p+"."+escapeKey(k2))
				}
			}
			for _, p := range paths {
				gv, gok := got.Property(p)
				wv, wok := refLookup(want, cachedPath(p))
				if gok != wok || !reflect.DeepEqual(gv, wv) {
					t.Errorf("%q: Property(%q) = %#v, %v; want %#v, %v", content, p, gv, gok, wv, wok)
				}
			}
		}
	})
}

// FuzzEventView checks NewEventView against the reference on any text.
func FuzzEventView(f *testing.F) {
	for _, ev := range eventJSONs() {
		if len(ev) < 1000 {
			f.Add(ev)
		}
	}
	rulesets := []Ruleset{Defaults("@alice:example.org", "alice")}
	compiled := compileAll(rulesets)
	f.Fuzz(func(t *testing.T, ev string) {
		got, err := NewEventView([]byte(ev))
		want, wantErr := refEventView([]byte(ev))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("NewEventView(%q) error %v, want %v", ev, err, wantErr)
		}
		if err == nil {
			compareViews(t, fmt.Sprintf("%q", ev), got, want, rulesets, compiled)
		}
	})
}

// escapeKey escapes a property name for a dot-separated path.
func escapeKey(k string) string {
	return strings.NewReplacer(`\`, `\\`, `.`, `\.`).Replace(k)
}

// TestGlobLiteralMatchesAutomaton checks the byte comparison of ASCII
// literal patterns against the automaton.
func TestGlobLiteralMatchesAutomaton(t *testing.T) {
	patterns := []string{"", "a", "alice", "ALICE", "@room", "u20", "m.room.message", "m.text", "k", "s", "kiss",
		"Alice Liddell", "x-", "-x", "_", "a b", "!", "a_b", "1", "é", "a*", "a?"}
	values := []string{"", "a", "A", "alice", "Alice!", "malice", "alice_", "_alice", "hi alice.", "x@room", "@roomy",
		"@room", "m.room.message", "M.ROOM.MESSAGE", "m.room.messages", "\u212a", "\u212aiss", "\u017f", "ki\u017f\u017f",
		"alice liddell", "ALICE  LIDDELL", "é", "É", "x-a", "a-x", "a b", "ab", "u20:", "@u20:a.test", "1 2", "a\xffb", "alice\xff"}
	for _, p := range patterns {
		for _, wildcards := range []bool{true, false} {
			g, ref := compile(p, wildcards), refGlob(p, wildcards)
			for _, v := range values {
				if got, want := g.match(v), ref.match(v); got != want {
					t.Errorf("match(%q, %q) wildcards=%v = %v, automaton %v", p, v, wildcards, got, want)
				}
				if got, want := g.matchWords(v), ref.matchWords(v); got != want {
					t.Errorf("matchWords(%q, %q) wildcards=%v = %v, automaton %v", p, v, wildcards, got, want)
				}
			}
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("alice", "hi Alice!")
	f.Add("k", "\u212a")
	f.Add("a*b?", "xx aXbc yy")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		for _, wildcards := range []bool{true, false} {
			g, ref := compile(pattern, wildcards), refGlob(pattern, wildcards)
			if got, want := g.match(value), ref.match(value); got != want {
				t.Errorf("match(%q, %q) = %v, automaton %v", pattern, value, got, want)
			}
			if got, want := g.matchWords(value), ref.matchWords(value); got != want {
				t.Errorf("matchWords(%q, %q) = %v, automaton %v", pattern, value, got, want)
			}
		}
	})
}

// TestCompiledIsACopy checks that a compiled ruleset does not change with
// the ruleset it was compiled from, and that its results stay the same
// for every event that the same rule decides.
func TestCompiledIsACopy(t *testing.T) {
	rs := Defaults("@alice:x", "alice")
	c := Compile(rs)
	ev, err := NewEventView([]byte(`{"type":"m.room.message","sender":"@bob:x","content":{"body":"hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	before, m := c.Evaluate(ev, Context{UserID: "@alice:x", MemberCount: 5})
	if m == nil || m.Rule.RuleID != RuleMessage {
		t.Fatalf("matched %+v", m)
	}
	want := slices.Clone(before)
	for _, k := range Kinds() {
		for i := range *rs.Global.list(k) {
			r := &(*rs.Global.list(k))[i]
			r.Enabled = false
			for j := range r.Actions {
				r.Actions[j] = SetTweak("x", nil)
			}
			for j := range r.Conditions {
				r.Conditions[j].Kind = "changed"
			}
		}
	}
	after, m2 := c.Evaluate(ev, Context{UserID: "@alice:x", MemberCount: 5})
	if !reflect.DeepEqual(after, want) || m2 != m || m2.Rule.RuleID != RuleMessage || m2.Rule.Conditions[0].Kind != CondEventMatch {
		t.Errorf("after editing the ruleset: %v %+v, want %v", after, m2, want)
	}
}

// TestCompiledConcurrent evaluates with one compiled ruleset and one view
// from several goroutines, for the race detector.
func TestCompiledConcurrent(t *testing.T) {
	c := Compile(Defaults("@alice:x", "alice"))
	ev, err := NewEventViewOf(Fields{Type: "m.room.message", Sender: "@bob:x",
		Content: json.RawMessage(`{"body":"hi alice","m.relates_to":{"rel_type":"m.thread","event_id":"$r"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if a, m := c.Evaluate(ev, Context{UserID: "@alice:x", MemberCount: 5}); !Highlights(a) || m.Rule.RuleID != RuleContainsUserName {
					t.Errorf("matched %+v", m)
					return
				}
				if rel, _ := ev.Property(`content.m\.relates_to.rel_type`); rel != "m.thread" {
					t.Errorf("rel_type %v", rel)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestHighlightsMatchesTweaks checks Highlights against the tweaks
// dictionary it stands for.
func TestHighlightsMatchesTweaks(t *testing.T) {
	for _, actions := range []string{
		`[]`, `["notify"]`, `[{"set_tweak":"highlight"}]`, `[{"set_tweak":"highlight","value":true}]`,
		`[{"set_tweak":"highlight","value":false}]`, `[{"set_tweak":"highlight","value":"true"}]`,
		`[{"set_tweak":"highlight","value":true},{"set_tweak":"highlight","value":false}]`,
		`[{"set_tweak":"highlight","value":false},{"set_tweak":"highlight"}]`,
		`[{"set_tweak":"highlight","value": true }]`, `[{"set_tweak":"sound","value":"default"}]`,
		`[{"set_tweak":"highlight","value":1}]`, `[{"x":"highlight"}]`,
	} {
		var a []Action
		if err := json.Unmarshal([]byte(actions), &a); err != nil {
			t.Fatal(err)
		}
		v, ok := Tweaks(a)[TweakHighlight]
		if want := ok && bytes.Equal(v, []byte("true")); Highlights(a) != want {
			t.Errorf("Highlights(%s) = %v, want %v", actions, !want, want)
		}
	}
}
