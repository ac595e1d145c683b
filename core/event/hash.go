package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
	"hearth/core/roomversion"
)

// ErrHashMismatch is wrapped by the error for an event whose content hash
// does not match its hashes.sha256. The spec treats it apart from a bad
// event: the receiver keeps the event but only in its redacted form
// (PDU.Redacted), assuming it was sent a redacted copy.
var ErrHashMismatch = errors.New("event: content hash mismatch")

// ContentHash returns the sha256 content hash of the event raw: the hash of
// its canonical JSON without "unsigned", "signatures" and "hashes"
// (server-server spec, "Calculating the content hash for an event"). It
// covers the whole unredacted event, so it shows whether a redacted copy
// was received. The hash does not depend on the room version.
func ContentHash(raw []byte) ([]byte, error) {
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(raw)), raw, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return contentHash(canon)
}

// contentHash is ContentHash of an event already in canonical JSON.
func contentHash(canon []byte) ([]byte, error) {
	var buf [1024]byte
	stripped, err := appendWithout(buf[:0], canon, func(key []byte) bool {
		switch string(key) {
		case `"unsigned"`, `"signatures"`, `"hashes"`:
			return true
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sum := sha256.Sum256(stripped)
	return sum[:], nil
}

// CheckContentHash checks that the event raw carries the right content hash
// in hashes.sha256. The error wraps ErrHashMismatch when the hash differs
// and ErrInvalid when the event has no readable hash.
func CheckContentHash(raw []byte) error {
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(raw)), raw, false)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return checkContentHash(canon)
}

// CheckContentHash is the package function CheckContentHash for a parsed
// event, without canonicalising it again.
func (p *PDU) CheckContentHash() error { return checkContentHash(p.canon) }

// checkContentHash is CheckContentHash of an event in canonical JSON.
func checkContentHash(canon []byte) error {
	hashes, found, err := findMember(canon, "hashes")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !found || !isObject(hashes.value(canon)) {
		return fmt.Errorf("%w: no hashes object", ErrInvalid)
	}
	h, found, err := findMember(hashes.value(canon), "sha256")
	if err != nil {
		return fmt.Errorf("%w: hashes: %v", ErrInvalid, err)
	}
	if !found {
		return fmt.Errorf("%w: no sha256 content hash", ErrInvalid)
	}
	text, err := stringValue(h.value(hashes.value(canon)))
	if err != nil {
		return fmt.Errorf("%w: hashes.sha256: %v", ErrInvalid, err)
	}
	claimed, err := b64.Decode(text)
	if err != nil {
		return fmt.Errorf("%w: hashes.sha256: %v", ErrInvalid, err)
	}
	actual, err := contentHash(canon)
	if err != nil {
		return err
	}
	if !bytes.Equal(claimed, actual) {
		return fmt.Errorf("%w: hashes.sha256 is %s, the content hashes to %s", ErrHashMismatch, text, b64.Encode(actual))
	}
	return nil
}

// ReferenceHash returns the sha256 reference hash of the event raw under
// room version v: the hash of the canonical JSON of its redacted form
// without "signatures" and "unsigned" (server-server spec, "Calculating the
// reference hash for an event"). Event IDs from room version 3 on are this
// hash; in room versions 1 and 2 it is what prev_events and auth_events
// quote.
func ReferenceHash(raw []byte, v *roomversion.Version) ([]byte, error) {
	if v == nil {
		return nil, errNilVersion
	}
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(raw)), raw, v.StrictCanonicalJSON)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	typ, err := topLevelType(canon)
	if err != nil {
		return nil, err
	}
	return referenceHash(canon, v, typ)
}

// ReferenceHash returns the event's sha256 reference hash (see the package
// function ReferenceHash).
func (p *PDU) ReferenceHash() ([]byte, error) { return p.referenceHash() }

func (p *PDU) referenceHash() ([]byte, error) {
	return referenceHash(p.canon, p.version, p.f.Type)
}

// referenceHash hashes the signed bytes of the canonical event canon.
func referenceHash(canon []byte, v *roomversion.Version, typ string) ([]byte, error) {
	var buf [1024]byte
	signed, err := appendRedacted(buf[:0], canon, v, typ, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sum := sha256.Sum256(signed)
	return sum[:], nil
}

// EventID returns the ID of the event raw under room version v: its
// event_id field in room versions 1 and 2; from version 3 on, "$" and the
// reference hash in unpadded base64, the standard alphabet in version 3 and
// the URL-safe one from version 4.
func EventID(raw []byte, v *roomversion.Version) (string, error) {
	if v == nil {
		return "", errNilVersion
	}
	if v.EventIDFormat == roomversion.EventIDInEvent {
		canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(raw)), raw, v.StrictCanonicalJSON)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		m, found, err := findMember(canon, "event_id")
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if !found {
			return "", fmt.Errorf("%w: missing event_id", ErrInvalid)
		}
		id, err := stringValue(m.value(canon))
		if err != nil {
			return "", fmt.Errorf("%w: event_id: %v", ErrInvalid, err)
		}
		return id, nil
	}
	ref, err := ReferenceHash(raw, v)
	if err != nil {
		return "", err
	}
	return eventIDFromHash(ref, v), nil
}

// eventIDFromHash formats a reference hash as an event ID of version v
// (3 or later).
func eventIDFromHash(ref []byte, v *roomversion.Version) string {
	var buf [64]byte
	id := append(buf[:0], '$')
	if v.EventIDFormat == roomversion.EventIDHashStd {
		id = base64.RawStdEncoding.AppendEncode(id, ref)
	} else {
		id = base64.RawURLEncoding.AppendEncode(id, ref)
	}
	return string(id)
}

// appendWithout appends the canonical object obj to dst without the
// members whose quoted keys drop reports.
func appendWithout(dst, obj []byte, drop func(key []byte) bool) ([]byte, error) {
	s, err := newObjectScanner(obj)
	if err != nil {
		return nil, err
	}
	dst = append(dst, '{')
	first := true
	for {
		m, ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return append(dst, '}'), nil
		}
		if drop(m.key(obj)) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, obj[m.start:m.end]...)
	}
}
