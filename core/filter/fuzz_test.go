package filter

import (
	"encoding/json"
	"errors"
	"hearth/core/matrixerr"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, fails only with a matrixerr.Error of the
// documented kinds, and accepts exactly what it produces: a parsed filter
// marshals to JSON that parses back to the same filter. It also runs the
// matching helpers on whatever parses. Seeds come from f.Add below and from
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		specExample,
		`{}`,
		`null`,
		`[]`,
		`{"room":{"rooms":[],"not_rooms":["!a:x"],"include_leave":true,"timeline":{"limit":1,"types":["m.*","*.x*"],"not_types":["*"],"senders":[],"contains_url":false}}}`,
		`{"room":{"state":{"lazy_load_members":true,"include_redundant_members":true,"unread_thread_notifications":true}}}`,
		`{"event_format":"federation","event_fields":["content.m\\.relates_to","a\\\\b",""]}`,
		`{"presence":{"limit":0}}`,
		`{"room":{"timeline":{"limit":-1}}}`,
		`{"room":{"timeline":{"limit":1.0}}}`,
		`{"ROOM":{"Timeline":{"LIMIT":2}}}`,
		`{"room":{"rooms":["x"]}}`,
		`{"account_data":{"senders":["@a:x"],"not_senders":["@b:x"]}}`,
		"{\"room\":{\"rooms\":[\"!\xff\"]}}",
		`{"room":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		parsed, err := Parse(raw)
		if err != nil {
			var e matrixerr.Error
			if !errors.As(err, &e) || e.Status != 400 ||
				(e.Code != matrixerr.CodeNotJSON && e.Code != matrixerr.CodeBadJSON && e.Code != matrixerr.CodeInvalidParam) {
				t.Fatalf("Parse(%q) failed with %v, not a documented matrixerr.Error", raw, err)
			}
			if parsed != nil {
				t.Fatalf("Parse(%q) returned a filter with its error", raw)
			}
			return
		}
		out, err := json.Marshal(parsed)
		if err != nil {
			t.Fatalf("Marshal of parsed %q: %v", raw, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse rejected its own output %s (from %q): %v", out, raw, err)
		}
		if !reflect.DeepEqual(parsed, again) {
			t.Fatalf("round trip changed the filter:\n%#v\n%#v", parsed, again)
		}
		if n := parsed.TimelineLimit(); n < 1 || n > MaxTimelineLimit {
			t.Fatalf("TimelineLimit() = %d out of [1, %d]", n, MaxTimelineLimit)
		}
		parsed.Timeline().MatchEvent("!r:x", "m.room.message", "@a:x", json.RawMessage(`{"url":"mxc://a/b"}`))
		parsed.State().Match("m.room.member", "@a:x")
		parsed.PresenceFilter().Match("m.presence", "@a:x")
		parsed.MatchRoom("!r:x")
		if _, err := parsed.ProjectFields([]byte(`{"type":"t","content":{"body":"b","m.relates_to":{"x":1}}}`)); err != nil {
			t.Fatalf("ProjectFields: %v", err)
		}
	})
}
