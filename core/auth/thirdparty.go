package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"

	"hearth/core/canonicaljson"
	"hearth/core/event"
)

// checkThirdPartyInvite applies the rules for an invite whose content has
// third_party_invite, after the banned-target check: the signed block must
// name the target and the token of an m.room.third_party_invite from the
// same sender, and carry a signature from one of its public keys.
func checkThirdPartyInvite(ev *event.PDU, state State, target string, tpi json.RawMessage) error {
	const rule = "m.room.member third_party_invite"
	var invite struct {
		Signed json.RawMessage `json:"signed"`
	}
	if json.Unmarshal(tpi, &invite) != nil || len(invite.Signed) == 0 {
		return deny(rule, "third_party_invite has no signed")
	}
	var signed struct {
		MXID  json.RawMessage `json:"mxid"`
		Token json.RawMessage `json:"token"`
	}
	if json.Unmarshal(invite.Signed, &signed) != nil || len(signed.MXID) == 0 || len(signed.Token) == 0 {
		return deny(rule, "signed lacks mxid or token")
	}
	var mxid, token string
	if json.Unmarshal(signed.MXID, &mxid) != nil || mxid != target {
		return deny(rule, "signed mxid %s is not the state_key %q", signed.MXID, target)
	}
	if json.Unmarshal(signed.Token, &token) != nil {
		return deny(rule, "signed token is not a string")
	}
	tpe := state.Get(event.StateKey{Type: typeThirdPartyInvite, StateKey: token})
	if tpe == nil {
		return deny(rule, "no m.room.third_party_invite for token %q", token)
	}
	if tpe.Sender() != ev.Sender() {
		return deny(rule, "sender %s did not send the m.room.third_party_invite (%s did)", ev.Sender(), tpe.Sender())
	}
	if signedByAnyKey(invite.Signed, publicKeys(tpe)) {
		return nil
	}
	return deny(rule, "no signature in signed matches a public key of the m.room.third_party_invite")
}

// publicKeys returns the decodable ed25519 keys of an
// m.room.third_party_invite: public_key and each public_keys[].public_key.
func publicKeys(tpe *event.PDU) []ed25519.PublicKey {
	var c struct {
		PublicKey  json.RawMessage `json:"public_key"`
		PublicKeys []struct {
			PublicKey json.RawMessage `json:"public_key"`
		} `json:"public_keys"`
	}
	if json.Unmarshal(tpe.Content(), &c) != nil {
		// public_keys of the wrong shape: keep whatever public_key holds.
		c.PublicKeys = nil
		var only struct {
			PublicKey json.RawMessage `json:"public_key"`
		}
		_ = json.Unmarshal(tpe.Content(), &only)
		c.PublicKey = only.PublicKey
	}
	var keys []ed25519.PublicKey
	add := func(raw json.RawMessage) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return
		}
		if k := decodeKey(s); k != nil {
			keys = append(keys, k)
		}
	}
	add(c.PublicKey)
	for _, pk := range c.PublicKeys {
		add(pk.PublicKey)
	}
	return keys
}

// decodeKey decodes a base64 ed25519 public key, in the standard or
// URL-safe alphabet, padded or not, or returns nil.
func decodeKey(s string) ed25519.PublicKey {
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b)
		}
	}
	return nil
}

// signedByAnyKey reports whether any signature in the signed object, by
// any signing name and key ID, verifies with any of keys over the canonical
// JSON of the object without signatures and unsigned (appendices, "Signing
// JSON").
func signedByAnyKey(signed json.RawMessage, keys []ed25519.PublicKey) bool {
	if len(keys) == 0 {
		return false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(signed, &obj) != nil || obj == nil {
		return false
	}
	var sigs map[string]map[string]json.RawMessage
	if json.Unmarshal(obj["signatures"], &sigs) != nil {
		return false
	}
	delete(obj, "signatures")
	delete(obj, "unsigned")
	body, err := json.Marshal(obj)
	if err != nil {
		return false
	}
	if body, err = canonicaljson.Canonicalize(body); err != nil {
		return false
	}
	for _, byKey := range sigs {
		for _, raw := range byKey {
			var text string
			if json.Unmarshal(raw, &text) != nil {
				continue
			}
			sig, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
			if err != nil {
				if sig, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(text, "=")); err != nil {
					continue
				}
			}
			if len(sig) != ed25519.SignatureSize {
				continue
			}
			for _, k := range keys {
				if ed25519.Verify(k, body, sig) {
					return true
				}
			}
		}
	}
	return false
}
