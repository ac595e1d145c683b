package userdata

import (
	"context"
	"strings"
	"testing"
)

func TestAccountData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const global = "/user/%40bob%3Aa.test/account_data/"
	room := "/user/%40bob%3Aa.test/rooms/%21r%3Aa.test/account_data/"
	for _, tc := range []struct {
		name, user, method, path string
		body                     any
		status                   int
		errcode                  string
	}{
		{"no token", "", "GET", global + "m.direct", nil, 401, "M_MISSING_TOKEN"},
		{"absent", "bob", "GET", global + "m.direct", nil, 404, "M_NOT_FOUND"},
		{"read another user's", "alice", "GET", global + "m.direct", nil, 403, "M_FORBIDDEN"},
		{"write another user's", "alice", "PUT", global + "m.direct", map[string]any{}, 403, "M_FORBIDDEN"},
		{"not json", "bob", "PUT", global + "m.direct", "{nope", 400, "M_NOT_JSON"},
		{"not an object", "bob", "PUT", global + "m.direct", "[1,2]", 400, "M_BAD_JSON"},
		{"fully read is the server's", "bob", "PUT", global + "m.fully_read", map[string]any{"event_id": "$x"}, 405, "M_BAD_JSON"},
		{"push rules are the server's", "bob", "PUT", global + "m.push_rules", map[string]any{}, 405, "M_BAD_JSON"},
		{"room fully read", "bob", "PUT", room + "m.fully_read", map[string]any{"event_id": "$x"}, 405, "M_BAD_JSON"},
		{"room push rules", "bob", "PUT", room + "m.push_rules", map[string]any{}, 405, "M_BAD_JSON"},
		{"bad room ID", "bob", "PUT", "/user/%40bob%3Aa.test/rooms/%40notaroom%3Aa.test/account_data/t", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"bad room ID read", "bob", "GET", "/user/%40bob%3Aa.test/rooms/%40notaroom%3Aa.test/account_data/t", nil, 400, "M_INVALID_PARAM"},
		{"room absent", "bob", "GET", room + "m.tag", nil, 404, "M_NOT_FOUND"},
		{"type too long", "bob", "PUT", global + strings.Repeat("t", 300), map[string]any{}, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.expect(tc.user, tc.method, tc.path, tc.body, tc.status, tc.errcode)
		})
	}
	e.t = t
	if e.ad.Position() != 0 {
		t.Fatalf("refused writes stored something: position %d", e.ad.Position())
	}
	e.expect("bob", "PUT", global+"m.direct", map[string]any{"@alice:a.test": []string{"!r:a.test"}}, 200, "")
	out := e.expect("bob", "GET", global+"m.direct", nil, 200, "")
	if len(out) != 1 || out["@alice:a.test"] == nil {
		t.Fatalf("GET after PUT: %v", out)
	}
	e.expect("bob", "PUT", room+"org.example.x", map[string]any{"v": 1}, 200, "")
	if out := e.expect("bob", "GET", room+"org.example.x", nil, 200, ""); out["v"] != float64(1) {
		t.Fatalf("room GET %v", out)
	}
	e.expect("bob", "GET", global+"org.example.x", nil, 404, "M_NOT_FOUND")
	// Server-managed types are readable: the push rules in force.
	out = e.expect("bob", "GET", global+"m.push_rules", nil, 200, "")
	if _, ok := out["global"].(map[string]any)["override"]; !ok {
		t.Fatalf("m.push_rules %v", out)
	}
	// What was written syncs.
	g, rooms, err := e.ad.Changes(ctx, bob, 0, e.ad.Position())
	if err != nil || g["m.direct"] == nil || g["m.push_rules"] == nil || rooms["!r:a.test"]["org.example.x"] == nil {
		t.Fatalf("sync source: %v %v %v", g, rooms, err)
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	const tags = "/user/%40bob%3Aa.test/rooms/%21r%3Aa.test/tags"
	if out := e.expect("bob", "GET", tags, nil, 200, ""); len(out["tags"].(map[string]any)) != 0 {
		t.Fatalf("no tags: %v", out)
	}
	e.expect("alice", "GET", tags, nil, 403, "M_FORBIDDEN")
	e.expect("alice", "PUT", tags+"/m.favourite", map[string]any{}, 403, "M_FORBIDDEN")
	e.expect("bob", "PUT", tags+"/"+strings.Repeat("t", 256), map[string]any{}, 400, "M_INVALID_PARAM")
	e.expect("bob", "PUT", tags+"/u.x", map[string]any{"order": "high"}, 400, "M_BAD_JSON")
	e.expect("bob", "PUT", tags+"/m.favourite", map[string]any{"order": 0.25}, 200, "")
	e.expect("bob", "PUT", tags+"/u.work", map[string]any{}, 200, "")
	out := e.expect("bob", "GET", tags, nil, 200, "")
	got := out["tags"].(map[string]any)
	if len(got) != 2 || got["m.favourite"].(map[string]any)["order"] != 0.25 {
		t.Fatalf("tags %v", out)
	}
	// Tags are the m.tag room account data.
	out = e.expect("bob", "GET", "/user/%40bob%3Aa.test/rooms/%21r%3Aa.test/account_data/m.tag", nil, 200, "")
	if len(out["tags"].(map[string]any)) != 2 {
		t.Fatalf("m.tag %v", out)
	}
	e.expect("bob", "DELETE", tags+"/u.work", nil, 200, "")
	if out := e.expect("bob", "GET", tags, nil, 200, ""); len(out["tags"].(map[string]any)) != 1 {
		t.Fatalf("after delete %v", out)
	}
}
