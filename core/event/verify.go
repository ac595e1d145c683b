package event

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"

	"hearth/core/b64"
	"hearth/core/roomversion"
	"hearth/core/signing"
)

// ErrSignature is wrapped by every error for an event that lacks a
// signature it needs or carries one that does not verify. Such an event is
// dropped (server-server spec, "Checks performed on receipt of a PDU").
// The error also wraps signing.ErrNoSignature or signing.ErrBadSignature,
// and the key lookup's error when no key could be found.
var ErrSignature = errors.New("event: signature check failed")

// KeyLookup finds the public keys that event signatures are checked with.
// The federation layer implements it over its key cache and the key
// servers.
type KeyLookup interface {
	// VerifyKey returns the ed25519 public key keyID of serverName. In
	// room versions that enforce key validity (5 and later) atTS is the
	// event's origin_server_ts and the key must have been valid then;
	// otherwise atTS is 0 and any key the server ever published will do.
	// An error means the key is unknown or not valid at atTS: signatures
	// with that key are skipped, as the spec requires.
	VerifyKey(serverName, keyID string, atTS int64) (ed25519.PublicKey, error)
}

// VerifySignatures checks that every server that must sign p did, with at
// least one key that keys knows, and that every signature of those servers
// made with a known key verifies (server-server spec, "Validating hashes and
// signatures on received events"). Signatures cover the redacted event, so
// a redacted copy verifies as well as the full one. The error wraps
// ErrSignature, or ErrInvalid for an event that cannot be redacted.
func VerifySignatures(p *PDU, keys KeyLookup) error {
	if p == nil || keys == nil {
		return errors.New("event: verify signatures: nil event or key lookup")
	}
	var buf [1024]byte
	signed, err := appendRedacted(buf[:0], p.canon, p.version, p.f.Type, false)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var atTS int64
	if p.version.EnforceKeyValidity {
		atTS = p.f.OriginServerTS
	}
	for _, server := range p.RequiredSigners() {
		if err := verifyServer(p, signed, server, keys, atTS); err != nil {
			return err
		}
	}
	return nil
}

// verifyServer checks the signatures of one server on the signed bytes.
func verifyServer(p *PDU, signed []byte, server string, keys KeyLookup, atTS int64) error {
	byKey := p.f.Signatures[server]
	if len(byKey) == 0 {
		return fmt.Errorf("%w: %w: event %s has no signature from %s", ErrSignature, signing.ErrNoSignature, p.id, server)
	}
	keyIDs := make([]string, 0, len(byKey))
	for id := range byKey {
		keyIDs = append(keyIDs, id)
	}
	slices.Sort(keyIDs)
	verified := 0
	var lookupErr error
	for _, keyID := range keyIDs {
		if !strings.HasPrefix(keyID, signing.Algorithm+":") {
			continue // an algorithm nothing can verify
		}
		pub, err := keys.VerifyKey(server, keyID, atTS)
		if err == nil && len(pub) != ed25519.PublicKeySize {
			err = fmt.Errorf("key %s of %s is %d bytes", keyID, server, len(pub))
		}
		if err != nil {
			if lookupErr == nil {
				lookupErr = err
			}
			continue
		}
		sig, err := b64.Decode(byKey[keyID])
		if err != nil || len(sig) != ed25519.SignatureSize {
			return fmt.Errorf("%w: %w: event %s: signature of %s with %s is not an ed25519 signature", ErrSignature, signing.ErrBadSignature, p.id, server, keyID)
		}
		if !ed25519.Verify(pub, signed, sig) {
			return fmt.Errorf("%w: %w: event %s: signature of %s with %s", ErrSignature, signing.ErrBadSignature, p.id, server, keyID)
		}
		verified++
	}
	if verified == 0 {
		if lookupErr != nil {
			return fmt.Errorf("%w: %w: event %s: no known key of %s: %w", ErrSignature, signing.ErrNoSignature, p.id, server, lookupErr)
		}
		return fmt.Errorf("%w: %w: event %s has no ed25519 signature from %s", ErrSignature, signing.ErrNoSignature, p.id, server)
	}
	return nil
}

// RequiredSigners returns the servers whose signatures p must carry: the
// sender's server, except on an invite made from a third-party invite
// (which another server may send on the sender's behalf); in room versions
// 1 and 2 also the server in the event ID; and for a restricted join (room
// version 8 and later) the server of join_authorised_via_users_server. The
// federation layer can fetch these servers' keys before VerifySignatures.
func (p *PDU) RequiredSigners() []string {
	servers := make([]string, 0, 2)
	add := func(s string) {
		if s != "" && !slices.Contains(servers, s) {
			servers = append(servers, s)
		}
	}
	f := &p.f
	if !(f.Type == "m.room.member" && f.membership == "invite" && f.thirdPartyInvite) {
		add(serverOf(f.Sender, '@'))
	}
	if p.version.EventIDFormat == roomversion.EventIDInEvent {
		add(serverOf(p.id, '$'))
	}
	if p.version.RestrictedJoins && f.Type == "m.room.member" && f.membership == "join" {
		add(serverOf(f.authorisingUser, '@'))
	}
	return servers
}

// VerifyReceived runs the signature and hash checks on an event received
// over federation in the order the spec gives: signatures first (an error
// means drop the event), then the content hash. It returns the event to
// process further: p itself, or p's redacted form when the content hash does
// not match.
func VerifyReceived(p *PDU, keys KeyLookup) (*PDU, error) {
	if err := VerifySignatures(p, keys); err != nil {
		return nil, err
	}
	err := p.CheckContentHash()
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, ErrHashMismatch):
		return p.Redacted()
	default:
		return nil, err
	}
}
