// Package event parses, identifies, hashes, redacts and builds Matrix room
// events (PDUs) for room versions 1 to 12.
//
// A *PDU is immutable once made. Untrusted JSON becomes a PDU through Parse,
// which enforces the size limit and the room version's JSON rules and
// derives the event ID; events read back from this server's own store come
// back through Load, which trusts the stored ID.
package event

import (
	"encoding/json"
	"errors"
	"fmt"

	"hearth/core/roomversion"
)

// MaxPDUSize is the largest event, in bytes of JSON, that a server accepts
// (server-server spec, "Size limits").
const MaxPDUSize = 65536

// ErrInvalid is wrapped by every error about an event that is malformed for
// its room version.
var ErrInvalid = errors.New("event: invalid event")

// StateKey identifies a piece of room state: an event type and a state key.
type StateKey struct {
	Type     string
	StateKey string
}

// String formats the tuple for logs and error messages.
func (k StateKey) String() string { return fmt.Sprintf("(%s, %q)", k.Type, k.StateKey) }

// PDU is one parsed room event. Its accessors return fields of the event as
// sent; JSON returns the exact bytes the event was made from.
type PDU struct {
	version *roomversion.Version
	id      string
	raw     []byte
	f       fields
}

// fields are the top-level keys of a PDU that the server reads.
type fields struct {
	EventID        string                       `json:"event_id,omitempty"`
	RoomID         string                       `json:"room_id"`
	Sender         string                       `json:"sender"`
	Origin         string                       `json:"origin,omitempty"`
	Type           string                       `json:"type"`
	StateKey       *string                      `json:"state_key,omitempty"`
	Content        json.RawMessage              `json:"content"`
	PrevEvents     json.RawMessage              `json:"prev_events"`
	AuthEvents     json.RawMessage              `json:"auth_events"`
	Depth          int64                        `json:"depth"`
	OriginServerTS int64                        `json:"origin_server_ts"`
	Redacts        string                       `json:"redacts,omitempty"`
	Hashes         map[string]string            `json:"hashes,omitempty"`
	Signatures     map[string]map[string]string `json:"signatures,omitempty"`
	Unsigned       json.RawMessage              `json:"unsigned,omitempty"`

	prevIDs []string
	authIDs []string
}

// Load rebuilds a PDU from JSON that this server already checked and stored
// under id, without re-deriving the ID. Use it only for trusted bytes.
func Load(id string, raw []byte, v *roomversion.Version) (*PDU, error) {
	p := &PDU{version: v, id: id, raw: raw}
	if err := p.decode(); err != nil {
		return nil, err
	}
	return p, nil
}

// decode fills p.f from p.raw and checks the fields every version needs.
func (p *PDU) decode() error {
	if err := json.Unmarshal(p.raw, &p.f); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var err error
	if p.f.prevIDs, err = eventRefs(p.f.PrevEvents, p.version); err != nil {
		return fmt.Errorf("%w: prev_events: %v", ErrInvalid, err)
	}
	if p.f.authIDs, err = eventRefs(p.f.AuthEvents, p.version); err != nil {
		return fmt.Errorf("%w: auth_events: %v", ErrInvalid, err)
	}
	if p.f.Type == "" {
		return fmt.Errorf("%w: missing type", ErrInvalid)
	}
	if p.f.Sender == "" {
		return fmt.Errorf("%w: missing sender", ErrInvalid)
	}
	if p.f.RoomID == "" && !(p.version.RoomIDFromCreateEvent && p.IsCreate()) {
		return fmt.Errorf("%w: missing room_id", ErrInvalid)
	}
	return nil
}

// eventRefs reads prev_events or auth_events: a list of IDs, or for room
// versions 1 and 2 a list of [id, hashes] pairs.
func eventRefs(raw json.RawMessage, v *roomversion.Version) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if v.EventIDFormat != roomversion.EventIDInEvent {
		var ids []string
		if err := json.Unmarshal(raw, &ids); err != nil {
			return nil, err
		}
		return ids, nil
	}
	var pairs []json.RawMessage
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(pairs))
	for _, pair := range pairs {
		var ref []json.RawMessage
		if err := json.Unmarshal(pair, &ref); err != nil || len(ref) == 0 {
			// Tolerate a bare ID, as some old servers sent.
			var id string
			if err2 := json.Unmarshal(pair, &id); err2 != nil {
				return nil, fmt.Errorf("reference is neither [id, hashes] nor an id")
			}
			ids = append(ids, id)
			continue
		}
		var id string
		if err := json.Unmarshal(ref[0], &id); err != nil {
			return nil, fmt.Errorf("reference ID is not a string")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Version returns the room version the event was parsed under.
func (p *PDU) Version() *roomversion.Version { return p.version }

// ID returns the event ID.
func (p *PDU) ID() string { return p.id }

// RoomID returns the room ID. For a room version 12 create event, which has
// no room_id field, it is derived from the event ID.
func (p *PDU) RoomID() string {
	if p.f.RoomID == "" && p.version.RoomIDFromCreateEvent && p.IsCreate() && len(p.id) > 1 {
		return "!" + p.id[1:]
	}
	return p.f.RoomID
}

// Sender returns the user ID that sent the event.
func (p *PDU) Sender() string { return p.f.Sender }

// Origin returns the origin field, which only old room versions sign.
func (p *PDU) Origin() string { return p.f.Origin }

// Type returns the event type.
func (p *PDU) Type() string { return p.f.Type }

// StateKey returns the state key and whether the event is a state event.
func (p *PDU) StateKey() (string, bool) {
	if p.f.StateKey == nil {
		return "", false
	}
	return *p.f.StateKey, true
}

// IsState reports whether the event has a state key.
func (p *PDU) IsState() bool { return p.f.StateKey != nil }

// StateTuple returns the (type, state key) the event sets; meaningful only
// for state events.
func (p *PDU) StateTuple() StateKey {
	k, _ := p.StateKey()
	return StateKey{Type: p.f.Type, StateKey: k}
}

// IsCreate reports whether this is the room's m.room.create event.
func (p *PDU) IsCreate() bool {
	return p.f.Type == "m.room.create" && p.f.StateKey != nil && *p.f.StateKey == ""
}

// Content returns the raw JSON of the content object.
func (p *PDU) Content() json.RawMessage { return p.f.Content }

// PrevEvents returns the IDs of the events this one follows in the DAG.
func (p *PDU) PrevEvents() []string { return p.f.prevIDs }

// AuthEvents returns the IDs of the events that authorise this one.
func (p *PDU) AuthEvents() []string { return p.f.authIDs }

// Depth returns the depth the sender gave the event.
func (p *PDU) Depth() int64 { return p.f.Depth }

// OriginServerTS returns the sender's timestamp in milliseconds.
func (p *PDU) OriginServerTS() int64 { return p.f.OriginServerTS }

// Redacts returns the ID of the event that an m.room.redaction redacts: the
// top-level key before room version 11, the content key from then on.
func (p *PDU) Redacts() string {
	if p.f.Type != "m.room.redaction" {
		return ""
	}
	if p.version.RedactsInContent {
		var c struct {
			Redacts string `json:"redacts"`
		}
		if json.Unmarshal(p.f.Content, &c) == nil && c.Redacts != "" {
			return c.Redacts
		}
	}
	return p.f.Redacts
}

// Signatures returns the event's signatures by server name and key ID.
func (p *PDU) Signatures() map[string]map[string]string { return p.f.Signatures }

// ContentHash returns the sha256 content hash the event claims, in unpadded
// base64.
func (p *PDU) ContentHash() string { return p.f.Hashes["sha256"] }

// Unsigned returns the raw unsigned object, if any.
func (p *PDU) Unsigned() json.RawMessage { return p.f.Unsigned }

// JSON returns the bytes the event was made from. Callers must not modify
// them.
func (p *PDU) JSON() []byte { return p.raw }
