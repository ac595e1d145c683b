package pushrules

import (
	"encoding/json"
	"errors"
	"hearth/core/matrixerr"
	"net/http"
	"strings"
	"testing"
)

// wantErr checks that err is a matrixerr.Error with the given status and errcode.
func wantErr(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var e matrixerr.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: error %v, want %d %s", what, err, status, code)
		return
	}
	if e.Status != status || e.Code != code {
		t.Errorf("%s: got %d %s (%s), want %d %s", what, e.Status, e.Code, e.Message, status, code)
	}
}

// ids lists the rule IDs of kind k in order.
func ids(rs *Ruleset, k Kind) string {
	var s []string
	for _, r := range *rs.Global.list(k) {
		s = append(s, r.RuleID)
	}
	return strings.Join(s, " ")
}

func TestPutErrors(t *testing.T) {
	pattern, empty := "x", ""
	ok := RuleBody{Actions: []Action{Notify()}}
	tests := []struct {
		name          string
		kind          Kind
		id            string
		body          RuleBody
		before, after string
		status        int
		code          string
	}{
		{"unknown kind", "global", "a", ok, "", "", 400, matrixerr.CodeInvalidParam},
		{"dot id", KindOverride, ".m.rule.master", ok, "", "", 400, matrixerr.CodeInvalidParam},
		{"dot id content", KindContent, ".mine", RuleBody{Actions: []Action{}, Pattern: &pattern}, "", "", 400, matrixerr.CodeInvalidParam},
		{"empty id", KindOverride, "", ok, "", "", 400, matrixerr.CodeInvalidParam},
		{"slash id", KindOverride, "a/b", ok, "", "", 400, matrixerr.CodeInvalidParam},
		{"backslash id", KindOverride, `a\b`, ok, "", "", 400, matrixerr.CodeInvalidParam},
		{"room id not a room", KindRoom, "@u:x", ok, "", "", 400, matrixerr.CodeInvalidParam},
		{"sender id not a user", KindSender, "!r:x", ok, "", "", 400, matrixerr.CodeInvalidParam},
		{"no actions", KindOverride, "a", RuleBody{}, "", "", 400, matrixerr.CodeMissingParam},
		{"empty action", KindOverride, "a", RuleBody{Actions: []Action{{}}}, "", "", 400, matrixerr.CodeInvalidParam},
		{"tweak without name", KindOverride, "a", RuleBody{Actions: []Action{SetTweak("", nil)}}, "", "", 400, matrixerr.CodeInvalidParam},
		{"content without pattern", KindContent, "a", ok, "", "", 400, matrixerr.CodeMissingParam},
		{"content with empty pattern", KindContent, "a", RuleBody{Actions: []Action{}, Pattern: &empty}, "", "", 400, matrixerr.CodeMissingParam},
		{"condition without kind", KindOverride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Key: "type"}}}, "", "", 400, matrixerr.CodeMissingParam},
		{"event_match without pattern", KindOverride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: CondEventMatch, Key: "type"}}}, "", "", 400, matrixerr.CodeMissingParam},
		{"event_match without key", KindUnderride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: CondEventMatch, Pattern: &pattern}}}, "", "", 400, matrixerr.CodeMissingParam},
		{"property_is without value", KindOverride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: CondEventPropertyIs, Key: "k"}}}, "", "", 400, matrixerr.CodeMissingParam},
		{"property_is compound value", KindOverride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: CondEventPropertyIs, Key: "k", Value: json.RawMessage(`[1]`)}}}, "", "", 400, matrixerr.CodeInvalidParam},
		{"property_contains float", KindOverride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: CondEventPropertyContains, Key: "k", Value: json.RawMessage(`1.5`)}}}, "", "", 400, matrixerr.CodeInvalidParam},
		{"member count bad", KindOverride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: CondRoomMemberCount, Is: "=<2"}}}, "", "", 400, matrixerr.CodeInvalidParam},
		{"permission without key", KindOverride, "a", RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: CondSenderNotificationPermission}}}, "", "", 400, matrixerr.CodeMissingParam},
		{"unknown before", KindOverride, "a", ok, "nope", "", 400, matrixerr.CodeUnknown},
		{"unknown after", KindOverride, "a", ok, "", "nope", 400, matrixerr.CodeUnknown},
		{"before itself", KindOverride, "mine", ok, "mine", "", 400, matrixerr.CodeUnknown},
		{"before other kind", KindUnderride, "a", ok, "mine", "", 400, matrixerr.CodeUnknown},
		{"before default", KindOverride, "a", ok, RuleMaster, "", 400, matrixerr.CodeInvalidParam},
		{"after default", KindUnderride, "a", ok, "", RuleMessage, 400, matrixerr.CodeInvalidParam},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := Defaults("@a:x", "a")
			if err := rs.Put(KindOverride, "mine", ok, "", ""); err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(rs)
			err := rs.Put(tc.kind, tc.id, tc.body, tc.before, tc.after)
			wantErr(t, "Put", err, tc.status, tc.code)
			if after, _ := json.Marshal(rs); string(after) != string(before) {
				t.Error("a failed Put changed the ruleset")
			}
		})
	}
}

func TestPutUnknownConditionKindAccepted(t *testing.T) {
	rs := Defaults("@a:x", "a")
	body := RuleBody{Actions: []Action{}, Conditions: []Condition{{Kind: "org.example.future", Key: "k"}}}
	if err := rs.Put(KindOverride, "f", body, "", ""); err != nil {
		t.Fatal(err)
	}
}

func TestPutPositions(t *testing.T) {
	rs := Defaults("@a:x", "a")
	put := func(k Kind, id, before, after string) {
		t.Helper()
		b := RuleBody{Actions: []Action{Notify()}, Conditions: []Condition{EventMatch("type", id)}}
		if err := rs.Put(k, id, b, before, after); err != nil {
			t.Fatalf("Put %s before=%q after=%q: %v", id, before, after, err)
		}
	}
	put(KindOverride, "one", "", "")
	put(KindOverride, "two", "", "") // newest is most important
	put(KindOverride, "three", "", "two")
	put(KindOverride, "zero", "two", "")
	put(KindOverride, "four", "", "one")
	put(KindOverride, "five", "one", "zero") // before wins
	want := ".m.rule.master zero two three five one four .m.rule.suppress_notices"
	if got := ids(&rs, KindOverride); !strings.HasPrefix(got, want) {
		t.Errorf("override order %q, want prefix %q", got, want)
	}

	// Replacing keeps place and enabled flag; before/after moves.
	if err := rs.SetEnabled(KindOverride, "three", false); err != nil {
		t.Fatal(err)
	}
	put(KindOverride, "three", "", "")
	r, err := rs.Rule(KindOverride, "three")
	if err != nil {
		t.Fatal(err)
	}
	if r.Enabled || r.Default || r.Conditions[0].Pattern == nil || *r.Conditions[0].Pattern != "three" {
		t.Errorf("replaced rule = %+v", r)
	}
	put(KindOverride, "three", "", "four")
	want = ".m.rule.master zero two five one four three .m.rule.suppress_notices"
	if got := ids(&rs, KindOverride); !strings.HasPrefix(got, want) {
		t.Errorf("after move %q, want prefix %q", got, want)
	}

	// User content and underride rules go before the defaults.
	pattern := "cake"
	if err := rs.Put(KindContent, "cake", RuleBody{Actions: []Action{}, Pattern: &pattern}, "", ""); err != nil {
		t.Fatal(err)
	}
	if got := ids(&rs, KindContent); got != "cake "+RuleContainsUserName {
		t.Errorf("content order %q", got)
	}
	put(KindUnderride, "u", "", "")
	if got := ids(&rs, KindUnderride); !strings.HasPrefix(got, "u "+RuleCall) {
		t.Errorf("underride order %q", got)
	}
}

func TestPutShapesByKind(t *testing.T) {
	rs := Defaults("@a:x", "a")
	p := "pat"
	body := RuleBody{Actions: []Action{Notify(), {Name: "coalesce"}}, Conditions: []Condition{EventMatch("type", "x")}, Pattern: &p}
	for _, k := range Kinds() {
		id := map[Kind]string{KindRoom: "!r:x", KindSender: "@s:x"}[k]
		if id == "" {
			id = "r"
		}
		if err := rs.Put(k, id, body, "", ""); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		r, err := rs.Rule(k, id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(r)
		want := map[Kind]string{
			KindOverride:  `{"rule_id":"r","default":false,"enabled":true,"conditions":[{"kind":"event_match","key":"type","pattern":"x"}],"actions":["notify"]}`,
			KindUnderride: `{"rule_id":"r","default":false,"enabled":true,"conditions":[{"kind":"event_match","key":"type","pattern":"x"}],"actions":["notify"]}`,
			KindContent:   `{"rule_id":"r","default":false,"enabled":true,"actions":["notify"],"pattern":"pat"}`,
			KindRoom:      `{"rule_id":"!r:x","default":false,"enabled":true,"actions":["notify"]}`,
			KindSender:    `{"rule_id":"@s:x","default":false,"enabled":true,"actions":["notify"]}`,
		}[k]
		if string(got) != want {
			t.Errorf("%s rule JSON\n got %s\nwant %s", k, got, want)
		}
	}
	// An override rule without conditions always matches and says so with [].
	if err := rs.Put(KindOverride, "all", RuleBody{Actions: []Action{}}, "", ""); err != nil {
		t.Fatal(err)
	}
	r, _ := rs.Rule(KindOverride, "all")
	if got, _ := json.Marshal(r); !strings.Contains(string(got), `"conditions":[]`) {
		t.Errorf("override without conditions: %s", got)
	}
}

func TestRuleDeleteEnableActions(t *testing.T) {
	rs := Defaults("@a:x", "a")
	if err := rs.Put(KindSender, "@s:x", RuleBody{Actions: []Action{}}, "", ""); err != nil {
		t.Fatal(err)
	}
	snapshot := rs // a copy taken before the edits below must not change
	snapJSON, _ := json.Marshal(snapshot)

	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"get missing", func() error { _, err := rs.Rule(KindSender, "@t:x"); return err }(), http.StatusNotFound, matrixerr.CodeNotFound},
		{"get wrong kind", func() error { _, err := rs.Rule(KindRoom, "@s:x"); return err }(), http.StatusNotFound, matrixerr.CodeNotFound},
		{"get bad kind", func() error { _, err := rs.Rule("bogus", "@s:x"); return err }(), 400, matrixerr.CodeInvalidParam},
		{"delete missing", rs.Delete(KindOverride, "nope"), http.StatusNotFound, matrixerr.CodeNotFound},
		{"delete default", rs.Delete(KindOverride, RuleMaster), 400, matrixerr.CodeInvalidParam},
		{"delete default content", rs.Delete(KindContent, RuleContainsUserName), 400, matrixerr.CodeInvalidParam},
		{"delete bad kind", rs.Delete("bogus", "x"), 400, matrixerr.CodeInvalidParam},
		{"enable missing", rs.SetEnabled(KindUnderride, "nope", true), http.StatusNotFound, matrixerr.CodeNotFound},
		{"enable bad kind", rs.SetEnabled("", RuleMaster, true), 400, matrixerr.CodeInvalidParam},
		{"actions missing rule", rs.SetActions(KindRoom, "!nope:x", []Action{}), http.StatusNotFound, matrixerr.CodeNotFound},
		{"actions nil", rs.SetActions(KindOverride, RuleMaster, nil), 400, matrixerr.CodeMissingParam},
		{"actions invalid", rs.SetActions(KindOverride, RuleMaster, []Action{{Name: ""}}), 400, matrixerr.CodeInvalidParam},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.err, tc.status, tc.code)
	}

	if err := rs.SetEnabled(KindOverride, RuleMaster, true); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetActions(KindUnderride, RuleMessage, []Action{Notify(), {Name: "dont_notify"}, SetTweak(TweakHighlight, json.RawMessage(`false`))}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Delete(KindSender, "@s:x"); err != nil {
		t.Fatal(err)
	}
	if r, _ := rs.Rule(KindOverride, RuleMaster); !r.Enabled {
		t.Error("master not enabled")
	}
	r, _ := rs.Rule(KindUnderride, RuleMessage)
	if got, _ := json.Marshal(r.Actions); string(got) != `["notify",{"set_tweak":"highlight","value":false}]` {
		t.Errorf("actions %s", got)
	}
	if _, err := rs.Rule(KindSender, "@s:x"); err == nil {
		t.Error("deleted rule still there")
	}
	if got, _ := json.Marshal(snapshot); string(got) != string(snapJSON) {
		t.Error("edits changed a copy of the ruleset taken before them")
	}
	// Rule returns a copy.
	r.Actions[0] = SetTweak("x", nil)
	if again, _ := rs.Rule(KindUnderride, RuleMessage); again.Actions[0].Name != ActionNotify {
		t.Error("editing a returned rule changed the ruleset")
	}
}

func TestDecodeBodies(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		in     string
		status int
		code   string
	}{
		{"rule not json", func(b []byte) error { _, err := DecodeRuleBody(b); return err }, `{"actions":`, 400, matrixerr.CodeNotJSON},
		{"rule not object", func(b []byte) error { _, err := DecodeRuleBody(b); return err }, `["notify"]`, 400, matrixerr.CodeBadJSON},
		{"rule actions not array", func(b []byte) error { _, err := DecodeRuleBody(b); return err }, `{"actions":"notify"}`, 400, matrixerr.CodeBadJSON},
		{"rule action number", func(b []byte) error { _, err := DecodeRuleBody(b); return err }, `{"actions":[1]}`, 400, matrixerr.CodeBadJSON},
		{"rule set_tweak number", func(b []byte) error { _, err := DecodeRuleBody(b); return err }, `{"actions":[{"set_tweak":1}]}`, 400, matrixerr.CodeBadJSON},
		{"rule pattern number", func(b []byte) error { _, err := DecodeRuleBody(b); return err }, `{"actions":[],"pattern":1}`, 400, matrixerr.CodeBadJSON},
		{"rule conditions object", func(b []byte) error { _, err := DecodeRuleBody(b); return err }, `{"actions":[],"conditions":{}}`, 400, matrixerr.CodeBadJSON},
		{"enabled missing", func(b []byte) error { _, err := DecodeEnabledBody(b); return err }, `{}`, 400, matrixerr.CodeMissingParam},
		{"enabled string", func(b []byte) error { _, err := DecodeEnabledBody(b); return err }, `{"enabled":"true"}`, 400, matrixerr.CodeBadJSON},
		{"enabled empty body", func(b []byte) error { _, err := DecodeEnabledBody(b); return err }, ``, 400, matrixerr.CodeNotJSON},
		{"actions missing", func(b []byte) error { _, err := DecodeActionsBody(b); return err }, `{"actions":null}`, 400, matrixerr.CodeMissingParam},
		{"actions not json", func(b []byte) error { _, err := DecodeActionsBody(b); return err }, `nope`, 400, matrixerr.CodeNotJSON},
		{"actions not object", func(b []byte) error { _, err := DecodeActionsBody(b); return err }, `null`, 400, matrixerr.CodeBadJSON},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.decode([]byte(tc.in)), tc.status, tc.code)
	}

	b, err := DecodeRuleBody([]byte(`{"pattern":"cake*lie","actions":["notify",{"set_tweak":"sound","value":"cakealarm.wav"}],"conditions":[{"kind":"room_member_count","is":"<=10"}]}`))
	if err != nil || b.Pattern == nil || *b.Pattern != "cake*lie" || len(b.Actions) != 2 || b.Conditions[0].Is != "<=10" {
		t.Errorf("DecodeRuleBody = %+v, %v", b, err)
	}
	if on, err := DecodeEnabledBody([]byte(`{"enabled":false}`)); err != nil || on {
		t.Errorf("DecodeEnabledBody = %v, %v", on, err)
	}
	if a, err := DecodeActionsBody([]byte(`{"actions":[]}`)); err != nil || a == nil || len(a) != 0 {
		t.Errorf("DecodeActionsBody = %v, %v", a, err)
	}
	var e matrixerr.Error
	_, err = DecodeRuleBody([]byte(`{"actions":"x"}`))
	if !errors.As(err, &e) || errors.Unwrap(err) == nil {
		t.Errorf("bad JSON error %v does not wrap its cause", err)
	}
}

func TestParseKindAndScope(t *testing.T) {
	for _, k := range Kinds() {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, s := range []string{"", "Override", "global", "device"} {
		_, err := ParseKind(s)
		wantErr(t, "ParseKind "+s, err, 400, matrixerr.CodeInvalidParam)
	}
	if err := CheckScope("global"); err != nil {
		t.Error(err)
	}
	wantErr(t, "CheckScope device", CheckScope("device"), 400, matrixerr.CodeInvalidParam)
}
