package filter

import (
	"encoding/json"
	"testing"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"m.room.message", "m.room.message", true},
		{"m.room.message", "m.room.messages", false},
		{"m.room.*", "m.room.message", true},
		{"m.room.*", "m.room.", true},
		{"m.room.*", "m.room", false},
		{"*", "", true},
		{"*", "anything", true},
		{"", "", true},
		{"", "x", false},
		{"*.typing", "m.typing", true},
		{"*.typing", "m.typing.x", false},
		{"m.*.member", "m.room.member", true},
		{"m.*.member", "m.member", false},
		{"m.**.member", "m..member", true},
		{"*a*a*", "aa", true},
		{"*a*a*", "a", false},
		{"*ab*ab", "xabab", true},
		{"*aba", "ababa", true},
		{"a*a", "a", false},
		{"M.ROOM.*", "m.room.message", false}, // case sensitive
		{"m.room.?", "m.room.x", false},       // only * is a wildcard
		{"m.room.?", "m.room.?", true},
	}
	for _, tc := range tests {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestEventFilterMatch(t *testing.T) {
	parse := func(s string) *EventFilter {
		var f EventFilter
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			t.Fatal(err)
		}
		return &f
	}
	tests := []struct {
		filter      string
		typ, sender string
		want        bool
	}{
		{`{}`, "m.room.message", "@a:x", true},
		{`{"types":["m.room.*"]}`, "m.room.message", "@a:x", true},
		{`{"types":["m.room.*"]}`, "m.presence", "@a:x", false},
		{`{"types":[]}`, "m.room.message", "@a:x", false},
		{`{"types":null}`, "m.room.message", "@a:x", true},
		{`{"not_types":["m.room.member"]}`, "m.room.member", "@a:x", false},
		{`{"not_types":["*"]}`, "m.room.message", "@a:x", false},
		{`{"not_types":[]}`, "m.room.message", "@a:x", true},
		{`{"types":["m.room.*"],"not_types":["m.room.member"]}`, "m.room.member", "@a:x", false},
		{`{"types":["m.room.*"],"not_types":["m.room.member"]}`, "m.room.name", "@a:x", true},
		{`{"senders":["@a:x"]}`, "t", "@a:x", true},
		{`{"senders":["@a:x"]}`, "t", "@b:x", false},
		{`{"senders":[]}`, "t", "@a:x", false},
		{`{"not_senders":["@a:x"]}`, "t", "@a:x", false},
		{`{"not_senders":["@a:x"]}`, "t", "@b:x", true},
		{`{"senders":["@a:x"],"not_senders":["@a:x"]}`, "t", "@a:x", false},
		{`{"senders":["@*:x"]}`, "t", "@a:x", false}, // senders are exact IDs
	}
	for _, tc := range tests {
		if got := parse(tc.filter).Match(tc.typ, tc.sender); got != tc.want {
			t.Errorf("%s.Match(%q, %q) = %v, want %v", tc.filter, tc.typ, tc.sender, got, tc.want)
		}
	}
	var none *EventFilter
	if !none.Match("any", "@a:x") {
		t.Error("nil filter rejected an event")
	}
}

func TestRoomEventFilterMatch(t *testing.T) {
	parse := func(s string) *RoomEventFilter {
		f, err := ParseRoomEventFilter([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	const room, other = "!r:x", "!o:x"
	withURL := json.RawMessage(`{"msgtype":"m.image","url":"mxc://x/y"}`)
	nullURL := json.RawMessage(`{"url":null}`)
	plain := json.RawMessage(`{"body":"hi"}`)
	tests := []struct {
		filter  string
		room    string
		typ     string
		content json.RawMessage
		want    bool
	}{
		{`{}`, room, "m.room.message", plain, true},
		{`{"rooms":["!r:x"]}`, room, "m.room.message", plain, true},
		{`{"rooms":["!r:x"]}`, other, "m.room.message", plain, false},
		{`{"rooms":[]}`, room, "m.room.message", plain, false},
		{`{"not_rooms":["!r:x"]}`, room, "m.room.message", plain, false},
		{`{"rooms":["!r:x"],"not_rooms":["!r:x"]}`, room, "m.room.message", plain, false},
		{`{"types":["m.room.message"]}`, room, "m.room.member", plain, false},
		{`{"contains_url":true}`, room, "m.room.message", withURL, true},
		{`{"contains_url":true}`, room, "m.room.message", plain, false},
		{`{"contains_url":true}`, room, "m.room.message", nullURL, true},
		{`{"contains_url":true}`, room, "m.room.message", nil, false},
		{`{"contains_url":true}`, room, "m.room.message", json.RawMessage(`"x"`), false},
		{`{"contains_url":false}`, room, "m.room.message", withURL, false},
		{`{"contains_url":false}`, room, "m.room.message", plain, true},
		{`{"contains_url":false}`, room, "m.room.message", json.RawMessage(`{bad`), true},
	}
	for _, tc := range tests {
		if got := parse(tc.filter).MatchEvent(tc.room, tc.typ, "@a:x", tc.content); got != tc.want {
			t.Errorf("%s.MatchEvent(%q, %q, %s) = %v, want %v", tc.filter, tc.room, tc.typ, tc.content, got, tc.want)
		}
	}
	var none *RoomEventFilter
	if !none.MatchEvent(room, "t", "@a:x", nil) || !none.MatchRoom(room) {
		t.Error("nil room event filter rejected an event")
	}
}

func TestFilterHelpers(t *testing.T) {
	tests := []struct {
		filter                          string
		limit                           int
		lazy, redundant, leave, threads bool
		federation                      bool
		room                            bool // MatchRoom("!r:x")
	}{
		{`{}`, DefaultTimelineLimit, false, false, false, false, false, true},
		{`{"room":{}}`, DefaultTimelineLimit, false, false, false, false, false, true},
		{`{"room":{"timeline":{}}}`, DefaultTimelineLimit, false, false, false, false, false, true},
		{`{"room":{"timeline":{"limit":3}}}`, 3, false, false, false, false, false, true},
		{`{"room":{"timeline":{"limit":5000}}}`, MaxTimelineLimit, false, false, false, false, false, true},
		{`{"room":{"state":{"lazy_load_members":true}}}`, DefaultTimelineLimit, true, false, false, false, false, true},
		{`{"room":{"state":{"lazy_load_members":true,"include_redundant_members":true}}}`, DefaultTimelineLimit, true, true, false, false, false, true},
		{`{"room":{"state":{"include_redundant_members":true}}}`, DefaultTimelineLimit, false, false, false, false, false, true},
		{`{"room":{"timeline":{"lazy_load_members":true}}}`, DefaultTimelineLimit, false, false, false, false, false, true},
		{`{"room":{"include_leave":true}}`, DefaultTimelineLimit, false, false, true, false, false, true},
		{`{"room":{"timeline":{"unread_thread_notifications":true}}}`, DefaultTimelineLimit, false, false, false, true, false, true},
		{`{"event_format":"federation"}`, DefaultTimelineLimit, false, false, false, false, true, true},
		{`{"room":{"rooms":["!o:x"]}}`, DefaultTimelineLimit, false, false, false, false, false, false},
		{`{"room":{"not_rooms":["!r:x"]}}`, DefaultTimelineLimit, false, false, false, false, false, false},
	}
	for _, tc := range tests {
		f, err := Parse([]byte(tc.filter))
		if err != nil {
			t.Fatal(err)
		}
		got := []any{f.TimelineLimit(), f.LazyLoadMembers(), f.IncludeRedundantMembers(), f.IncludeLeave(), f.UnreadThreadNotifications(), f.Federation(), f.MatchRoom("!r:x")}
		want := []any{tc.limit, tc.lazy, tc.redundant, tc.leave, tc.threads, tc.federation, tc.room}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: helpers (limit lazy redundant leave threads federation room) = %v, want %v", tc.filter, got, want)
				break
			}
		}
	}

	// Every accessor of a nil Filter is usable and matches everything.
	var none *Filter
	if none.TimelineLimit() != DefaultTimelineLimit || none.LazyLoadMembers() || none.IncludeLeave() || none.Federation() ||
		!none.MatchRoom("!r:x") || !none.Timeline().MatchEvent("!r:x", "t", "@a:x", nil) ||
		!none.State().Match("t", "@a:x") || !none.Ephemeral().Match("m.typing", "") ||
		!none.RoomAccountData().MatchRoom("!r:x") || !none.PresenceFilter().Match("m.presence", "@a:x") ||
		!none.AccountDataFilter().Match("m.direct", "") {
		t.Error("nil Filter accessors do not match everything")
	}

	f, err := Parse([]byte(`{"presence":{"not_senders":["@a:x"]},"account_data":{"types":["m.direct"]},"room":{"ephemeral":{"types":["m.typing"]},"account_data":{"not_rooms":["!r:x"]},"state":{"types":["m.room.name"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"presence":          !f.PresenceFilter().Match("m.presence", "@a:x"),
		"account_data":      f.AccountDataFilter().Match("m.direct", "") && !f.AccountDataFilter().Match("m.push_rules", ""),
		"ephemeral":         !f.Ephemeral().Match("m.receipt", ""),
		"room account_data": !f.RoomAccountData().MatchRoom("!r:x"),
		"state":             !f.State().Match("m.room.topic", "@a:x"),
		"timeline":          f.Timeline() == nil,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s accessor does not return the %s filter", name, name)
		}
	}
	if got := (&EventFilter{}).LimitOr(7, 5); got != 5 {
		t.Errorf("LimitOr caps the default too: got %d", got)
	}
}
