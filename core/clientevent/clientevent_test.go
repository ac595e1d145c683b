package clientevent

import (
	"encoding/json"
	"testing"

	"hearth/core/event"
	"hearth/core/roomversion"
)

func load(t *testing.T, id, raw string, v string) *event.PDU {
	t.Helper()
	p, err := event.Load(id, []byte(raw), roomversion.MustLookup(v))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFormat(t *testing.T) {
	msg := load(t, "$msg", `{"type":"m.room.message","room_id":"!r:x","sender":"@a:x","content":{"body":"hi","msgtype":"m.text"},"origin_server_ts":1000,"depth":3,"prev_events":["$p"],"auth_events":["$c"],"hashes":{"sha256":"h"},"signatures":{"x":{"ed25519:a":"s"}}}`, "10")
	topic := load(t, "$topic", `{"type":"m.room.topic","state_key":"","room_id":"!r:x","sender":"@a:x","content":{"topic":"new"},"origin_server_ts":1500,"depth":4,"prev_events":[],"auth_events":[]}`, "10")
	red := load(t, "$red", `{"type":"m.room.redaction","room_id":"!r:x","sender":"@a:x","content":{"redacts":"$msg"},"origin_server_ts":2000,"depth":5,"prev_events":[],"auth_events":[]}`, "11")

	tests := []struct {
		name string
		pdu  *event.PDU
		o    Options
		want string
	}{
		{"plain", msg, Options{}, `{"content":{"body":"hi","msgtype":"m.text"},"event_id":"$msg","origin_server_ts":1000,"room_id":"!r:x","sender":"@a:x","type":"m.room.message"}`},
		{"sync form with age and txn", msg, Options{OmitRoomID: true, NowMS: 1500, TransactionID: "t1"}, `{"content":{"body":"hi","msgtype":"m.text"},"event_id":"$msg","origin_server_ts":1000,"sender":"@a:x","type":"m.room.message","unsigned":{"age":500,"transaction_id":"t1"}}`},
		{"state with prev content", topic, Options{PrevContent: json.RawMessage(`{"topic":"old"}`), PrevSender: "@b:x"}, `{"content":{"topic":"new"},"event_id":"$topic","origin_server_ts":1500,"room_id":"!r:x","sender":"@a:x","state_key":"","type":"m.room.topic","unsigned":{"prev_content":{"topic":"old"},"prev_sender":"@b:x"}}`},
		{"redacted", msg, Options{RedactedBy: red, OmitRoomID: true}, `{"content":{},"event_id":"$msg","origin_server_ts":1000,"sender":"@a:x","type":"m.room.message","unsigned":{"redacted_because":{"content":{"redacts":"$msg"},"event_id":"$red","origin_server_ts":2000,"sender":"@a:x","type":"m.room.redaction","redacts":"$msg"}}}`},
	}
	for _, tc := range tests {
		got, err := Format(tc.pdu, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
