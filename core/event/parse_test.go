package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"hearth/core/roomversion"
)

func TestParseRejects(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	type tc struct {
		name    string
		version string
		raw     func(good []byte) []byte
	}
	set := func(k, v string) func([]byte) []byte {
		return func(good []byte) []byte {
			return edit(t, good, func(m map[string]json.RawMessage) { m[k] = json.RawMessage(v) })
		}
	}
	del := func(k string) func([]byte) []byte {
		return func(good []byte) []byte {
			return edit(t, good, func(m map[string]json.RawMessage) { delete(m, k) })
		}
	}
	text := func(s string) func([]byte) []byte { return func([]byte) []byte { return []byte(s) } }
	big := strings.Repeat("x", MaxPDUSize)
	cases := []tc{
		// Not JSON, or not JSON that canonical JSON allows.
		{"empty", "10", text("")},
		{"not JSON", "10", text("{not json")},
		{"array", "10", text("[1,2]")},
		{"string", "10", text(`"event"`)},
		{"trailing data", "10", func(g []byte) []byte { return append(g, '{', '}') }},
		{"duplicate key", "10", func(g []byte) []byte { return append([]byte(`{"type":"x",`), g[1:]...) }},
		{"invalid UTF-8", "10", set("type", "\"m.\xff\"")},
		{"lone surrogate", "10", set("type", `"\udc00"`)},
		{"float in content v6", "6", set("content", `{"n":1.5}`)},
		{"float in content v10", "10", set("content", `{"n":0.1}`)},
		{"integer over 2^53 v6", "6", set("content", `{"n":9007199254740992}`)},
		{"integer under -2^53 v11", "11", set("content", `{"n":-9007199254740992}`)},
		{"exponent out of range v12", "12", set("content", `{"n":1e16}`)},
		{"float depth v5", "5", set("depth", `1.5`)},
		{"huge depth v5", "5", set("depth", `1e30`)},

		// Size.
		{"oversize content", "10", set("content", `{"body":"`+big+`"}`)},
		{"oversize unsigned", "10", set("unsigned", `{"x":"`+big+`"}`)},
		{"oversize raw", "10", func(g []byte) []byte {
			return append(bytes.Repeat([]byte(" "), maxRawPDUSize), g...)
		}},

		// Types.
		{"type number", "10", set("type", `5`)},
		{"type empty", "10", set("type", `""`)},
		{"sender array", "10", set("sender", `["@a:b"]`)},
		{"sender no server", "10", set("sender", `"@alice"`)},
		{"sender no sigil", "10", set("sender", `"alice:example.org"`)},
		{"room_id object", "10", set("room_id", `{}`)},
		{"room_id no sigil", "10", set("room_id", `"room:example.org"`)},
		{"content string", "10", set("content", `"x"`)},
		{"content null", "10", set("content", `null`)},
		{"depth string", "10", set("depth", `"1"`)},
		{"depth negative", "10", set("depth", `-1`)},
		{"depth null", "10", set("depth", `null`)},
		{"origin_server_ts string", "10", set("origin_server_ts", `"1"`)},
		{"origin_server_ts bool", "10", set("origin_server_ts", `true`)},
		{"state_key number", "10", set("state_key", `0`)},
		{"state_key null", "10", set("state_key", `null`)},
		{"unsigned array", "10", set("unsigned", `[]`)},
		{"hashes array", "10", set("hashes", `[]`)},
		{"hashes without sha256", "10", set("hashes", `{"sha512":"x"}`)},
		{"hashes.sha256 number", "10", set("hashes", `{"sha256":5}`)},
		{"signatures array", "10", set("signatures", `[]`)},
		{"signatures of a server not an object", "10", set("signatures", `{"example.org":"sig"}`)},
		{"signature not a string", "10", set("signatures", `{"example.org":{"ed25519:a":5}}`)},
		{"redacts number v10", "10", set("redacts", `5`)},
		{"event_id number v1", "1", set("event_id", `5`)},
		{"event_id without server v2", "2", set("event_id", `"$abc"`)},
		{"event_id without sigil v1", "1", set("event_id", `"abc:example.org"`)},

		// prev_events and auth_events shapes.
		{"prev_events object", "10", set("prev_events", `{}`)},
		{"prev_events string", "10", set("prev_events", `"$a"`)},
		{"prev_events numbers", "10", set("prev_events", `[1]`)},
		{"prev_events not IDs", "10", set("prev_events", `["abc"]`)},
		{"prev_events pairs in v4", "4", set("prev_events", `[["$a:b",{}]]`)},
		{"auth_events nested", "10", set("auth_events", `[["$a"]]`)},
		{"v1 prev_events bare ID", "1", set("prev_events", `["$a:b"]`)},
		{"v1 prev_events one-element pair", "1", set("prev_events", `[["$a:b"]]`)},
		{"v1 prev_events three-element pair", "1", set("prev_events", `[["$a:b",{},{}]]`)},
		{"v1 prev_events hashes not object", "1", set("prev_events", `[["$a:b","x"]]`)},
		{"v2 auth_events ID not string", "2", set("auth_events", `[[5,{}]]`)},
		{"v2 auth_events empty pair", "2", set("auth_events", `[[]]`)},

		// Missing fields.
		{"missing type", "10", del("type")},
		{"missing sender", "10", del("sender")},
		{"missing room_id", "10", del("room_id")},
		{"missing content", "10", del("content")},
		{"missing depth", "10", del("depth")},
		{"missing origin_server_ts", "10", del("origin_server_ts")},
		{"missing prev_events", "10", del("prev_events")},
		{"missing auth_events", "10", del("auth_events")},
		{"missing hashes", "10", del("hashes")},
		{"missing signatures", "10", del("signatures")},
		{"missing event_id v1", "1", del("event_id")},
		{"missing event_id v2", "2", del("event_id")},
		{"missing room_id v12", "12", del("room_id")},
		// encoding/json would match keys case-insensitively.
		{"type under another case", "10", func(g []byte) []byte {
			return edit(t, g, func(m map[string]json.RawMessage) { m["Type"] = m["type"]; delete(m, "type") })
		}},

		// Room version 12 room IDs.
		{"v12 auth_events lists the create event", "12", set("auth_events", `["$`+strings.Repeat("A", 43)+`"]`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := roomversion.MustLookup(c.version)
			good := build(t, message(v), v, key).JSON()
			if _, err := Parse(good, v); err != nil {
				t.Fatalf("the unmodified event does not parse: %v", err)
			}
			raw := c.raw(good)
			p, err := Parse(raw, v)
			if err == nil {
				t.Fatalf("Parse accepted %s as %s", raw[:min(len(raw), 300)], p.ID())
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestParseV12Create(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	v := roomversion.MustLookup("12")
	p := build(t, Builder{
		Sender: "@alice:example.org", Type: "m.room.create", StateKey: strp(""),
		Content: json.RawMessage(`{"room_version":"12"}`), Depth: 1, OriginServerTS: 1,
	}, v, key)
	if _, err := Parse(p.JSON(), v); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	withRoom := edit(t, p.JSON(), func(m map[string]json.RawMessage) { m["room_id"] = json.RawMessage(`"` + p.RoomID() + `"`) })
	if _, err := Parse(withRoom, v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a v12 create event with room_id: %v, want ErrInvalid", err)
	}
	// Under v11 the same event lacks its room_id.
	if _, err := Parse(p.JSON(), roomversion.MustLookup("11")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a create event without room_id in v11: %v, want ErrInvalid", err)
	}
	if !strings.HasPrefix(p.RoomID(), "!") || p.RoomID()[1:] != p.ID()[1:] {
		t.Fatalf("room ID %s of create event %s", p.RoomID(), p.ID())
	}
}

func TestParseAccepts(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	v5 := roomversion.MustLookup("5")
	v10 := roomversion.MustLookup("10")
	good5 := build(t, message(v5), v5, key).JSON()
	good10 := build(t, message(v10), v10, key).JSON()

	// Room versions before 6 take any JSON number.
	float := edit(t, good5, func(m map[string]json.RawMessage) { m["content"] = json.RawMessage(`{"n":1.5,"big":1e300}`) })
	if _, err := Parse(float, v5); err != nil {
		t.Fatalf("v5 with floats in content: %v", err)
	}
	// Integral numbers in other spellings are canonicalised, not refused.
	spelled := bytes.Replace(good10, []byte(`"depth":42`), []byte(`"depth":4.2e1`), 1)
	p, err := Parse(spelled, v10)
	if err != nil || p.Depth() != 42 {
		t.Fatalf("depth 4.2e1: %v", err)
	}
	// Whitespace is not counted against the size limit: the limit is on
	// canonical JSON.
	var indented bytes.Buffer
	pad := edit(t, good10, func(m map[string]json.RawMessage) {
		m["content"] = json.RawMessage(`{"body":"` + strings.Repeat("x", MaxPDUSize-2000) + `"}`)
	})
	if err := json.Indent(&indented, pad, "", strings.Repeat(" ", 3000)); err != nil {
		t.Fatal(err)
	}
	if indented.Len() <= MaxPDUSize {
		t.Fatalf("indented event is only %d bytes", indented.Len())
	}
	p, err = Parse(indented.Bytes(), v10)
	if err != nil {
		t.Fatalf("indented event under the canonical limit: %v", err)
	}
	if !bytes.Equal(p.JSON(), indented.Bytes()) {
		t.Fatal("JSON does not return the bytes parsed")
	}
	// Unknown top-level keys are allowed and event_id is ignored from v3.
	extra := edit(t, good10, func(m map[string]json.RawMessage) {
		m["event_id"] = json.RawMessage(`"$whatever:example.org"`)
		m["origin"] = json.RawMessage(`5`)
		m["x_unknown"] = json.RawMessage(`[1,{"a":null}]`)
	})
	p, err = Parse(extra, v10)
	if err != nil {
		t.Fatalf("extra keys: %v", err)
	}
	if want, _ := EventID(extra, v10); p.ID() != want || strings.Contains(p.ID(), "whatever") {
		t.Fatalf("ID %s, want %s", p.ID(), want)
	}
	// Room versions 1 and 2 take [id, hashes] pairs with any hashes object.
	v1 := roomversion.MustLookup("1")
	good1 := build(t, message(v1), v1, key).JSON()
	pairs := edit(t, good1, func(m map[string]json.RawMessage) {
		m["prev_events"] = json.RawMessage(`[["$a:b",{}],["$c:d",{"sha256":"abc"}]]`)
	})
	p, err = Parse(pairs, v1)
	if err != nil {
		t.Fatalf("v1 pairs: %v", err)
	}
	if got := p.PrevEvents(); len(got) != 2 || got[0] != "$a:b" || got[1] != "$c:d" {
		t.Fatalf("PrevEvents %v", got)
	}
	// Load, for trusted bytes, tolerates bare IDs in v1.
	bare := edit(t, good1, func(m map[string]json.RawMessage) { m["prev_events"] = json.RawMessage(`["$a:b"]`) })
	if p, err := Load("$x:example.org", bare, v1); err != nil || p.PrevEvents()[0] != "$a:b" {
		t.Fatalf("Load with a bare ID: %v", err)
	}
	// A restricted join's authoriser only matters from room version 8.
	v7 := roomversion.MustLookup("7")
	join := message(v7)
	join.Type, join.StateKey = "m.room.member", strp("@alice:example.org")
	join.Content = json.RawMessage(`{"membership":"join","join_authorised_via_users_server":5}`)
	if _, err := Parse(build(t, join, v7, key).JSON(), v7); err != nil {
		t.Fatalf("v7 join with a malformed authoriser: %v", err)
	}
	v8 := roomversion.MustLookup("8")
	join.RoomID = roomFor(v8)
	if _, err := Build(join, v8, "example.org", key, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("v8 join with a malformed authoriser: %v, want ErrInvalid", err)
	}
}

func TestParseKeepsFields(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	for _, v := range roomversion.All() {
		t.Run("v"+v.ID, func(t *testing.T) {
			b := message(v)
			b.Type, b.StateKey = "m.room.member", strp("@bob:example.org")
			b.Content = json.RawMessage(`{"membership":"invite","displayname":"Bob"}`)
			p := build(t, b, v, key)
			q, err := Parse(p.JSON(), v)
			if err != nil {
				t.Fatal(err)
			}
			if q.ID() != p.ID() || q.RoomID() != b.RoomID || q.Sender() != b.Sender || q.Type() != b.Type ||
				q.Depth() != b.Depth || q.OriginServerTS() != b.OriginServerTS || !q.IsState() ||
				q.StateTuple() != (StateKey{"m.room.member", "@bob:example.org"}) ||
				string(q.Content()) != `{"displayname":"Bob","membership":"invite"}` ||
				strings.Join(q.PrevEvents(), ",") != strings.Join(b.PrevEvents, ",") ||
				strings.Join(q.AuthEvents(), ",") != strings.Join(b.AuthEvents, ",") ||
				q.Membership() != "invite" || q.ContentHash() == "" || len(q.Signatures()["example.org"]) != 1 {
				t.Fatalf("fields lost in the round trip: %s", q.JSON())
			}
			if (q.Origin() == "example.org") == v.UpdatedRedactionRules {
				t.Fatalf("origin %q in room version %s", q.Origin(), v.ID)
			}
		})
	}
}
