package event

import (
	"crypto/sha256"
	"fmt"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
	"hearth/core/roomversion"
	"hearth/core/signing"
)

// Sign signs the event raw of room version v as serverName with key and
// returns it as canonical JSON with the signature added to any already
// there (server-server spec, "Adding hashes and signatures to outgoing
// events"). The signature covers the redacted event, so it survives
// redaction, and the content hash, which Sign computes and adds first if
// the event has none, covers the rest.
//
// Sign is for events that are not built here: a make_join, make_knock or
// make_leave template, an invite this server is asked to countersign, a
// restricted join this server authorises. Events of this server are made
// by Build.
func Sign(raw []byte, v *roomversion.Version, serverName string, key signing.Key) ([]byte, error) {
	if v == nil {
		return nil, errNilVersion
	}
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(raw)+256), raw, v.StrictCanonicalJSON)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	typ, err := topLevelType(canon)
	if err != nil {
		return nil, err
	}
	if canon, err = ensureContentHash(canon); err != nil {
		return nil, err
	}
	return signCanonical(canon, v, typ, serverName, key)
}

// Sign returns the event with serverName's signature by key added, for a
// server that countersigns an event it received (an invite to one of its
// users, a restricted join it authorises). The event ID does not change:
// signatures are outside the reference hash.
func (p *PDU) Sign(serverName string, key signing.Key) (*PDU, error) {
	out, err := signCanonical(p.canon, p.version, p.f.Type, serverName, key)
	if err != nil {
		return nil, err
	}
	q := &PDU{version: p.version, id: p.id, raw: out, canon: out, trusted: p.trusted}
	if err := q.decodeCanonical(); err != nil {
		return nil, err
	}
	return q, nil
}

// ensureContentHash returns the canonical event canon with hashes.sha256
// set to its content hash when it has none.
func ensureContentHash(canon []byte) ([]byte, error) {
	hashes := []byte("{}")
	m, found, err := findMember(canon, "hashes")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if found {
		hashes = m.value(canon)
		if !isObject(hashes) {
			return nil, fmt.Errorf("%w: hashes is not an object", ErrInvalid)
		}
		if _, has, err := findMember(hashes, "sha256"); err != nil || has {
			if err != nil {
				return nil, fmt.Errorf("%w: hashes: %v", ErrInvalid, err)
			}
			return canon, nil
		}
	}
	sum, err := contentHash(canon)
	if err != nil {
		return nil, err
	}
	val := appendQuotedHash(nil, sum)
	if hashes, err = setMember(hashes, "sha256", val); err != nil {
		return nil, fmt.Errorf("%w: hashes: %v", ErrInvalid, err)
	}
	if canon, err = setMember(canon, "hashes", hashes); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return canon, nil
}

// signCanonical signs the canonical event canon of type typ and returns it
// with the signature spliced into "signatures".
func signCanonical(canon []byte, v *roomversion.Version, typ, serverName string, key signing.Key) ([]byte, error) {
	if serverName == "" || !validString(serverName) {
		return nil, fmt.Errorf("event: sign: invalid server name %q", serverName)
	}
	if !validString(key.ID) {
		return nil, fmt.Errorf("event: sign: invalid key ID %q", key.ID)
	}
	var buf [1024]byte
	signed, err := appendRedacted(buf[:0], canon, v, typ, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sig, err := key.Sign(signed)
	if err != nil {
		return nil, fmt.Errorf("event: sign: %w", err)
	}
	return addSignature(canon, serverName, key.ID, sig)
}

// addSignature returns the canonical event canon with sig stored under
// signatures.<serverName>.<keyID>, keeping every other signature.
func addSignature(canon []byte, serverName, keyID string, sig []byte) ([]byte, error) {
	sigs, byServer := []byte("{}"), []byte("{}")
	m, found, err := findMember(canon, "signatures")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if found {
		sigs = m.value(canon)
		if !isObject(sigs) {
			return nil, fmt.Errorf("%w: signatures is not an object", ErrInvalid)
		}
		s, found, err := findMember(sigs, serverName)
		if err != nil {
			return nil, fmt.Errorf("%w: signatures: %v", ErrInvalid, err)
		}
		if found {
			byServer = s.value(sigs)
			if !isObject(byServer) {
				return nil, fmt.Errorf("%w: signatures of %s are not an object", ErrInvalid, serverName)
			}
		}
	}
	val := make([]byte, 0, 2+b64.EncodedLen(len(sig)))
	val = append(val, '"')
	val = b64.AppendEncode(val, sig)
	val = append(val, '"')
	if byServer, err = setMember(byServer, keyID, val); err != nil {
		return nil, fmt.Errorf("%w: signatures: %v", ErrInvalid, err)
	}
	if sigs, err = setMember(sigs, serverName, byServer); err != nil {
		return nil, fmt.Errorf("%w: signatures: %v", ErrInvalid, err)
	}
	out, err := setMember(canon, "signatures", sigs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return out, nil
}

// appendQuotedHash appends a sha256 sum as a quoted unpadded base64 string.
func appendQuotedHash(dst, sum []byte) []byte {
	dst = append(dst, '"')
	dst = b64.AppendEncode(dst, sum)
	return append(dst, '"')
}

// hashLen is the length of a sha256 sum in unpadded base64.
var hashLen = b64.EncodedLen(sha256.Size)
