package fededu

import (
	"context"
	"encoding/json"
	"testing"

	"hearth/core/ephemeral"
	"hearth/core/event"
	"hearth/core/room"
)

type queued struct {
	edu   string
	dests []string
}

type fakeSender struct{ got []queued }

func (f *fakeSender) SendEDU(_ context.Context, edu json.RawMessage, dests []string) error {
	f.got = append(f.got, queued{string(edu), dests})
	return nil
}

type fakeRooms struct{}

func (fakeRooms) Destinations(context.Context, string) ([]string, error) {
	return []string{"b.test"}, nil
}
func (fakeRooms) Rooms(context.Context, string) (map[string]room.Membership, error) {
	return map[string]room.Membership{"!r:a.test": {Membership: "join"}, "!old:a.test": {Membership: "leave"}}, nil
}

// TestOutboundShapes checks each EDU against the spec's shape.
func TestOutboundShapes(t *testing.T) {
	ago, msg, active := int64(7), "busy", true
	tests := []struct {
		name string
		do   func(o *Outbound)
		want string
	}{
		{"typing", func(o *Outbound) { o.Typing("!r:a.test", "@u:a.test", true) },
			`{"edu_type":"m.typing","content":{"room_id":"!r:a.test","typing":true,"user_id":"@u:a.test"}}`},
		{"receipt", func(o *Outbound) { o.Receipt("!r:a.test", "@u:a.test", "$e", "", 5) },
			`{"edu_type":"m.receipt","content":{"!r:a.test":{"m.read":{"@u:a.test":{"data":{"ts":5},"event_ids":["$e"]}}}}}`},
		{"threaded receipt", func(o *Outbound) { o.Receipt("!r:a.test", "@u:a.test", "$e", "main", 5) },
			`{"edu_type":"m.receipt","content":{"!r:a.test":{"m.read":{"@u:a.test":{"data":{"thread_id":"main","ts":5},"event_ids":["$e"]}}}}}`},
		{"presence", func(o *Outbound) {
			o.Presence("@u:a.test", ephemeral.Status{Presence: "online", LastActiveAgo: &ago, StatusMsg: &msg, CurrentlyActive: &active})
		}, `{"edu_type":"m.presence","content":{"push":[{"currently_active":true,"last_active_ago":7,"presence":"online","status_msg":"busy","user_id":"@u:a.test"}]}}`},
		{"device update", func(o *Outbound) { o.DeviceChange("@u:a.test", "D", false, json.RawMessage(`{"k":1}`), 3) },
			`{"edu_type":"m.device_list_update","content":{"deleted":false,"device_id":"D","keys":{"k":1},"prev_id":[],"stream_id":3,"user_id":"@u:a.test"}}`},
		{"device deleted", func(o *Outbound) { o.DeviceChange("@u:a.test", "D", true, nil, 4) },
			`{"edu_type":"m.device_list_update","content":{"deleted":true,"device_id":"D","prev_id":[],"stream_id":4,"user_id":"@u:a.test"}}`},
		{"signing keys", func(o *Outbound) { o.SigningKeyChange("@u:a.test", json.RawMessage(`{"m":1}`), nil) },
			`{"edu_type":"m.signing_key_update","content":{"master_key":{"m":1},"user_id":"@u:a.test"}}`},
		{"to-device", func(o *Outbound) {
			if err := o.SendToDevice(context.Background(), "b.test", "@u:a.test", "m.room_key", "mid", map[string]map[string]json.RawMessage{"@v:b.test": {"*": json.RawMessage(`{}`)}}); err != nil {
				t.Fatal(err)
			}
		}, `{"edu_type":"m.direct_to_device","content":{"message_id":"mid","messages":{"@v:b.test":{"*":{}}},"sender":"@u:a.test","type":"m.room_key"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeSender{}
			tt.do(NewOutbound(OutboundConfig{Sender: s, Rooms: fakeRooms{}, UserRooms: fakeRooms{}}))
			if len(s.got) != 1 || len(s.got[0].dests) != 1 || s.got[0].dests[0] != "b.test" {
				t.Fatalf("queued %+v", s.got)
			}
			var got, want any
			if err := json.Unmarshal([]byte(s.got[0].edu), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Fatalf("EDU = %s, want %s", g, w)
			}
		})
	}
}

// noRooms fails every state read: a check that needs one refuses.
type noRooms struct{}

func (noRooms) CurrentState(context.Context, string) (room.State, error) {
	return nil, room.ErrUnknownRoom
}
func (noRooms) StateEvents(context.Context, room.State) (map[event.StateKey]*event.PDU, error) {
	return nil, room.ErrUnknownRoom
}

// TestReceiveOriginCheck checks that an EDU speaking for a user of another
// server than its origin is ignored.
func TestReceiveOriginCheck(t *testing.T) {
	r := NewReceiver(ReceiverConfig{Rooms: noRooms{}})
	ctx := context.Background()
	for _, tt := range []struct {
		origin, user, room string
		want               bool
	}{
		{"b.test", "@u:c.test", "!r:a.test", false},
		{"b.test", "@u:b.test", "!r:a.test", false}, // not joined: the room is unknown
	} {
		if got := r.joined(ctx, tt.origin, tt.user, tt.room); got != tt.want {
			t.Errorf("joined(%s, %s) = %v", tt.origin, tt.user, got)
		}
	}
	// Nothing to apply to: must not panic on any EDU.
	r.Receive(ctx, "b.test", []json.RawMessage{
		json.RawMessage(`{"edu_type":"m.typing","content":{"room_id":"!r:a.test","user_id":"@u:c.test","typing":true}}`),
		json.RawMessage(`{"edu_type":"m.direct_to_device","content":{"sender":"@u:c.test"}}`),
		json.RawMessage(`not json`),
	})
}
