// Package clientevent turns room events (PDUs) into the form the
// client-server API shows them in ("ClientEvent" in the spec): no DAG
// fields, hashes or signatures, and an unsigned object with what the client
// needs to know (age, the previous content of state, the transaction ID of
// its own sends, the redaction that emptied an event).
package clientevent

import (
	"encoding/json"
	"fmt"

	"hearth/core/event"
)

// Options says how to present one event to one client.
type Options struct {
	// OmitRoomID drops room_id, as /sync does inside a room's section.
	OmitRoomID bool
	// NowMS is the current time, for unsigned.age; 0 omits age.
	NowMS int64
	// TransactionID is set when the requesting device sent the event.
	TransactionID string
	// RedactedBy, when set, is the redaction that applies to the event:
	// the event is shown redacted, with the redaction in
	// unsigned.redacted_because.
	RedactedBy *event.PDU
	// PrevContent is the content of the state event this one replaced,
	// shown as unsigned.prev_content.
	PrevContent json.RawMessage
	// PrevSender is the sender of that state event, as
	// unsigned.prev_sender would show it; empty omits it.
	PrevSender string
}

// clientEvent is the wire shape.
type clientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         string          `json:"room_id,omitempty"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	Redacts        string          `json:"redacts,omitempty"`
	Unsigned       *unsigned       `json:"unsigned,omitempty"`
}

type unsigned struct {
	Age             *int64          `json:"age,omitempty"`
	PrevContent     json.RawMessage `json:"prev_content,omitempty"`
	PrevSender      string          `json:"prev_sender,omitempty"`
	RedactedBecause json.RawMessage `json:"redacted_because,omitempty"`
	TransactionID   string          `json:"transaction_id,omitempty"`
}

// Format returns the client form of pdu.
func Format(pdu *event.PDU, o Options) (json.RawMessage, error) {
	src := pdu
	var u unsigned
	if o.RedactedBy != nil {
		red, err := pdu.Redacted()
		if err != nil {
			return nil, fmt.Errorf("clientevent: redact %s: %w", pdu.ID(), err)
		}
		src = red
		because, err := Format(o.RedactedBy, Options{OmitRoomID: o.OmitRoomID, NowMS: o.NowMS})
		if err != nil {
			return nil, err
		}
		u.RedactedBecause = because
	}
	ce := clientEvent{
		Content:        src.Content(),
		EventID:        pdu.ID(),
		OriginServerTS: pdu.OriginServerTS(),
		Sender:         pdu.Sender(),
		Type:           pdu.Type(),
	}
	if len(ce.Content) == 0 {
		ce.Content = json.RawMessage("{}")
	}
	if !o.OmitRoomID {
		ce.RoomID = pdu.RoomID()
	}
	if k, ok := pdu.StateKey(); ok {
		ce.StateKey = &k
	}
	if o.RedactedBy == nil {
		ce.Redacts = pdu.Redacts()
	}
	if o.NowMS > 0 {
		age := max(o.NowMS-pdu.OriginServerTS(), 0)
		u.Age = &age
	}
	if pdu.IsState() && len(o.PrevContent) > 0 {
		u.PrevContent = o.PrevContent
		u.PrevSender = o.PrevSender
	}
	u.TransactionID = o.TransactionID
	if u.Age != nil || u.PrevContent != nil || u.RedactedBecause != nil || u.TransactionID != "" {
		ce.Unsigned = &u
	}
	raw, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("clientevent: encode %s: %w", pdu.ID(), err)
	}
	return raw, nil
}
