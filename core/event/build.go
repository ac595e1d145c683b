package event

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
	"hearth/core/roomversion"
	"hearth/core/signing"
)

// Builder is a local event before it is hashed, signed and named: the
// fields the server decides, in room-version-neutral form. Build turns it
// into the shape of the room version.
type Builder struct {
	// RoomID is the room. It must be empty for the create event of a
	// room version 12 room, whose room ID is derived from that event.
	RoomID string
	// Sender is the user ID sending the event.
	Sender string
	// Type is the event type.
	Type string
	// StateKey makes the event a state event when not nil.
	StateKey *string
	// Content is the content object as JSON; nil means {}.
	Content json.RawMessage
	// PrevEvents are the IDs of the events this one follows in the DAG.
	PrevEvents []string
	// AuthEvents are the IDs of the events that authorise this one. In
	// room version 12 the create event is implied by the room ID and Build
	// leaves it out if listed.
	AuthEvents []string
	// Depth is the event's depth in the DAG.
	Depth int64
	// OriginServerTS is the sending time in milliseconds since the epoch.
	OriginServerTS int64
	// Redacts is the event an m.room.redaction redacts; Build puts it at
	// the top level before room version 11 and in content from then on.
	Redacts string
	// RefHashes gives, for room versions 1 and 2, the reference hash in
	// unpadded base64 to quote with a prev or auth event ID. IDs it lacks
	// are quoted with an empty hashes object, as other servers do: no
	// server checks these hashes.
	RefHashes map[string]string
}

// builderPool recycles the scratch buffers Build hashes and signs from.
var builderPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Build makes a local event for the server origin: it writes the builder's
// fields in the shape of room version v as canonical JSON, adds the content
// hash, signs the redacted form with key and derives the event ID. rand is
// read only in room versions 1 and 2, whose event IDs are random; core code
// has no randomness of its own.
//
// Build canonicalises only the content and writes every other field in
// canonical form directly, so the event is encoded once; the content hash,
// signature and reference hash are computed from that encoding. Errors about
// the builder's fields wrap ErrInvalid.
func Build(b Builder, v *roomversion.Version, origin string, key signing.Key, rand io.Reader) (*PDU, error) {
	if v == nil {
		return nil, errNilVersion
	}
	if origin == "" || !validString(origin) {
		return nil, fmt.Errorf("event: build: invalid origin %q", origin)
	}
	if !validString(key.ID) {
		return nil, fmt.Errorf("event: build: invalid key ID %q", key.ID)
	}
	if err := b.check(v); err != nil {
		return nil, err
	}
	eventID := ""
	if v.EventIDFormat == roomversion.EventIDInEvent {
		if rand == nil {
			return nil, errors.New("event: build: room version " + v.ID + " needs a random source for event IDs")
		}
		var r [15]byte
		if _, err := io.ReadFull(rand, r[:]); err != nil {
			return nil, fmt.Errorf("event: build: random event ID: %w", err)
		}
		eventID = "$" + b64.EncodeURL(r[:]) + ":" + origin
	}

	scratch := builderPool.Get().(*[]byte)
	defer builderPool.Put(scratch)
	// h is the event without hashes and signatures: exactly what the
	// content hash covers. at records where those two members belong in it
	// and where the parts the PDU points at are.
	h, at, err := b.appendUnsigned((*scratch)[:0], v, origin, eventID)
	if err != nil {
		*scratch = h[:0]
		return nil, err
	}
	sum := sha256.Sum256(h)

	const hashesPrefix, hashesSuffix = `,"hashes":{"sha256":"`, `"}`
	hashesLen := len(hashesPrefix) + hashLen + len(hashesSuffix)
	// `,"signatures":{"origin":{"keyID":"sig"}}`, escapes aside.
	sigLen := len(`,"signatures":{"":{"":""}}`) + len(origin) + len(key.ID) + b64.EncodedLen(signing.SignatureSize)
	var sigBuf [192]byte
	sigMember := sigBuf[:0]
	out := make([]byte, 0, len(h)+hashesLen+sigLen)
	out = append(out, h[:at.hashes]...)
	out = append(out, hashesPrefix...)
	hashStart := len(out)
	out = b64.AppendEncode(out, sum[:])
	hashEnd := len(out)
	out = append(out, hashesSuffix...)
	out = append(out, h[at.hashes:]...)
	at.shift(hashesLen)
	sigAt := at.sigs
	*scratch = h[:0]

	// The redacted form without signatures is what the signature and the
	// reference hash cover.
	signed, err := appendRedacted((*scratch)[:0], out, v, b.Type, false)
	if err != nil {
		return nil, fmt.Errorf("event: build: redact: %w", err)
	}
	*scratch = signed[:0]
	sig, err := key.Sign(signed)
	if err != nil {
		return nil, fmt.Errorf("event: build: %w", err)
	}
	if v.EventIDFormat != roomversion.EventIDInEvent {
		ref := sha256.Sum256(signed)
		eventID = eventIDFromHash(ref[:], v)
	}

	sigMember = append(sigMember, `,"signatures":{`...)
	sigMember = appendString(sigMember, origin)
	sigMember = append(sigMember, `:{`...)
	sigMember = appendString(sigMember, key.ID)
	sigMember = append(sigMember, ':', '"')
	sigStart := len(sigMember)
	sigMember = b64.AppendEncode(sigMember, sig)
	sigEnd := len(sigMember)
	sigMember = append(sigMember, '"', '}', '}')
	n := len(out)
	out = append(out, sigMember...) // grow, then move the tail up
	copy(out[sigAt+len(sigMember):], out[sigAt:n])
	copy(out[sigAt:], sigMember)

	if len(out) > MaxPDUSize {
		return nil, fmt.Errorf("%w: event is %d bytes, over the %d byte limit", ErrInvalid, len(out), MaxPDUSize)
	}
	// The fields are known: fill them in rather than decode the event
	// again. TestBuildRoundTrip checks they are what Parse would find.
	p := &PDU{version: v, id: eventID, raw: out, canon: out}
	f := &p.f
	if v.EventIDFormat == roomversion.EventIDInEvent {
		f.EventID = eventID
	}
	if !v.UpdatedRedactionRules {
		f.Origin = origin
	}
	if !v.RedactsInContent {
		f.Redacts = b.Redacts
	}
	if b.StateKey != nil {
		sk := *b.StateKey
		f.StateKey = &sk
	}
	f.RoomID, f.Sender, f.Type = b.RoomID, b.Sender, b.Type
	f.Depth, f.OriginServerTS = b.Depth, b.OriginServerTS
	f.Content = out[at.content:at.contentEnd:at.contentEnd]
	f.AuthEvents = out[at.auth:at.authEnd:at.authEnd]
	f.PrevEvents = out[at.prev:at.prevEnd:at.prevEnd]
	f.SHA256 = string(out[hashStart:hashEnd])
	f.Signatures = map[string]map[string]string{origin: {key.ID: string(sigMember[sigStart:sigEnd])}}
	f.authIDs = make([]string, 0, len(b.AuthEvents))
	for _, id := range b.AuthEvents {
		if id != at.skipAuth {
			f.authIDs = append(f.authIDs, id)
		}
	}
	f.prevIDs = append(make([]string, 0, len(b.PrevEvents)), b.PrevEvents...)
	if err := p.decodeContent(); err != nil {
		return nil, fmt.Errorf("event: build: %w", err)
	}
	return p, nil
}

// offsets records where Build wrote the members it needs to find again.
type offsets struct {
	hashes, sigs        int // where the hashes and signatures members go
	auth, authEnd       int // the auth_events array
	content, contentEnd int // the content object
	prev, prevEnd       int // the prev_events array
	skipAuth            string
}

// shift moves the offsets after the hashes member by n bytes.
func (o *offsets) shift(n int) {
	o.sigs += n
	o.prev += n
	o.prevEnd += n
}

// check validates the builder's fields for room version v.
func (b *Builder) check(v *roomversion.Version) error {
	if b.Type == "" || !validString(b.Type) {
		return fmt.Errorf("%w: build: invalid type %q", ErrInvalid, b.Type)
	}
	if serverOf(b.Sender, '@') == "" || !validString(b.Sender) {
		return fmt.Errorf("%w: build: invalid sender %q", ErrInvalid, b.Sender)
	}
	if b.StateKey != nil && !validString(*b.StateKey) {
		return fmt.Errorf("%w: build: state key is not valid UTF-8", ErrInvalid)
	}
	if b.isCreate() && v.RoomIDFromCreateEvent {
		if b.RoomID != "" {
			return fmt.Errorf("%w: build: a room version %s create event has no room ID (got %q)", ErrInvalid, v.ID, b.RoomID)
		}
	} else if len(b.RoomID) < 2 || b.RoomID[0] != '!' || !validString(b.RoomID) {
		return fmt.Errorf("%w: build: invalid room ID %q", ErrInvalid, b.RoomID)
	}
	for _, ids := range [2][]string{b.PrevEvents, b.AuthEvents} {
		for _, id := range ids {
			if len(id) < 2 || id[0] != '$' || !validString(id) {
				return fmt.Errorf("%w: build: invalid event ID %q", ErrInvalid, id)
			}
			if h, ok := b.RefHashes[id]; ok && !validString(h) {
				return fmt.Errorf("%w: build: invalid reference hash for %s", ErrInvalid, id)
			}
		}
	}
	const maxSafe = 1<<53 - 1
	if b.Depth < 0 || (v.StrictCanonicalJSON && b.Depth > maxSafe) {
		return fmt.Errorf("%w: build: depth %d out of range", ErrInvalid, b.Depth)
	}
	if v.StrictCanonicalJSON && (b.OriginServerTS > maxSafe || b.OriginServerTS < -maxSafe) {
		return fmt.Errorf("%w: build: origin_server_ts %d out of range", ErrInvalid, b.OriginServerTS)
	}
	if b.Redacts != "" {
		if b.Type != "m.room.redaction" {
			return fmt.Errorf("%w: build: redacts on a %s event", ErrInvalid, b.Type)
		}
		if b.Redacts[0] != '$' || !validString(b.Redacts) {
			return fmt.Errorf("%w: build: invalid redacts %q", ErrInvalid, b.Redacts)
		}
	}
	return nil
}

// isCreate reports whether the builder makes the room's create event.
func (b *Builder) isCreate() bool {
	return b.Type == "m.room.create" && b.StateKey != nil && *b.StateKey == ""
}

// appendUnsigned appends the event as canonical JSON without hashes and
// signatures, and returns where its parts are and where those members
// belong.
func (b *Builder) appendUnsigned(dst []byte, v *roomversion.Version, origin, eventID string) (out []byte, at offsets, err error) {
	strict := v.StrictCanonicalJSON
	if v.RoomIDFromCreateEvent && len(b.RoomID) > 1 {
		at.skipAuth = "$" + b.RoomID[1:]
	}
	dst = append(dst, `{"auth_events":`...)
	at.auth = len(dst)
	dst = b.appendRefs(dst, v, b.AuthEvents, at.skipAuth)
	at.authEnd = len(dst)
	dst = append(dst, `,"content":`...)
	contentAt := len(dst)
	content := []byte(b.Content)
	if len(content) == 0 {
		content = []byte("{}")
	}
	if dst, err = canonicaljson.AppendCanonical(dst, content, strict); err != nil {
		return dst, at, fmt.Errorf("%w: build: content: %v", ErrInvalid, err)
	}
	if dst[contentAt] != '{' {
		return dst, at, fmt.Errorf("%w: build: content is not a JSON object", ErrInvalid)
	}
	if b.Redacts != "" && v.RedactsInContent {
		c, err := withRedacts(dst[contentAt:], b.Redacts)
		if err != nil {
			return dst, at, err
		}
		dst = append(dst[:contentAt], c...)
	}
	at.content, at.contentEnd = contentAt, len(dst)
	dst = append(dst, `,"depth":`...)
	dst = strconv.AppendInt(dst, b.Depth, 10)
	if eventID != "" {
		dst = append(dst, `,"event_id":`...)
		dst = appendString(dst, eventID)
	}
	at.hashes = len(dst)
	if !v.UpdatedRedactionRules {
		// Room versions before 11 sign the origin key; servers of
		// those versions expect it.
		dst = append(dst, `,"origin":`...)
		dst = appendString(dst, origin)
	}
	dst = append(dst, `,"origin_server_ts":`...)
	dst = strconv.AppendInt(dst, b.OriginServerTS, 10)
	dst = append(dst, `,"prev_events":`...)
	at.prev = len(dst)
	dst = b.appendRefs(dst, v, b.PrevEvents, "")
	at.prevEnd = len(dst)
	if b.Redacts != "" && !v.RedactsInContent {
		dst = append(dst, `,"redacts":`...)
		dst = appendString(dst, b.Redacts)
	}
	if b.RoomID != "" {
		dst = append(dst, `,"room_id":`...)
		dst = appendString(dst, b.RoomID)
	}
	dst = append(dst, `,"sender":`...)
	dst = appendString(dst, b.Sender)
	at.sigs = len(dst)
	if b.StateKey != nil {
		dst = append(dst, `,"state_key":`...)
		dst = appendString(dst, *b.StateKey)
	}
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, b.Type)
	dst = append(dst, '}')
	return dst, at, nil
}

// appendRefs writes prev_events or auth_events, leaving out skip: a list of
// IDs, or in room versions 1 and 2 of [ID, hashes] pairs.
func (b *Builder) appendRefs(dst []byte, v *roomversion.Version, ids []string, skip string) []byte {
	dst = append(dst, '[')
	first := true
	for _, id := range ids {
		if id == skip {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if v.EventIDFormat != roomversion.EventIDInEvent {
			dst = appendString(dst, id)
			continue
		}
		dst = append(dst, '[')
		dst = appendString(dst, id)
		dst = append(dst, ",{"...)
		if h, ok := b.RefHashes[id]; ok {
			dst = append(dst, `"sha256":`...)
			dst = appendString(dst, h)
		}
		dst = append(dst, "}]"...)
	}
	return append(dst, ']')
}

// withRedacts returns the canonical content object with redacts set, for
// room version 11 and later. Content that already names a different event
// is refused.
func withRedacts(content []byte, redacts string) ([]byte, error) {
	m, found, err := findMember(content, "redacts")
	if err != nil {
		return nil, fmt.Errorf("%w: build: content: %v", ErrInvalid, err)
	}
	if found {
		if s, err := stringValue(m.value(content)); err != nil || s != redacts {
			return nil, fmt.Errorf("%w: build: content.redacts differs from Redacts %s", ErrInvalid, redacts)
		}
		return content, nil
	}
	c, err := setMember(content, "redacts", appendString(nil, redacts))
	if err != nil {
		return nil, fmt.Errorf("%w: build: content: %v", ErrInvalid, err)
	}
	return c, nil
}
