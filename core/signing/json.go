// Package signing holds a server's ed25519 signing keys and implements
// Matrix JSON signing (spec appendices, "Signing JSON"): an object is signed
// by removing its "signatures" and "unsigned" members, encoding the rest as
// canonical JSON, signing those bytes with ed25519, and storing the unpadded
// base64 signature under signatures.<signing name>.<key ID>.
//
// Every event, federation request and key response passes through this
// package, so it canonicalises an object once and then finds, strips and
// inserts members by byte offsets in the canonical text rather than
// decoding it into maps and encoding it again.
package signing

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
)

// ErrNoSignature is wrapped by errors for an object that carries no
// signature for the requested signing name and key ID, so callers can tell
// a missing signature from a wrong one.
var ErrNoSignature = errors.New("signing: no signature")

// ErrBadSignature is wrapped by errors for a signature that is present but
// does not verify with the given public key.
var ErrBadSignature = errors.New("signing: signature does not verify")

// Signature is one entry of an object's "signatures": the signing entity
// (a server name, or a user ID for user-signed objects), the key ID, and the
// signature as written, in unpadded base64.
type Signature struct {
	// SigningName is the entity that signed, usually a server name.
	SigningName string
	// KeyID is the ID of the key used, such as "ed25519:abc".
	KeyID string
	// Value is the signature in unpadded base64, exactly as stored.
	Value string
}

// Object is a JSON object prepared for signing or verification: it is
// canonicalised once, and its signed form (without "signatures" and
// "unsigned") is computed once, so checking several signatures on one
// object, as events from two servers need, does not parse it again.
type Object struct {
	canon    []byte // canonical form of the whole object
	signed   []byte // canonical form without "signatures" and "unsigned"
	sigs     member // the "signatures" member of canon, if hasSigs
	hasSigs  bool
	insertAt int // where a "signatures" member belongs in canon if absent
}

// ParseObject canonicalises the JSON object obj (accepting any JSON number,
// as room versions 1 to 5 do; strict number rules are the event layer's
// concern) and prepares it for signing and verification.
func ParseObject(obj []byte) (*Object, error) {
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(obj)+128), obj, false)
	if err != nil {
		return nil, fmt.Errorf("signing: canonicalise object: %w", err)
	}
	o := &Object{canon: canon, insertAt: -1}
	s, err := newObjectScanner(canon)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	var unsigned member
	hasUnsigned := false
	for {
		m, ok, err := s.next()
		if err != nil {
			return nil, fmt.Errorf("signing: scan object: %w", err)
		}
		if !ok {
			break
		}
		// Neither key needs escaping, so the canonical spelling is exact.
		switch string(m.key) {
		case `"signatures"`:
			o.sigs, o.hasSigs = m, true
		case `"unsigned"`:
			unsigned, hasUnsigned = m, true
		}
		if o.insertAt < 0 && !o.hasSigs {
			c, err := compareKey(m.key, "signatures")
			if err != nil {
				return nil, fmt.Errorf("signing: scan object: %w", err)
			}
			if c > 0 {
				o.insertAt = m.start
			}
		}
	}
	if o.insertAt < 0 {
		o.insertAt = len(canon) - 1
	}
	switch {
	case o.hasSigs && hasUnsigned:
		o.signed = without(canon, o.sigs, unsigned)
	case o.hasSigs:
		o.signed = without(canon, o.sigs)
	case hasUnsigned:
		o.signed = without(canon, unsigned)
	default:
		o.signed = canon
	}
	if o.hasSigs && (o.sigs.end-o.sigs.val < 2 || canon[o.sigs.val] != '{') {
		return nil, errors.New("signing: \"signatures\" is not an object")
	}
	return o, nil
}

// without returns the canonical object obj minus the given members, which
// must be in ascending order. Removing a member leaves at most a doubled or
// dangling comma between the kept runs, which is trimmed when they are
// joined.
func without(obj []byte, drop ...member) []byte {
	out := make([]byte, 0, len(obj))
	out = append(out, '{')
	prev := 1
	emit := func(run []byte) {
		if len(run) > 0 && run[0] == ',' {
			run = run[1:]
		}
		if len(run) > 0 && run[len(run)-1] == ',' {
			run = run[:len(run)-1]
		}
		if len(run) == 0 {
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, run...)
	}
	for _, m := range drop {
		emit(obj[prev:m.start])
		prev = m.end
	}
	emit(obj[prev : len(obj)-1])
	return append(out, '}')
}

// Canonical returns the canonical JSON of the whole object, signatures and
// "unsigned" included. The caller must not modify it.
func (o *Object) Canonical() []byte { return o.canon }

// SignedBytes returns the bytes that signatures cover: the canonical JSON of
// the object without "signatures" and "unsigned". The caller must not
// modify it.
func (o *Object) SignedBytes() []byte { return o.signed }

// Signature returns the decoded signature stored under
// signatures.<signingName>.<keyID>, or an error wrapping ErrNoSignature.
func (o *Object) Signature(signingName, keyID string) ([]byte, error) {
	if !o.hasSigs {
		return nil, fmt.Errorf("%w from %s with key %s: object has no signatures", ErrNoSignature, signingName, keyID)
	}
	sigs := o.canon[o.sigs.val:o.sigs.end]
	byName, found, err := find(sigs, signingName)
	if err != nil {
		return nil, fmt.Errorf("signing: read signatures: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("%w from %s with key %s", ErrNoSignature, signingName, keyID)
	}
	keys := sigs[byName.val:byName.end]
	if keys[0] != '{' {
		return nil, fmt.Errorf("signing: signatures of %s are not an object", signingName)
	}
	entry, found, err := find(keys, keyID)
	if err != nil {
		return nil, fmt.Errorf("signing: read signatures of %s: %w", signingName, err)
	}
	if !found {
		return nil, fmt.Errorf("%w from %s with key %s", ErrNoSignature, signingName, keyID)
	}
	text, err := unquote(keys[entry.val:entry.end])
	if err != nil {
		return nil, fmt.Errorf("signing: signature from %s with key %s is not a string", signingName, keyID)
	}
	sig, err := b64.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("signing: signature from %s with key %s: %w", signingName, keyID, err)
	}
	return sig, nil
}

// Signatures lists every signature on the object in canonical order (by
// signing name, then key ID), so a verifier can see which keys to fetch.
func (o *Object) Signatures() ([]Signature, error) {
	if !o.hasSigs {
		return nil, nil
	}
	var list []Signature
	outer, err := newObjectScanner(o.canon[o.sigs.val:o.sigs.end])
	if err != nil {
		return nil, fmt.Errorf("signing: read signatures: %w", err)
	}
	for {
		byName, ok, err := outer.next()
		if err != nil {
			return nil, fmt.Errorf("signing: read signatures: %w", err)
		}
		if !ok {
			return list, nil
		}
		name, err := unquote(byName.key)
		if err != nil {
			return nil, fmt.Errorf("signing: read signatures: %w", err)
		}
		inner, err := newObjectScanner(outer.b[byName.val:byName.end])
		if err != nil {
			return nil, fmt.Errorf("signing: signatures of %s: %w", name, err)
		}
		for {
			entry, ok, err := inner.next()
			if err != nil {
				return nil, fmt.Errorf("signing: signatures of %s: %w", name, err)
			}
			if !ok {
				break
			}
			keyID, err := unquote(entry.key)
			if err != nil {
				return nil, fmt.Errorf("signing: signatures of %s: %w", name, err)
			}
			value, err := unquote(inner.b[entry.val:entry.end])
			if err != nil {
				return nil, fmt.Errorf("signing: signature from %s with key %s is not a string", name, keyID)
			}
			list = append(list, Signature{SigningName: name, KeyID: keyID, Value: value})
		}
	}
}

// Verify checks the signature stored under signatures.<signingName>.<keyID>
// against pub. It returns nil only for a valid signature; otherwise the
// error wraps ErrNoSignature or ErrBadSignature, or describes malformed
// input.
func (o *Object) Verify(signingName, keyID string, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("signing: verify %s %s: public key is %d bytes, want %d", signingName, keyID, len(pub), ed25519.PublicKeySize)
	}
	sig, err := o.Signature(signingName, keyID)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: from %s with key %s: signature is %d bytes, want %d", ErrBadSignature, signingName, keyID, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, o.signed, sig) {
		return fmt.Errorf("%w: from %s with key %s", ErrBadSignature, signingName, keyID)
	}
	return nil
}

// AddSignature returns the object's canonical JSON with sig stored under
// signatures.<signingName>.<keyID>, keeping every other signature and
// "unsigned". Event signing uses it to attach a signature computed over the
// redacted event to the full event.
func (o *Object) AddSignature(signingName, keyID string, sig []byte) ([]byte, error) {
	if signingName == "" {
		return nil, errors.New("signing: add signature: empty signing name")
	}
	if keyID == "" {
		return nil, errors.New("signing: add signature: empty key ID")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signing: add signature: signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	value := make([]byte, 0, 2+b64.EncodedLen(len(sig)))
	value = append(value, '"')
	value = b64.AppendEncode(value, sig)
	value = append(value, '"')

	sigs := []byte("{}")
	if o.hasSigs {
		sigs = o.canon[o.sigs.val:o.sigs.end]
	}
	byName, found, err := find(sigs, signingName)
	if err != nil {
		return nil, fmt.Errorf("signing: add signature: read signatures: %w", err)
	}
	keys := []byte("{}")
	if found {
		keys = sigs[byName.val:byName.end]
		if keys[0] != '{' {
			return nil, fmt.Errorf("signing: add signature: signatures of %s are not an object", signingName)
		}
	}
	keys, err = upsert(keys, keyID, value)
	if err != nil {
		return nil, fmt.Errorf("signing: add signature: %w", err)
	}
	sigs, err = splice(sigs, byName, found, signingName, keys)
	if err != nil {
		return nil, fmt.Errorf("signing: add signature: %w", err)
	}
	at := member{start: o.insertAt}
	if o.hasSigs {
		at = o.sigs
	}
	out, err := splice(o.canon, at, o.hasSigs, "signatures", sigs)
	if err != nil {
		return nil, fmt.Errorf("signing: add signature: %w", err)
	}
	return out, nil
}

// Sign signs the object with k under signingName and returns its canonical
// JSON with the new signature added (see AddSignature).
func (o *Object) Sign(signingName string, k Key) ([]byte, error) {
	sig, err := k.Sign(o.signed)
	if err != nil {
		return nil, err
	}
	return o.AddSignature(signingName, k.ID, sig)
}

// Sign returns the raw ed25519 signature of message, which must already be
// the exact bytes to sign (for JSON, Object.SignedBytes). It checks the
// key's shape instead of letting ed25519 panic on a malformed one.
func (k Key) Sign(message []byte) ([]byte, error) {
	if k.ID == "" {
		return nil, errors.New("signing: sign: key has no ID")
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("signing: sign with %s: private key is %d bytes, want %d", k.ID, len(k.Private), ed25519.PrivateKeySize)
	}
	return ed25519.Sign(k.Private, message), nil
}

// SignJSON signs the JSON object obj as signingName (normally the server
// name) with k, and returns the object as canonical JSON with the signature
// merged into "signatures". Signatures already present, from other servers
// or other keys, and "unsigned" are kept but not signed.
func SignJSON(obj []byte, signingName string, k Key) ([]byte, error) {
	o, err := ParseObject(obj)
	if err != nil {
		return nil, err
	}
	return o.Sign(signingName, k)
}

// VerifyJSON checks that the JSON object obj carries a valid signature from
// signingName with the key keyID, whose public key is pub. The error wraps
// ErrNoSignature when that signature is absent and ErrBadSignature when it
// does not verify.
func VerifyJSON(obj []byte, signingName, keyID string, pub ed25519.PublicKey) error {
	o, err := ParseObject(obj)
	if err != nil {
		return err
	}
	return o.Verify(signingName, keyID, pub)
}

// Signatures lists the signatures on the JSON object obj, by signing name
// and then key ID.
func Signatures(obj []byte) ([]Signature, error) {
	o, err := ParseObject(obj)
	if err != nil {
		return nil, err
	}
	return o.Signatures()
}

// AddSignature stores the raw signature sig under
// signatures.<signingName>.<keyID> in the JSON object obj and returns the
// result as canonical JSON.
func AddSignature(obj []byte, signingName, keyID string, sig []byte) ([]byte, error) {
	o, err := ParseObject(obj)
	if err != nil {
		return nil, err
	}
	return o.AddSignature(signingName, keyID, sig)
}
