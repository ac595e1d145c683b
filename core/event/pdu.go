// Package event parses, identifies, hashes, redacts and builds Matrix room
// events (PDUs) for room versions 1 to 12.
//
// A *PDU is immutable once made. Untrusted JSON becomes a PDU through Parse,
// which enforces the size limit and the room version's JSON rules and
// derives the event ID; events read back from this server's own store come
// back through Load, which trusts the stored ID; this server's own events are
// made by Build. VerifySignatures and CheckContentHash (or VerifyReceived,
// both in the spec's order) are the receive-side checks before the
// authorisation rules.
//
// Everything works on the event's canonical JSON by byte offset: redaction
// is a filter over it, the content hash, reference hash and signatures are
// computed from filtered copies, and signatures are spliced in, so no event
// is decoded into maps and encoded again.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/core/canonicaljson"
	"hearth/core/roomversion"
)

// MaxPDUSize is the largest event, in bytes of canonical JSON with its
// signatures, that a server accepts (client-server spec, "Size limits").
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
	// canon is the canonical JSON of raw (the same slice when raw was
	// already canonical). Redaction, hashing and signing work on it.
	canon []byte
	// trusted marks an event that came through Load: only the fields every
	// consumer needs were required of it.
	trusted bool
	f       fields
}

// fields are the top-level keys of a PDU that the server reads, decoded
// from the canonical JSON by decodeCanonical.
type fields struct {
	EventID        string
	RoomID         string
	Sender         string
	Origin         string
	Type           string
	StateKey       *string
	Content        json.RawMessage
	PrevEvents     json.RawMessage
	AuthEvents     json.RawMessage
	Depth          int64
	OriginServerTS int64
	Redacts        string // the top-level key
	SHA256         string // hashes.sha256
	Signatures     map[string]map[string]string
	Unsigned       json.RawMessage

	prevIDs []string
	authIDs []string

	// Read from content for the event types whose content matters to
	// signature checks and Redacts.
	membership       string
	authorisingUser  string // m.room.member join_authorised_via_users_server
	thirdPartyInvite bool   // m.room.member content has third_party_invite
	contentRedacts   string // m.room.redaction content.redacts
}

// Load rebuilds a PDU from JSON that this server already checked and stored
// under id, without re-deriving the ID. Use it only for trusted bytes: it
// requires only type, sender and room_id, and accepts any JSON number.
func Load(id string, raw []byte, v *roomversion.Version) (*PDU, error) {
	if v == nil {
		return nil, errNilVersion
	}
	p := &PDU{version: v, id: id, raw: raw, trusted: true}
	if err := p.decode(); err != nil {
		return nil, err
	}
	return p, nil
}

// decode canonicalises p.raw into p.canon and fills p.f from it.
func (p *PDU) decode() error {
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(p.raw)), p.raw, p.version.StrictCanonicalJSON && !p.trusted)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if bytes.Equal(canon, p.raw) {
		canon = p.raw
	}
	p.canon = canon
	return p.decodeCanonical()
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

// Membership returns the membership of an m.room.member event (its content's
// membership when that is a string), and "" for any other event.
func (p *PDU) Membership() string { return p.f.membership }

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
	if p.version.RedactsInContent && p.f.contentRedacts != "" {
		return p.f.contentRedacts
	}
	return p.f.Redacts
}

// Signatures returns the event's signatures by server name and key ID.
func (p *PDU) Signatures() map[string]map[string]string { return p.f.Signatures }

// ContentHash returns the sha256 content hash the event claims, in unpadded
// base64.
func (p *PDU) ContentHash() string { return p.f.SHA256 }

// Unsigned returns the raw unsigned object, if any.
func (p *PDU) Unsigned() json.RawMessage { return p.f.Unsigned }

// JSON returns the bytes the event was made from. Callers must not modify
// them.
func (p *PDU) JSON() []byte { return p.raw }
