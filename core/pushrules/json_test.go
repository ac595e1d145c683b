package pushrules

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

func TestSpecExampleRoundTrip(t *testing.T) {
	raw, err := os.ReadFile("testdata/spec_v1.12_m.push_rules_example.json")
	if err != nil {
		t.Fatal(err)
	}
	var rs Ruleset
	if err := json.Unmarshal(raw, &rs); err != nil {
		t.Fatal(err)
	}
	if n := len(rs.Global.Underride); n != 6 {
		t.Fatalf("decoded %d underride rules, want 6", n)
	}
	got, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	want := decodeAny(t, raw).(map[string]any)
	delete(want, "source")
	if g := decodeAny(t, got); !reflect.DeepEqual(g, want) {
		t.Errorf("round trip changed the spec example\n got %s\nwant %s", got, raw)
	}
}

func TestEmptyRulesetJSON(t *testing.T) {
	got, err := json.Marshal(Ruleset{})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"global":{"override":[],"content":[],"room":[],"sender":[],"underride":[]}}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got, _ = json.Marshal(Rule{RuleID: "x"})
	if string(got) != `{"rule_id":"x","default":false,"enabled":false,"actions":[]}` {
		t.Errorf("rule without actions: %s", got)
	}
}

func TestConditionJSON(t *testing.T) {
	for _, in := range []string{
		`{"kind":"event_match","key":"state_key","pattern":""}`,
		`{"kind":"event_property_is","key":"content.x","value":null}`,
		`{"kind":"event_property_contains","key":"content.x","value":-5}`,
		`{"kind":"room_member_count","is":">=3"}`,
		`{"kind":"sender_notification_permission","key":"room"}`,
		`{"kind":"contains_display_name"}`,
	} {
		var c Condition
		if err := json.Unmarshal([]byte(in), &c); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got, _ := json.Marshal(c); !reflect.DeepEqual(decodeAny(t, got), decodeAny(t, []byte(in))) {
			t.Errorf("round trip of %s gave %s", in, got)
		}
	}
}

func TestActionJSON(t *testing.T) {
	tests := []struct{ in, out string }{
		{`"notify"`, `"notify"`},
		{`"org.example.action"`, `"org.example.action"`},
		{`{"set_tweak":"sound","value":"default"}`, `{"set_tweak":"sound","value":"default"}`},
		{`{"set_tweak":"highlight"}`, `{"set_tweak":"highlight"}`},
		{`{"set_tweak":"highlight","value":false}`, `{"set_tweak":"highlight","value":false}`},
		{`{"value":{"a":[1]},"set_tweak":"custom"}`, `{"set_tweak":"custom","value":{"a":[1]}}`},
		{`{"set_tweak":"x","extra":1}`, `{"set_tweak":"x"}`},
		{`{"org.example.future":{"k":1}}`, `{"org.example.future":{"k":1}}`},
	}
	for _, tc := range tests {
		var a Action
		if err := json.Unmarshal([]byte(tc.in), &a); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got, _ := json.Marshal(a); string(got) != tc.out {
			t.Errorf("%s encoded as %s, want %s", tc.in, got, tc.out)
		}
	}
	for _, in := range []string{`1`, `null`, `true`, `["notify"]`, `{"set_tweak":1}`, `{"set_tweak":null}`} {
		var a Action
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("%s decoded without error as %+v", in, a)
		}
	}
}

func TestActionHelpers(t *testing.T) {
	decode := func(s string) []Action {
		var a []Action
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		actions           string
		notify, highlight bool
		tweaks            string
	}{
		{`[]`, false, false, `{}`},
		{`["notify"]`, true, false, `{}`},
		{`["notify",{"set_tweak":"highlight"}]`, true, true, `{"highlight":true}`},
		{`[{"set_tweak":"highlight","value":true}]`, false, true, `{"highlight":true}`},
		{`["notify",{"set_tweak":"highlight","value":false},{"set_tweak":"sound","value":"ring"}]`, true, false, `{"highlight":false,"sound":"ring"}`},
		{`[{"set_tweak":"highlight"},{"set_tweak":"highlight","value":false}]`, false, false, `{"highlight":false}`},
		{`[{"notify":1},"dont_notify"]`, false, false, `{}`},
	}
	for _, tc := range tests {
		a := decode(tc.actions)
		if got := Notifies(a); got != tc.notify {
			t.Errorf("Notifies(%s) = %v", tc.actions, got)
		}
		if got := Highlights(a); got != tc.highlight {
			t.Errorf("Highlights(%s) = %v", tc.actions, got)
		}
		if got, _ := json.Marshal(Tweaks(a)); string(got) != tc.tweaks {
			t.Errorf("Tweaks(%s) = %s, want %s", tc.actions, got, tc.tweaks)
		}
	}
	if got, _ := json.Marshal(stripHistorical(decode(`["dont_notify","coalesce"]`))); string(got) != `[]` {
		t.Errorf("historical actions kept: %s", got)
	}
}
