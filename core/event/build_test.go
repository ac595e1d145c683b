package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"hearth/core/roomversion"
	"hearth/core/signing"
)

func TestBuildRoundTrip(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	builders := map[string]func(v *roomversion.Version) Builder{
		"message": message,
		"member": func(v *roomversion.Version) Builder {
			b := message(v)
			b.Type, b.StateKey = "m.room.member", strp("@alice:example.org")
			b.Content = json.RawMessage(`{"membership":"join","displayname":"Alice \"A\" \u0001\n"}`)
			return b
		},
		"power_levels": func(v *roomversion.Version) Builder {
			b := message(v)
			b.Type, b.StateKey = "m.room.power_levels", strp("")
			b.Content = json.RawMessage(` { "users" : {"@alice:example.org": 100}, "ban": 50, "events": {} } `)
			return b
		},
		"redaction": func(v *roomversion.Version) Builder {
			b := message(v)
			b.Type, b.Redacts = "m.room.redaction", "$target:example.org"
			b.Content = json.RawMessage(`{"reason":"spam"}`)
			return b
		},
		"create": func(v *roomversion.Version) Builder {
			b := message(v)
			b.Type, b.StateKey, b.PrevEvents, b.AuthEvents, b.Depth = "m.room.create", strp(""), nil, nil, 1
			b.Content = json.RawMessage(`{"room_version":"` + v.ID + `","creator":"@alice:example.org"}`)
			if v.RoomIDFromCreateEvent {
				b.RoomID = ""
			}
			return b
		},
		"empty content": func(v *roomversion.Version) Builder {
			b := message(v)
			b.Content = nil
			return b
		},
	}
	for _, v := range roomversion.All() {
		for name, mk := range builders {
			t.Run("v"+v.ID+"/"+name, func(t *testing.T) {
				b := mk(v)
				p := build(t, b, v, key)
				q, err := Parse(p.JSON(), v)
				if err != nil {
					t.Fatalf("Parse of a built event: %v\n%s", err, p.JSON())
				}
				if q.ID() != p.ID() || q.f.SHA256 != p.f.SHA256 || q.RoomID() != p.RoomID() {
					t.Fatalf("Parse gives %s, Build gave %s", q.ID(), p.ID())
				}
				if !bytes.Equal(q.JSON(), p.JSON()) {
					t.Fatal("built event is not canonical")
				}
				if !equalPDU(p, q) {
					t.Fatalf("Build and Parse disagree:\n%+v\n%+v", p.f, q.f)
				}
				if err := VerifySignatures(p, newKeyMap("example.org", key)); err != nil {
					t.Fatalf("VerifySignatures: %v", err)
				}
				if err := p.CheckContentHash(); err != nil {
					t.Fatalf("CheckContentHash: %v", err)
				}
				if id, err := EventID(p.JSON(), v); err != nil || id != p.ID() {
					t.Fatalf("EventID %s, %v", id, err)
				}
				checkShape(t, p, b, v)
			})
		}
	}
}

// equalPDU compares the decoded fields of two PDUs.
func equalPDU(p, q *PDU) bool {
	a, _ := json.Marshal(p.f)
	b, _ := json.Marshal(q.f)
	return bytes.Equal(a, b) && p.id == q.id && p.f.membership == q.f.membership &&
		p.f.contentRedacts == q.f.contentRedacts && strings.Join(p.f.prevIDs, ",") == strings.Join(q.f.prevIDs, ",") &&
		strings.Join(p.f.authIDs, ",") == strings.Join(q.f.authIDs, ",")
}

// checkShape checks the version-specific layout of a built event.
func checkShape(t *testing.T, p *PDU, b Builder, v *roomversion.Version) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	_, hasEventID := m["event_id"]
	if hasEventID != (v.EventIDFormat == roomversion.EventIDInEvent) {
		t.Errorf("event_id present: %v", hasEventID)
	}
	switch v.EventIDFormat {
	case roomversion.EventIDInEvent:
		if !strings.HasPrefix(p.ID(), "$") || !strings.HasSuffix(p.ID(), ":example.org") {
			t.Errorf("event ID %s", p.ID())
		}
		if len(b.PrevEvents) > 0 && !bytes.HasPrefix(m["prev_events"], []byte(`[["$prev1:example.org",{}]`)) {
			t.Errorf("prev_events %s", m["prev_events"])
		}
	case roomversion.EventIDHashStd:
		if len(p.ID()) != 44 || strings.ContainsAny(p.ID(), "-_") {
			t.Errorf("event ID %s", p.ID())
		}
	case roomversion.EventIDHashURL:
		if len(p.ID()) != 44 || strings.ContainsAny(p.ID(), "+/") {
			t.Errorf("event ID %s", p.ID())
		}
	}
	_, hasOrigin := m["origin"]
	if hasOrigin == v.UpdatedRedactionRules {
		t.Errorf("origin present: %v", hasOrigin)
	}
	if _, ok := m["unsigned"]; ok {
		t.Error("unsigned present")
	}
	_, hasRoomID := m["room_id"]
	if hasRoomID == (v.RoomIDFromCreateEvent && p.IsCreate()) {
		t.Errorf("room_id present: %v", hasRoomID)
	}
	if b.Redacts != "" {
		_, top := m["redacts"]
		inContent := bytes.Contains(m["content"], []byte(`"redacts":"`+b.Redacts+`"`))
		if top == v.RedactsInContent || inContent != v.RedactsInContent {
			t.Errorf("redacts at top level %v, in content %v", top, inContent)
		}
		if p.Redacts() != b.Redacts {
			t.Errorf("Redacts() = %q", p.Redacts())
		}
	}
}

func TestBuildV1RefHashes(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	v := roomversion.MustLookup("2")
	b := message(v)
	b.RefHashes = map[string]string{"$prev2:example.org": "abc", "$auth1:example.org": "def"}
	p := build(t, b, v, key)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	if got := string(m["prev_events"]); got != `[["$prev1:example.org",{}],["$prev2:example.org",{"sha256":"abc"}]]` {
		t.Fatalf("prev_events %s", got)
	}
	if got := string(m["auth_events"]); !strings.HasPrefix(got, `[["$auth1:example.org",{"sha256":"def"}],`) {
		t.Fatalf("auth_events %s", got)
	}
	// Two events from the same random source get different IDs.
	r := &countingRand{}
	p1, _ := Build(b, v, "example.org", key, r)
	p2, _ := Build(b, v, "example.org", key, r)
	if p1.ID() == p2.ID() {
		t.Fatalf("same ID twice: %s", p1.ID())
	}
	if _, err := Build(b, v, "example.org", key, nil); err == nil {
		t.Fatal("Build in v2 without a random source")
	}
	if _, err := Build(b, v, "example.org", key, bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Fatalf("Build with an empty random source: %v", err)
	}
}

func TestBuildV12(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	v := roomversion.MustLookup("12")
	create := build(t, Builder{
		Sender: "@alice:example.org", Type: "m.room.create", StateKey: strp(""),
		Content: json.RawMessage(`{"room_version":"12"}`), Depth: 1, OriginServerTS: 10,
	}, v, key)
	roomID := create.RoomID()
	if roomID != "!"+create.ID()[1:] {
		t.Fatalf("room ID %s for create event %s", roomID, create.ID())
	}
	join := build(t, Builder{
		RoomID: roomID, Sender: "@alice:example.org", Type: "m.room.member", StateKey: strp("@alice:example.org"),
		Content: json.RawMessage(`{"membership":"join"}`), PrevEvents: []string{create.ID()},
		AuthEvents: []string{create.ID()}, Depth: 2, OriginServerTS: 11,
	}, v, key)
	if len(join.AuthEvents()) != 0 {
		t.Fatalf("auth_events of the join list %v; the create event is implied", join.AuthEvents())
	}
	if join.RoomID() != roomID || join.PrevEvents()[0] != create.ID() {
		t.Fatal("join fields")
	}
}

func TestBuildRejects(t *testing.T) {
	key := testKey(t, "ed25519:a", 1)
	v := roomversion.MustLookup("11")
	v5 := roomversion.MustLookup("5")
	v12 := roomversion.MustLookup("12")
	cases := []struct {
		name string
		v    *roomversion.Version
		edit func(b *Builder)
	}{
		{"no type", v, func(b *Builder) { b.Type = "" }},
		{"type not UTF-8", v, func(b *Builder) { b.Type = "m.\xff" }},
		{"no sender", v, func(b *Builder) { b.Sender = "" }},
		{"sender without server", v, func(b *Builder) { b.Sender = "@alice" }},
		{"no room ID", v, func(b *Builder) { b.RoomID = "" }},
		{"room ID without sigil", v, func(b *Builder) { b.RoomID = "room:example.org" }},
		{"v12 create with room ID", v12, func(b *Builder) {
			b.Type, b.StateKey = "m.room.create", strp("")
		}},
		{"content not JSON", v, func(b *Builder) { b.Content = json.RawMessage(`{`) }},
		{"content an array", v, func(b *Builder) { b.Content = json.RawMessage(`[]`) }},
		{"content with a float in v11", v, func(b *Builder) { b.Content = json.RawMessage(`{"a":1.5}`) }},
		{"content too large", v, func(b *Builder) {
			b.Content = json.RawMessage(`{"body":"` + strings.Repeat("x", MaxPDUSize) + `"}`)
		}},
		{"negative depth", v, func(b *Builder) { b.Depth = -1 }},
		{"depth over 2^53 in v11", v, func(b *Builder) { b.Depth = 1 << 53 }},
		{"timestamp over 2^53 in v11", v, func(b *Builder) { b.OriginServerTS = 1 << 53 }},
		{"prev event not an ID", v, func(b *Builder) { b.PrevEvents = []string{"abc"} }},
		{"auth event empty", v, func(b *Builder) { b.AuthEvents = []string{""} }},
		{"redacts on a message", v, func(b *Builder) { b.Redacts = "$x:example.org" }},
		{"redacts not an ID", v, func(b *Builder) { b.Type, b.Redacts = "m.room.redaction", "x" }},
		{"content.redacts differs", v, func(b *Builder) {
			b.Type, b.Redacts = "m.room.redaction", "$x:example.org"
			b.Content = json.RawMessage(`{"redacts":"$y:example.org"}`)
		}},
		{"state key not UTF-8", v, func(b *Builder) { b.StateKey = strp("\xff") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := message(c.v)
			c.edit(&b)
			if p, err := Build(b, c.v, "example.org", key, nil); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Build: %v, %v; want ErrInvalid", p, err)
			}
		})
	}
	// Room version 5 takes floats, and integers up to int64.
	b := message(v5)
	b.Content, b.Depth = json.RawMessage(`{"a":1.5}`), 1<<60
	if _, err := Build(b, v5, "example.org", key, nil); err != nil {
		t.Fatalf("v5 float content: %v", err)
	}
	if _, err := Build(message(v), nil, "example.org", key, nil); err == nil {
		t.Fatal("Build without a room version")
	}
	if _, err := Build(message(v), v, "", key, nil); err == nil {
		t.Fatal("Build without an origin")
	}
	if _, err := Build(message(v), v, "example.org", signing.Key{}, nil); err == nil {
		t.Fatal("Build without a key")
	}
	// A redaction whose content already names the target is fine.
	r := message(v)
	r.Type, r.Redacts, r.Content = "m.room.redaction", "$x:example.org", json.RawMessage(`{"redacts":"$x:example.org"}`)
	if p, err := Build(r, v, "example.org", key, nil); err != nil || p.Redacts() != "$x:example.org" {
		t.Fatalf("redaction with content.redacts: %v", err)
	}
}
