package event

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"hearth/core/canonicaljson"
	"hearth/core/mxid"
	"hearth/core/roomversion"
)

// maxRawPDUSize bounds the input Parse will canonicalise at all. The size
// limit applies to the canonical form, which can be much smaller than
// indented input, so the raw bound is looser; it only stops hostile input
// from costing more than a few events' worth of work.
const maxRawPDUSize = 4 * MaxPDUSize

// errNilVersion is returned when a caller passes no room version, a
// programming error rather than a fault of the event.
var errNilVersion = errors.New("event: nil room version")

// Parse checks untrusted event JSON, as received over federation, against
// the event format of room version v and returns the event with its derived
// ID. It rejects events whose canonical JSON exceeds MaxPDUSize, JSON that
// canonical JSON does not allow (in room version 6 and later that includes
// floats and integers beyond ±(2^53-1)), fields of the wrong type, and
// missing required fields. Every such error wraps ErrInvalid.
//
// Parse does not check signatures or the content hash (VerifySignatures and
// CheckContentHash do) nor the authorisation rules. The event ID comes from
// the event_id field in room versions 1 and 2 and from the reference hash
// from version 3 on, where any event_id field is ignored. raw is kept for
// JSON and must not be modified afterwards.
func Parse(raw []byte, v *roomversion.Version) (*PDU, error) {
	if v == nil {
		return nil, errNilVersion
	}
	if len(raw) > maxRawPDUSize {
		return nil, fmt.Errorf("%w: event is %d bytes of JSON, far over the %d byte limit", ErrInvalid, len(raw), MaxPDUSize)
	}
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(raw)), raw, v.StrictCanonicalJSON)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(canon) > MaxPDUSize {
		return nil, fmt.Errorf("%w: event is %d bytes of canonical JSON, over the %d byte limit", ErrInvalid, len(canon), MaxPDUSize)
	}
	p := &PDU{version: v, raw: raw, canon: canon}
	if bytes.Equal(raw, canon) {
		p.raw = canon // keep one copy, and not the caller's buffer
	}
	if err := p.decodeCanonical(); err != nil {
		return nil, err
	}
	if v.EventIDFormat == roomversion.EventIDInEvent {
		p.id = p.f.EventID
		return p, nil
	}
	ref, err := p.referenceHash()
	if err != nil {
		return nil, err
	}
	p.id = eventIDFromHash(ref, v)
	return p, nil
}

// invalidf returns an error wrapping ErrInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// decodeCanonical fills p.f from p.canon and checks field types and, for
// parsed events, the fields the room version requires.
func (p *PDU) decodeCanonical() error {
	p.f = fields{}
	f := &p.f
	canon := p.canon
	s, err := newObjectScanner(canon)
	if err != nil {
		return invalidf("event is not a JSON object")
	}
	var has struct {
		content, depth, ts, prev, auth, hashes, sigs, roomID, eventID bool
	}
	for {
		m, ok, err := s.next()
		if err != nil {
			return invalidf("%v", err)
		}
		if !ok {
			break
		}
		val := m.value(canon)
		key := m.key(canon)
		switch string(key) {
		case `"auth_events"`:
			if f.authIDs, err = p.eventRefs(val); err != nil {
				return invalidf("auth_events: %v", err)
			}
			f.AuthEvents, has.auth = val, true
		case `"content"`:
			if !isObject(val) {
				return invalidf("content is not an object")
			}
			f.Content, has.content = val, true
		case `"depth"`:
			if f.Depth, err = integer(val); err != nil {
				return invalidf("depth: %v", err)
			}
			if f.Depth < 0 {
				return invalidf("depth %d is negative", f.Depth)
			}
			has.depth = true
		case `"event_id"`:
			if f.EventID, err = stringValue(val); err != nil {
				return invalidf("event_id: %v", err)
			}
			has.eventID = true
		case `"hashes"`:
			if err := p.decodeHashes(val); err != nil {
				return err
			}
			has.hashes = true
		case `"origin"`:
			// Not part of any current event format; kept for old
			// versions' accessor, ignored when it is not a string.
			if isString(val) {
				f.Origin, _ = unquote(val)
			}
		case `"origin_server_ts"`:
			if f.OriginServerTS, err = integer(val); err != nil {
				return invalidf("origin_server_ts: %v", err)
			}
			has.ts = true
		case `"prev_events"`:
			if f.prevIDs, err = p.eventRefs(val); err != nil {
				return invalidf("prev_events: %v", err)
			}
			f.PrevEvents, has.prev = val, true
		case `"redacts"`:
			if isString(val) {
				f.Redacts, _ = unquote(val)
			} else if !p.version.RedactsInContent {
				return invalidf("redacts is not a string")
			}
		case `"room_id"`:
			if f.RoomID, err = stringValue(val); err != nil {
				return invalidf("room_id: %v", err)
			}
			has.roomID = true
		case `"sender"`:
			if f.Sender, err = stringValue(val); err != nil {
				return invalidf("sender: %v", err)
			}
		case `"signatures"`:
			if f.Signatures, err = decodeSignatures(val); err != nil {
				return invalidf("signatures: %v", err)
			}
			has.sigs = true
		case `"state_key"`:
			sk, err := stringValue(val)
			if err != nil {
				return invalidf("state_key: %v", err)
			}
			f.StateKey = &sk
		case `"type"`:
			if f.Type, err = stringValue(val); err != nil {
				return invalidf("type: %v", err)
			}
		case `"unsigned"`:
			if !isObject(val) {
				return invalidf("unsigned is not an object")
			}
			f.Unsigned = val
		}
	}
	if err := p.decodeContent(); err != nil {
		return err
	}

	// What every event needs, trusted or not.
	if f.Type == "" {
		return invalidf("missing type")
	}
	if f.Sender == "" {
		return invalidf("missing sender")
	}
	v := p.version
	createV12 := v.RoomIDFromCreateEvent && p.IsCreate()
	if f.RoomID == "" && !createV12 {
		return invalidf("missing room_id")
	}
	if p.trusted {
		return nil
	}

	// The event format of the room version, for untrusted events.
	switch {
	case !has.content:
		return invalidf("missing content")
	case !has.depth:
		return invalidf("missing depth")
	case !has.ts:
		return invalidf("missing origin_server_ts")
	case !has.prev:
		return invalidf("missing prev_events")
	case !has.auth:
		return invalidf("missing auth_events")
	case !has.hashes:
		return invalidf("missing hashes")
	case !has.sigs:
		return invalidf("missing signatures")
	}
	if serverOf(f.Sender, '@') == "" {
		return invalidf("sender %q is not a user ID", f.Sender)
	}
	if v.EventIDFormat == roomversion.EventIDInEvent {
		if !has.eventID {
			return invalidf("missing event_id")
		}
		if serverOf(f.EventID, '$') == "" {
			return invalidf("event_id %q is not an event ID of the form $opaque:server", f.EventID)
		}
	}
	if createV12 {
		if has.roomID {
			return invalidf("a room version %s create event must not have a room_id", v.ID)
		}
	} else if !strings.HasPrefix(f.RoomID, "!") {
		return invalidf("room_id %q is not a room ID", f.RoomID)
	}
	if v.RoomIDFromCreateEvent && !createV12 {
		createID := "$" + f.RoomID[1:]
		for _, id := range f.authIDs {
			if id == createID {
				return invalidf("auth_events lists the create event %s, which room version %s implies by room_id", id, v.ID)
			}
		}
	}
	return nil
}

// decodeHashes reads the hashes object, which must name a sha256 hash in
// untrusted events.
func (p *PDU) decodeHashes(val []byte) error {
	if !isObject(val) {
		return invalidf("hashes is not an object")
	}
	m, found, err := findMember(val, "sha256")
	if err != nil {
		return invalidf("hashes: %v", err)
	}
	if !found {
		if p.trusted {
			return nil
		}
		return invalidf("hashes has no sha256")
	}
	if p.f.SHA256, err = stringValue(m.value(val)); err != nil {
		return invalidf("hashes.sha256: %v", err)
	}
	return nil
}

// decodeContent reads the content keys that signature checks and Redacts
// depend on: membership, join_authorised_via_users_server and
// third_party_invite of m.room.member, redacts of m.room.redaction.
func (p *PDU) decodeContent() error {
	f := &p.f
	if f.Content == nil || (f.Type != "m.room.member" && f.Type != "m.room.redaction") {
		return nil
	}
	s, err := newObjectScanner(f.Content)
	if err != nil {
		return invalidf("content: %v", err)
	}
	authoriserSet := false
	for {
		m, ok, err := s.next()
		if err != nil {
			return invalidf("content: %v", err)
		}
		if !ok {
			break
		}
		val := m.value(f.Content)
		switch string(m.key(f.Content)) {
		case `"membership"`:
			if isString(val) {
				f.membership, _ = unquote(val)
			}
		case `"join_authorised_via_users_server"`:
			authoriserSet = true
			if isString(val) {
				f.authorisingUser, _ = unquote(val)
			}
		case `"third_party_invite"`:
			f.thirdPartyInvite = true
		case `"redacts"`:
			if isString(val) {
				f.contentRedacts, _ = unquote(val)
			} else if f.Type == "m.room.redaction" && p.version.RedactsInContent && !p.trusted {
				return invalidf("content.redacts is not a string")
			}
		}
	}
	if f.Type != "m.room.member" {
		f.membership, f.authorisingUser, f.thirdPartyInvite = "", "", false
		return nil
	}
	if f.membership == "join" && authoriserSet &&
		p.version.RestrictedJoins && !p.trusted && serverOf(f.authorisingUser, '@') == "" {
		// The authorising user's server must sign the join, so it must
		// be known.
		return invalidf("join_authorised_via_users_server is not a user ID")
	}
	return nil
}

// eventRefs reads prev_events or auth_events: a list of event IDs, or in
// room versions 1 and 2 a list of [event ID, hashes] pairs. Trusted events
// of those versions may also list bare IDs, as some old servers sent.
func (p *PDU) eventRefs(val []byte) ([]string, error) {
	if !isArray(val) {
		return nil, errors.New("not an array")
	}
	ids := make([]string, 0, 4)
	pairs := p.version.EventIDFormat == roomversion.EventIDInEvent
	err := arrayElements(val, func(elem []byte) error {
		if pairs && !(p.trusted && isString(elem)) {
			id, err := eventRefPair(elem, p.trusted)
			if err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		}
		id, err := stringValue(elem)
		if err != nil {
			return fmt.Errorf("event reference: %v", err)
		}
		if !p.trusted && !strings.HasPrefix(id, "$") {
			return fmt.Errorf("%q is not an event ID", id)
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// eventRefPair reads one [event ID, {"sha256": ...}] reference of room
// versions 1 and 2. The hashes object is not otherwise checked: servers
// have long sent it empty.
func eventRefPair(elem []byte, trusted bool) (string, error) {
	if !isArray(elem) {
		return "", errors.New("reference is not an [event ID, hashes] pair")
	}
	var parts [2][]byte
	n := 0
	err := arrayElements(elem, func(e []byte) error {
		if n < len(parts) {
			parts[n] = e
		}
		n++
		return nil
	})
	if err != nil {
		return "", err
	}
	if n == 0 || (!trusted && (n != 2 || !isObject(parts[1]))) {
		return "", errors.New("reference is not an [event ID, hashes] pair")
	}
	id, err := stringValue(parts[0])
	if err != nil {
		return "", fmt.Errorf("reference event ID: %v", err)
	}
	if !trusted && !strings.HasPrefix(id, "$") {
		return "", fmt.Errorf("%q is not an event ID", id)
	}
	return id, nil
}

// decodeSignatures reads the signatures object: server name to key ID to
// unpadded base64 signature.
func decodeSignatures(val []byte) (map[string]map[string]string, error) {
	servers, err := newObjectScanner(val)
	if err != nil {
		return nil, errors.New("not an object")
	}
	out := make(map[string]map[string]string, 1)
	for {
		m, ok, err := servers.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		name, err := unquote(m.key(val))
		if err != nil {
			return nil, err
		}
		byKey := m.value(val)
		keys, err := newObjectScanner(byKey)
		if err != nil {
			return nil, fmt.Errorf("signatures of %s are not an object", name)
		}
		sigs := make(map[string]string, 1)
		for {
			k, ok, err := keys.next()
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			keyID, err := unquote(k.key(byKey))
			if err != nil {
				return nil, err
			}
			if sigs[keyID], err = stringValue(k.value(byKey)); err != nil {
				return nil, fmt.Errorf("signature of %s with %s: %v", name, keyID, err)
			}
		}
		out[name] = sigs
	}
}

// stringValue decodes a JSON value that must be a string.
func stringValue(val []byte) (string, error) {
	if !isString(val) {
		return "", errors.New("not a string")
	}
	return unquote(val)
}

// integer decodes a JSON value that must be an integer in int64 range. In
// canonical JSON integers are plain digits with an optional minus sign.
func integer(val []byte) (int64, error) {
	digits := val
	neg := len(digits) > 0 && digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, errors.New("not an integer in range")
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errors.New("not an integer")
		}
		n = n*10 + uint64(c-'0')
	}
	if (!neg && n > 1<<63-1) || (neg && n > 1<<63) {
		return 0, errors.New("not an integer in range")
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

// serverOf returns the server name of a Matrix identifier with the given
// sigil: everything after the first colon. It returns "" when the
// identifier has the wrong sigil, no colon, or an empty server part. The
// localpart grammar has no colon, so the first one is the separator.
func serverOf(id string, sigil byte) string {
	if len(id) < 3 || id[0] != sigil {
		return ""
	}
	return mxid.ServerOf(id)
}
