package userdata

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"hearth/core/notifications"
)

func TestGetPushRulesShape(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/pushrules/", "/pushrules"} {
		out := e.expect("bob", "GET", path, nil, 200, "")
		global, ok := out["global"].(map[string]any)
		if !ok || len(out) != 1 {
			t.Fatalf("%s: %v", path, out)
		}
		for _, kind := range []string{"override", "content", "room", "sender", "underride"} {
			list, ok := global[kind].([]any)
			if !ok {
				t.Fatalf("%s: %s is %T, want a list", path, kind, global[kind])
			}
			for _, r := range list {
				rule := r.(map[string]any)
				for _, key := range []string{"rule_id", "default", "enabled", "actions"} {
					if _, ok := rule[key]; !ok {
						t.Fatalf("%s: %s rule without %s: %v", path, kind, key, rule)
					}
				}
				if kind == "override" || kind == "underride" {
					if _, ok := rule["conditions"].([]any); !ok {
						t.Fatalf("%s rule without conditions: %v", kind, rule)
					}
				}
			}
		}
		content := global["content"].([]any)[0].(map[string]any)
		if content["rule_id"] != ".m.rule.contains_user_name" || content["pattern"] != "bob" {
			t.Fatalf("content rule %v", content)
		}
		master := global["override"].([]any)[0].(map[string]any)
		if master["rule_id"] != ".m.rule.master" || master["enabled"] != false || master["default"] != true {
			t.Fatalf("master rule %v", master)
		}
	}
	out := e.expect("bob", "GET", "/pushrules/global/", nil, 200, "")
	if _, ok := out["underride"].([]any); !ok {
		t.Fatalf("GET /pushrules/global/ %v", out)
	}
	e.expect("bob", "GET", "/pushrules/device/", nil, 400, "M_INVALID_PARAM")
	e.expect("", "GET", "/pushrules/", nil, 401, "M_MISSING_TOKEN")
}

func TestPushRuleEndpoints(t *testing.T) {
	e := newEnv(t)
	const rules = "/pushrules/global/"
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		errcode            string
	}{
		{"unknown rule", "GET", rules + "override/nope", nil, 404, "M_NOT_FOUND"},
		{"unknown kind", "GET", rules + "everything/x", nil, 400, "M_INVALID_PARAM"},
		{"unknown scope", "GET", "/pushrules/device/override/x", nil, 400, "M_INVALID_PARAM"},
		{"unknown rule enabled", "GET", rules + "content/nope/enabled", nil, 404, "M_NOT_FOUND"},
		{"unknown rule actions", "PUT", rules + "content/nope/actions", map[string]any{"actions": []any{}}, 404, "M_NOT_FOUND"},
		{"delete default", "DELETE", rules + "override/.m.rule.master", nil, 400, "M_INVALID_PARAM"},
		{"delete unknown", "DELETE", rules + "override/nope", nil, 404, "M_NOT_FOUND"},
		{"not json", "PUT", rules + "content/x", "{", 400, "M_NOT_JSON"},
		{"missing actions", "PUT", rules + "content/x", map[string]any{"pattern": "x"}, 400, "M_MISSING_PARAM"},
		{"content without pattern", "PUT", rules + "content/x", map[string]any{"actions": []any{"notify"}}, 400, "M_MISSING_PARAM"},
		{"default-looking ID", "PUT", rules + "content/.mine", map[string]any{"actions": []any{}, "pattern": "x"}, 400, "M_INVALID_PARAM"},
		{"before unknown", "PUT", rules + "content/x?before=nope", map[string]any{"actions": []any{}, "pattern": "x"}, 400, "M_UNKNOWN"},
		{"enabled missing", "PUT", rules + "override/.m.rule.master/enabled", map[string]any{}, 400, "M_MISSING_PARAM"},
		{"enabled not bool", "PUT", rules + "override/.m.rule.master/enabled", map[string]any{"enabled": "yes"}, 400, "M_BAD_JSON"},
		{"actions missing", "PUT", rules + "override/.m.rule.master/actions", map[string]any{}, 400, "M_MISSING_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.expect("bob", tc.method, tc.path, tc.body, tc.status, tc.errcode)
		})
	}
	e.t = t
	if g, _, _ := e.ad.Changes(context.Background(), bob, 0, e.ad.Position()); !bytes.Equal(g["m.push_rules"], notifications.AccountDataDefaults(bob)["m.push_rules"]) {
		t.Fatalf("refused edits stored rules: %s", g["m.push_rules"])
	}

	// Content rules in order: new rules go first; before and after place
	// them.
	e.expect("bob", "PUT", rules+"content/a", map[string]any{"actions": []any{"notify"}, "pattern": "apple"}, 200, "")
	e.expect("bob", "PUT", rules+"content/b", map[string]any{"actions": []any{"notify"}, "pattern": "banana"}, 200, "")
	e.expect("bob", "PUT", rules+"content/c?after=a", map[string]any{"actions": []any{"notify"}, "pattern": "cherry"}, 200, "")
	out := e.expect("bob", "GET", "/pushrules/", nil, 200, "")
	var ids []string
	for _, r := range out["global"].(map[string]any)["content"].([]any) {
		ids = append(ids, r.(map[string]any)["rule_id"].(string))
	}
	if !slices.Equal(ids, []string{"b", "a", "c", ".m.rule.contains_user_name"}) {
		t.Fatalf("content order %v", ids)
	}
	rule := e.expect("bob", "GET", rules+"content/c", nil, 200, "")
	if rule["pattern"] != "cherry" || rule["enabled"] != true || rule["default"] != false {
		t.Fatalf("rule c %v", rule)
	}
	// A room rule with an escaped room ID.
	e.expect("bob", "PUT", rules+"room/"+esc("!r:a.test"), map[string]any{"actions": []any{}}, 200, "")
	e.expect("bob", "GET", rules+"room/"+esc("!r:a.test"), nil, 200, "")

	// enabled and actions, on default rules too.
	e.expect("bob", "PUT", rules+"override/.m.rule.master/enabled", map[string]any{"enabled": true}, 200, "")
	if out := e.expect("bob", "GET", rules+"override/.m.rule.master/enabled", nil, 200, ""); out["enabled"] != true {
		t.Fatalf("enabled %v", out)
	}
	e.expect("bob", "PUT", rules+"underride/.m.rule.message/actions", map[string]any{"actions": []any{"notify", map[string]any{"set_tweak": "sound", "value": "bell"}}}, 200, "")
	out = e.expect("bob", "GET", rules+"underride/.m.rule.message/actions", nil, 200, "")
	actions := out["actions"].([]any)
	if len(actions) != 2 || actions[1].(map[string]any)["value"] != "bell" {
		t.Fatalf("actions %v", out)
	}
	if out := e.expect("bob", "GET", rules+"override/.m.rule.suppress_notices/actions", nil, 200, ""); len(out["actions"].([]any)) != 0 {
		t.Fatalf("empty actions %v", out)
	}

	e.expect("bob", "DELETE", rules+"content/a", nil, 200, "")
	e.expect("bob", "GET", rules+"content/a", nil, 404, "M_NOT_FOUND")

	// The rules sync as m.push_rules account data; alice's are her own.
	ad := e.expect("bob", "GET", "/user/"+esc(bob)+"/account_data/m.push_rules", nil, 200, "")
	if len(ad["global"].(map[string]any)["content"].([]any)) != 3 {
		t.Fatalf("m.push_rules %v", ad)
	}
	if out := e.expect("alice", "GET", rules+"content/b", nil, 404, "M_NOT_FOUND"); out == nil {
		t.Fatal("no body")
	}
}

func TestRulesDriveCounts(t *testing.T) {
	e := newEnv(t)
	r := e.createRoom(bob)
	e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "hi"})
	if got := e.counts(bob, r); got != [2]int{1, 0} {
		t.Fatalf("counts %v", got)
	}
	// The mention highlights.
	e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "look", "m.mentions": map[string]any{"user_ids": []string{bob}}})
	if got := e.counts(bob, r); got != [2]int{2, 1} {
		t.Fatalf("after mention %v", got)
	}
	// Disabling the one-to-one and message rules silences plain messages.
	e.expect("bob", "PUT", "/pushrules/global/underride/.m.rule.room_one_to_one/enabled", map[string]any{"enabled": false}, 200, "")
	e.expect("bob", "PUT", "/pushrules/global/underride/.m.rule.message/enabled", map[string]any{"enabled": false}, 200, "")
	e.send(r, alice, map[string]any{"msgtype": "m.text", "body": "quiet"})
	if got := e.counts(bob, r); got != [2]int{2, 1} {
		t.Fatalf("disabled rules still count %v", got)
	}
}

func TestPushersAndNotifications(t *testing.T) {
	e := newEnv(t)
	if out := e.expect("bob", "GET", "/pushers", nil, 200, ""); len(out["pushers"].([]any)) != 0 {
		t.Fatalf("pushers %v", out)
	}
	pusher := map[string]any{
		"pushkey": "key1", "kind": "http", "app_id": "com.example.app", "app_display_name": "App",
		"device_display_name": "Phone", "lang": "en", "data": map[string]any{"format": "event_id_only"},
	}
	e.expect("bob", "POST", "/pushers/set", pusher, 400, "M_MISSING_PARAM")
	e.expect("bob", "POST", "/pushers/set", "{", 400, "M_NOT_JSON")
	e.expect("bob", "POST", "/pushers/set", map[string]any{"pushkey": 1}, 400, "M_BAD_JSON")
	pusher["data"] = map[string]any{"url": "https://push.example.com/_matrix/push/v1/notify"}
	e.expect("bob", "POST", "/pushers/set", pusher, 200, "")
	out := e.expect("bob", "GET", "/pushers", nil, 200, "")
	list := out["pushers"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["pushkey"] != "key1" || list[0].(map[string]any)["kind"] != "http" {
		t.Fatalf("pushers %v", out)
	}
	pusher["kind"] = nil
	e.expect("bob", "POST", "/pushers/set", pusher, 200, "")
	if out := e.expect("bob", "GET", "/pushers", nil, 200, ""); len(out["pushers"].([]any)) != 0 {
		t.Fatalf("kind null kept %v", out)
	}

	r := e.createRoom(bob)
	var ids []string
	for i := range 3 {
		content := map[string]any{"msgtype": "m.text", "body": "msg"}
		if i == 1 {
			content["m.mentions"] = map[string]any{"user_ids": []string{bob}}
		}
		ids = append(ids, e.send(r, alice, content))
	}
	e.expect("bob", "GET", "/notifications?from=abc", nil, 400, "M_INVALID_PARAM")
	e.expect("bob", "GET", "/notifications?limit=-2", nil, 400, "M_INVALID_PARAM")
	page := e.expect("bob", "GET", "/notifications?limit=2", nil, 200, "")
	ns := page["notifications"].([]any)
	if len(ns) != 2 || page["next_token"] == nil {
		t.Fatalf("first page %v", page)
	}
	first := ns[0].(map[string]any)
	if first["event"].(map[string]any)["event_id"] != ids[2] || first["room_id"] != r || first["read"] != false {
		t.Fatalf("newest notification %v", first)
	}
	if _, ok := first["ts"].(float64); !ok {
		t.Fatalf("ts %v", first)
	}
	page = e.expect("bob", "GET", "/notifications?from="+page["next_token"].(string), nil, 200, "")
	if ns := page["notifications"].([]any); len(ns) != 1 || ns[0].(map[string]any)["event"].(map[string]any)["event_id"] != ids[0] || page["next_token"] != nil {
		t.Fatalf("second page %v", page)
	}
	hl := e.expect("bob", "GET", "/notifications?only=highlight", nil, 200, "")
	if ns := hl["notifications"].([]any); len(ns) != 1 || ns[0].(map[string]any)["event"].(map[string]any)["event_id"] != ids[1] {
		t.Fatalf("highlights %v", hl)
	}
	e.expect("bob", "POST", "/rooms/"+esc(r)+"/receipt/m.read/"+esc(ids[1]), nil, 200, "")
	all := e.expect("bob", "GET", "/notifications", nil, 200, "")["notifications"].([]any)
	var read []any
	for _, n := range all {
		read = append(read, n.(map[string]any)["read"])
	}
	if !slices.Equal(read, []any{false, true, true}) {
		t.Fatalf("read flags %v", read)
	}
}
