package filter

import (
	"reflect"
	"testing"
)

func TestProjectFields(t *testing.T) {
	const event = `{"type":"m.room.message","sender":"@a:x","event_id":"$e","origin_server_ts":1700000000000,` +
		`"content":{"body":"<b>hi</b>","msgtype":"m.text","m.relates_to":{"rel_type":"m.thread","event_id":"$root"},"a\\b":1},` +
		`"unsigned":{"age":5}}`
	tests := []struct {
		fields []string
		want   string
	}{
		{nil, event},
		{[]string{}, event},
		{[]string{"type", "content", "sender"}, `{"type":"m.room.message","sender":"@a:x","content":{"body":"<b>hi</b>","msgtype":"m.text","m.relates_to":{"rel_type":"m.thread","event_id":"$root"},"a\\b":1}}`},
		{[]string{"content.body"}, `{"content":{"body":"<b>hi</b>"}}`},
		{[]string{`content.m\.relates_to.rel_type`, "unsigned.age"}, `{"content":{"m.relates_to":{"rel_type":"m.thread"}},"unsigned":{"age":5}}`},
		{[]string{`content.a\\b`}, `{"content":{"a\\b":1}}`},
		{[]string{"content.body", "content"}, `{"content":{"body":"<b>hi</b>","msgtype":"m.text","m.relates_to":{"rel_type":"m.thread","event_id":"$root"},"a\\b":1}}`},
		{[]string{"content", "content.body"}, `{"content":{"body":"<b>hi</b>","msgtype":"m.text","m.relates_to":{"rel_type":"m.thread","event_id":"$root"},"a\\b":1}}`},
		{[]string{"content.missing", "nothing"}, `{}`},
		{[]string{"type.deeper"}, `{}`},
		{[]string{"content.m.relates_to"}, `{}`},
	}
	for _, tc := range tests {
		f := &Filter{EventFields: tc.fields}
		got, err := f.ProjectFields([]byte(event))
		if err != nil {
			t.Fatalf("%q: %v", tc.fields, err)
		}
		if !reflect.DeepEqual(decodeAny(t, got), decodeAny(t, []byte(tc.want))) {
			t.Errorf("ProjectFields(%q)\n got %s\nwant %s", tc.fields, got, tc.want)
		}
	}
	// Values are copied as they are, HTML characters included.
	f := &Filter{EventFields: []string{"content.body"}}
	if got, _ := f.ProjectFields([]byte(event)); string(got) != `{"content":{"body":"<b>hi</b>"}}` {
		t.Errorf("ProjectFields rewrote a value: %s", got)
	}
	if _, err := f.ProjectFields([]byte(`[1]`)); err == nil {
		t.Error("projecting a non-object succeeded")
	}
	var none *Filter
	if got, err := none.ProjectFields([]byte(event)); err != nil || string(got) != event {
		t.Errorf("nil filter changed the event: %s, %v", got, err)
	}
}
