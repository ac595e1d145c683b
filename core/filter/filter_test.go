package filter

import (
	"encoding/json"
	"errors"
	"hearth/core/matrixerr"
	"reflect"
	"strings"
	"testing"
)

// specExample is the filter of the POST /user/{userId}/filter example in the
// client-server API v1.12.
const specExample = `{
  "room": {
    "state": {"types": ["m.room.*"], "not_rooms": ["!726s6s6q:example.com"]},
    "timeline": {
      "limit": 10,
      "types": ["m.room.message"],
      "not_rooms": ["!726s6s6q:example.com"],
      "not_senders": ["@spam:example.com"]
    },
    "ephemeral": {
      "types": ["m.receipt", "m.typing"],
      "not_rooms": ["!726s6s6q:example.com"],
      "not_senders": ["@spam:example.com"]
    }
  },
  "presence": {"types": ["m.presence"], "not_senders": ["@alice:example.com"]},
  "event_format": "client",
  "event_fields": ["type", "content", "sender"]
}`

// decodeAny decodes JSON into generic values for order-insensitive comparison.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestParseSpecExample(t *testing.T) {
	f, err := Parse([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Room.Timeline.NotSenders; !reflect.DeepEqual(got, []string{"@spam:example.com"}) {
		t.Errorf("timeline.not_senders = %q", got)
	}
	if f.TimelineLimit() != 10 || f.Federation() || f.LazyLoadMembers() || f.IncludeLeave() {
		t.Errorf("helpers of the spec example: %d %v %v %v", f.TimelineLimit(), f.Federation(), f.LazyLoadMembers(), f.IncludeLeave())
	}
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(decodeAny(t, out), decodeAny(t, []byte(specExample))) {
		t.Errorf("round trip changed the filter:\n%s", out)
	}
}

func TestParseKeepsPresence(t *testing.T) {
	// Absent lists stay absent and empty lists stay empty: they mean
	// different things.
	in := `{"room":{"rooms":[],"timeline":{"types":[],"senders":null,"contains_url":false,"limit":1}},"presence":{},"account_data":{"not_types":["*"]}}`
	f, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.Room.Rooms == nil || f.Room.NotRooms != nil || f.Room.Timeline.Types == nil || f.Room.Timeline.Senders != nil {
		t.Errorf("absent and empty lists confused: %+v", f.Room)
	}
	out, _ := json.Marshal(f)
	want := `{"presence":{},"account_data":{"not_types":["*"]},"room":{"rooms":[],"timeline":{"limit":1,"types":[],"contains_url":false}}}`
	if string(out) != want {
		t.Errorf("Marshal = %s\nwant      %s", out, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		code string
	}{
		{``, matrixerr.CodeNotJSON},
		{`   `, matrixerr.CodeNotJSON},
		{`{`, matrixerr.CodeNotJSON},
		{`{"room":}`, matrixerr.CodeNotJSON},
		{`{} {}`, matrixerr.CodeNotJSON},
		{`{'room':{}}`, matrixerr.CodeNotJSON},
		{`null`, matrixerr.CodeBadJSON},
		{`[]`, matrixerr.CodeBadJSON},
		{`"filter"`, matrixerr.CodeBadJSON},
		{`12`, matrixerr.CodeBadJSON},
		{`{"room":[]}`, matrixerr.CodeBadJSON},
		{`{"room":"all"}`, matrixerr.CodeBadJSON},
		{`{"event_fields":"type"}`, matrixerr.CodeBadJSON},
		{`{"event_fields":[1]}`, matrixerr.CodeBadJSON},
		{`{"event_format":1}`, matrixerr.CodeBadJSON},
		{`{"presence":{"types":"m.presence"}}`, matrixerr.CodeBadJSON},
		{`{"presence":{"senders":[null,1]}}`, matrixerr.CodeBadJSON},
		{`{"room":{"timeline":{"limit":"10"}}}`, matrixerr.CodeBadJSON},
		{`{"room":{"timeline":{"limit":1.5}}}`, matrixerr.CodeBadJSON},
		{`{"room":{"timeline":{"limit":1e400}}}`, matrixerr.CodeBadJSON},
		{`{"room":{"timeline":{"limit":99999999999999999999}}}`, matrixerr.CodeBadJSON},
		{`{"room":{"include_leave":"yes"}}`, matrixerr.CodeBadJSON},
		{`{"room":{"state":{"lazy_load_members":1}}}`, matrixerr.CodeBadJSON},
		{`{"room":{"timeline":{"contains_url":"true"}}}`, matrixerr.CodeBadJSON},
		{`{"event_format":"json"}`, matrixerr.CodeInvalidParam},
		{`{"event_format":"Client"}`, matrixerr.CodeInvalidParam},
		{`{"room":{"timeline":{"limit":0}}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"timeline":{"limit":-5}}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"state":{"limit":0}}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"ephemeral":{"limit":0}}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"account_data":{"limit":0}}}`, matrixerr.CodeInvalidParam},
		{`{"presence":{"limit":0}}`, matrixerr.CodeInvalidParam},
		{`{"account_data":{"limit":0}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"rooms":["#alias:x"]}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"not_rooms":["room"]}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"timeline":{"rooms":["@u:x"]}}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"state":{"not_rooms":[""]}}}`, matrixerr.CodeInvalidParam},
		{`{"room":{"timeline":{"senders":["!r:x"]}}}`, matrixerr.CodeInvalidParam},
		{`{"presence":{"not_senders":["alice"]}}`, matrixerr.CodeInvalidParam},
	}
	for _, tc := range tests {
		f, err := Parse([]byte(tc.in))
		var e matrixerr.Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%s) = %+v, %v; want %s", tc.in, f, err, tc.code)
			continue
		}
		if e.Status != 400 || e.Code != tc.code {
			t.Errorf("Parse(%s): %d %s (%s), want 400 %s", tc.in, e.Status, e.Code, e.Message, tc.code)
		}
		if f != nil {
			t.Errorf("Parse(%s) returned a filter with its error", tc.in)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, in := range []string{
		`{}`,
		` {} `,
		`{"unknown":{"x":1},"room":{"unknown":true}}`,
		`{"room":null,"presence":null,"event_fields":null}`,
		`{"event_format":"federation"}`,
		`{"room":{"timeline":{"limit":100000}}}`,
		`{"room":{"rooms":["!v12roomwithoutserver"],"state":{"lazy_load_members":true,"include_redundant_members":true}}}`,
		`{"event_fields":["content.m\\.relates_to","unsigned.age"]}`,
	} {
		if _, err := Parse([]byte(in)); err != nil {
			t.Errorf("Parse(%s): %v", in, err)
		}
	}
}

func TestParseErrorWrapsCause(t *testing.T) {
	_, err := Parse([]byte(`{"room":{"timeline":{"limit":"x"}}}`))
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		t.Errorf("error %v does not wrap the JSON type error", err)
	}
	if !strings.Contains(err.Error(), "M_BAD_JSON") {
		t.Errorf("error text %q lacks the errcode", err)
	}
}

func TestParseRoomEventFilter(t *testing.T) {
	f, err := ParseRoomEventFilter([]byte(`{"types":["m.room.message"],"lazy_load_members":true,"contains_url":true,"limit":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if !f.LazyLoadMembers || f.LimitOr(10, 100) != 5 || !f.MatchEvent("!r:x", "m.room.message", "@u:x", json.RawMessage(`{"url":"mxc://x/y"}`)) {
		t.Errorf("parsed %+v", f)
	}
	for in, code := range map[string]string{
		`nope`:              matrixerr.CodeNotJSON,
		`[]`:                matrixerr.CodeBadJSON,
		`{"limit":true}`:    matrixerr.CodeBadJSON,
		`{"limit":0}`:       matrixerr.CodeInvalidParam,
		`{"rooms":["x"]}`:   matrixerr.CodeInvalidParam,
		`{"senders":["x"]}`: matrixerr.CodeInvalidParam,
	} {
		_, err := ParseRoomEventFilter([]byte(in))
		var e matrixerr.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Errorf("ParseRoomEventFilter(%s) = %v, want %s", in, err, code)
		}
	}
}

func TestIsInlineJSON(t *testing.T) {
	for in, want := range map[string]bool{`{"room":{}}`: true, `{`: true, `66696p746572`: false, ``: false, ` {}`: false} {
		if got := IsInlineJSON(in); got != want {
			t.Errorf("IsInlineJSON(%q) = %v", in, got)
		}
	}
}
