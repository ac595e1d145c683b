package pushrules

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// Placeholders exactly as the spec writes them, so that Defaults filled with
// them must reproduce the spec's JSON byte for byte after decoding.
const (
	specUserID    = "[the user's Matrix ID]"
	specLocalpart = "[the local part of the user's Matrix ID]"
)

// decodeAny decodes JSON into generic values for order-insensitive comparison.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestDefaultsMatchSpec(t *testing.T) {
	raw, err := os.ReadFile("testdata/spec_v1.12_predefined_rules.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(Defaults(specUserID, specLocalpart))
	if err != nil {
		t.Fatal(err)
	}
	var gotKinds struct {
		Global map[string]json.RawMessage `json:"global"`
	}
	if err := json.Unmarshal(got, &gotKinds); err != nil {
		t.Fatal(err)
	}
	if len(gotKinds.Global) != 5 {
		t.Errorf("global has %d kinds, want 5: %s", len(gotKinds.Global), got)
	}
	for _, k := range Kinds() {
		want := spec[string(k)]
		if want == nil {
			want = json.RawMessage(`[]`)
		}
		g, w := decodeAny(t, gotKinds.Global[string(k)]), decodeAny(t, want)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s rules differ from the spec\n got: %s\nwant: %s", k, gotKinds.Global[string(k)], want)
		}
	}
}

func TestDefaultsFreshEachCall(t *testing.T) {
	a := Defaults("@a:x", "a")
	a.Global.Override[0].Enabled = true
	a.Global.Underride[0].Actions[0] = SetTweak("x", nil)
	b := Defaults("@a:x", "a")
	if b.Global.Override[0].Enabled || b.Global.Underride[0].Actions[0].Name != ActionNotify {
		t.Error("editing one Defaults result changed another")
	}
}

func TestEveryDefaultRuleTriggers(t *testing.T) {
	const user = "@alice:example.org"
	base := Context{UserID: user, DisplayName: "Alice Liddell", MemberCount: 5, SenderPowerLevel: 0}
	with := func(f func(*Context)) Context { c := base; f(&c); return c }
	masterOn := func(rs *Ruleset) {
		if err := rs.SetEnabled(KindOverride, RuleMaster, true); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		rule  string
		event string
		ctx   Context
		edit  func(*Ruleset)
	}{
		{RuleMaster, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hi"}}`, base, masterOn},
		{RuleSuppressNotices, `{"type":"m.room.message","sender":"@bot:x","content":{"msgtype":"m.notice","body":"alice"}}`, base, nil},
		{RuleInviteForMe, `{"type":"m.room.member","sender":"@bob:x","state_key":"@alice:example.org","content":{"membership":"invite"}}`, base, nil},
		{RuleMemberEvent, `{"type":"m.room.member","sender":"@bob:x","state_key":"@bob:x","content":{"membership":"join"}}`, base, nil},
		{RuleIsUserMention, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hey","m.mentions":{"user_ids":["@carol:x","@alice:example.org"]}}}`, base, nil},
		{RuleContainsDisplayName, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hello alice liddell!"}}`, base, nil},
		{RuleIsRoomMention, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"all","m.mentions":{"room":true}}}`,
			with(func(c *Context) { c.SenderPowerLevel = 50 }), nil},
		{RuleRoomNotif, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"Everyone: @room, look"}}`,
			with(func(c *Context) { c.SenderPowerLevel = 100 }), nil},
		{RuleTombstone, `{"type":"m.room.tombstone","sender":"@bob:x","state_key":"","content":{"replacement_room":"!n:x"}}`, base, nil},
		{RuleReaction, `{"type":"m.reaction","sender":"@bob:x","content":{"m.relates_to":{"rel_type":"m.annotation","key":"👍"}}}`, base, nil},
		{RuleServerACL, `{"type":"m.room.server_acl","sender":"@bob:x","state_key":"","content":{"allow":["*"]}}`, base, nil},
		{RuleSuppressEdits, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"* fixed","m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}}`, base, nil},
		{RuleContainsUserName, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"ping ALICE: lunch?"}}`, base, nil},
		{RuleCall, `{"type":"m.call.invite","sender":"@bob:x","content":{"call_id":"c"}}`, base, nil},
		{RuleEncryptedOneToOne, `{"type":"m.room.encrypted","sender":"@bob:x","content":{"algorithm":"m.megolm.v1.aes-sha2"}}`,
			with(func(c *Context) { c.MemberCount = 2 }), nil},
		{RuleRoomOneToOne, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hi"}}`,
			with(func(c *Context) { c.MemberCount = 2 }), nil},
		{RuleMessage, `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hi"}}`, base, nil},
		{RuleEncrypted, `{"type":"m.room.encrypted","sender":"@bob:x","content":{}}`, base, nil},
	}
	seen := make(map[string]bool)
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			rs := Defaults(user, "alice")
			if tc.edit != nil {
				tc.edit(&rs)
			}
			ev, err := NewEventView([]byte(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			actions, m := Evaluate(rs, ev, tc.ctx)
			if m == nil {
				t.Fatalf("no rule matched %s", tc.event)
			}
			if m.Rule.RuleID != tc.rule {
				t.Fatalf("matched %s/%s, want %s", m.Kind, m.Rule.RuleID, tc.rule)
			}
			want, err := rs.Rule(m.Kind, tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(actions, want.Actions) {
				t.Errorf("actions %v, want the rule's %v", actions, want.Actions)
			}
			seen[tc.rule] = true
		})
	}
	all := Defaults(user, "alice")
	for _, k := range Kinds() {
		for _, r := range *all.Global.list(k) {
			if !seen[r.RuleID] {
				t.Errorf("no test triggers default rule %s", r.RuleID)
			}
		}
	}
}

func TestEvaluateNoMatch(t *testing.T) {
	const user = "@alice:example.org"
	base := Context{UserID: user, DisplayName: "Alice", MemberCount: 5}
	tests := []struct {
		name  string
		event string
		ctx   Context
		want  string // rule that matches instead, "" for none
	}{
		{"own event", `{"type":"m.room.message","sender":"@alice:example.org","content":{"body":"alice"}}`, base, ""},
		{"unknown type", `{"type":"org.example.custom","sender":"@bob:x","content":{}}`, base, ""},
		{"tombstone without state_key", `{"type":"m.room.tombstone","sender":"@bob:x","content":{}}`, base, ""},
		{"server_acl with state_key", `{"type":"m.room.server_acl","sender":"@bob:x","state_key":"x","content":{}}`, base, ""},
		{"invite for someone else", `{"type":"m.room.member","sender":"@bob:x","state_key":"@carol:x","content":{"membership":"invite"}}`, base, RuleMemberEvent},
		{"room mention without power", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"x","m.mentions":{"room":true}}}`, base, RuleMessage},
		{"@room without power", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"@room"}}`, base, RuleMessage},
		{"display name with m.mentions", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"alice","m.mentions":{}}}`, base, RuleMessage},
		{"@room with m.mentions", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"@room","m.mentions":{}}}`,
			Context{UserID: user, SenderPowerLevel: 100, MemberCount: 5}, RuleMessage},
		{"localpart inside a word", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"malice"}}`,
			Context{UserID: user, MemberCount: 5}, RuleMessage},
		{"mention of someone else", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"x","m.mentions":{"user_ids":["@carol:x"]}}}`, base, RuleMessage},
		{"edit of another type", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"x","m.relates_to":{"rel_type":"m.thread"}}}`, base, RuleMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := NewEventView([]byte(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			actions, m := Evaluate(Defaults(user, "alice"), ev, tc.ctx)
			switch {
			case tc.want == "" && m != nil:
				t.Errorf("matched %s, want no match", m.Rule.RuleID)
			case tc.want == "" && actions != nil:
				t.Errorf("actions %v without a match", actions)
			case tc.want != "" && (m == nil || m.Rule.RuleID != tc.want):
				t.Errorf("matched %+v, want %s", m, tc.want)
			}
		})
	}
}

func TestDisabledRuleSkipped(t *testing.T) {
	rs := Defaults("@alice:x", "alice")
	if err := rs.SetEnabled(KindUnderride, RuleMessage, false); err != nil {
		t.Fatal(err)
	}
	ev, _ := NewEventView([]byte(`{"type":"m.room.message","sender":"@bob:x","content":{"body":"hi"}}`))
	if _, m := Evaluate(rs, ev, Context{UserID: "@alice:x", MemberCount: 3}); m != nil {
		t.Errorf("disabled rule matched: %s", m.Rule.RuleID)
	}
}

func TestUpgrade(t *testing.T) {
	stored := Defaults("@a:x", "a")
	stored.Global.Override = stored.Global.Override[:len(stored.Global.Override)-1] // an older server lacked suppress_edits
	stored.Global.Override[0].Enabled = true
	stored.Global.Underride = append(stored.Global.Underride, Rule{RuleID: ".m.rule.retired", Default: true, Enabled: true, Conditions: []Condition{}})
	if err := stored.SetActions(KindUnderride, RuleMessage, []Action{{Name: "dont_notify"}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"second", "first"} {
		if err := stored.Put(KindOverride, id, RuleBody{Actions: []Action{}}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := stored.Put(KindRoom, "!r:x", RuleBody{Actions: []Action{}}, "", ""); err != nil {
		t.Fatal(err)
	}

	got := Upgrade(stored, "@a:x", "a")
	want := Defaults("@a:x", "a")
	want.Global.Override[0].Enabled = true
	want.Global.Underride[3].Actions = []Action{}
	if err := want.Put(KindOverride, "second", RuleBody{Actions: []Action{}}, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := want.Put(KindOverride, "first", RuleBody{Actions: []Action{}}, "", ""); err != nil {
		t.Fatal(err)
	}
	want.Global.Room = []Rule{{RuleID: "!r:x", Enabled: true, Actions: []Action{}}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("Upgrade:\n got %s\nwant %s", gj, wj)
	}
}
