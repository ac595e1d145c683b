// Package serverkey builds and checks the body of GET /_matrix/key/v2/server
// (server-server spec, "Publishing Keys"): a server's current verify keys,
// its retired keys, how long the list may be cached, and the server's own
// signature over it. Other servers fetch this object, directly or through a
// notary, to learn the public keys that check our events and requests.
package serverkey

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"hearth/core/b64"
	"hearth/core/canonicaljson"
	"hearth/core/signing"
)

// OldKey is a key the server no longer uses. It stays published so that
// events signed with it before ExpiredTS can still be checked.
type OldKey struct {
	// ID is the key ID, "ed25519:<version>".
	ID string
	// Public is the 32-byte ed25519 public key.
	Public ed25519.PublicKey
	// ExpiredTS is when the key stopped being used, in milliseconds since
	// the Unix epoch.
	ExpiredTS int64
}

// Keys is a parsed key response.
type Keys struct {
	// ServerName is the server the keys belong to (server_name).
	ServerName string
	// ValidUntilTS is when the list must be fetched again, in milliseconds
	// since the Unix epoch (valid_until_ts). Room versions 5 and later
	// also cap it at seven days after fetching; that needs a clock, so it
	// is the caller's job.
	ValidUntilTS int64
	// VerifyKeys holds the current ed25519 keys by key ID. Keys of other
	// algorithms are left out: nothing could verify with them.
	VerifyKeys map[string]ed25519.PublicKey
	// OldVerifyKeys holds retired ed25519 keys by key ID.
	OldVerifyKeys map[string]OldKey
}

// PublicKey finds keyID among the current and the retired keys and returns
// the public key with the time until which signatures made with it are
// acceptable: ValidUntilTS for a current key, its ExpiredTS for an old one.
func (ks *Keys) PublicKey(keyID string) (pub ed25519.PublicKey, untilTS int64, ok bool) {
	if pub, ok := ks.VerifyKeys[keyID]; ok {
		return pub, ks.ValidUntilTS, true
	}
	if old, ok := ks.OldVerifyKeys[keyID]; ok {
		return old.Public, old.ExpiredTS, true
	}
	return nil, 0, false
}

// wireKey is one entry of verify_keys or old_verify_keys.
type wireKey struct {
	Key       string `json:"key"`
	ExpiredTS *int64 `json:"expired_ts,omitempty"`
}

// wireResponse is the unsigned response in the order encoding/json writes
// it; canonicalisation sorts the keys.
type wireResponse struct {
	ServerName    string             `json:"server_name"`
	ValidUntilTS  int64              `json:"valid_until_ts"`
	VerifyKeys    map[string]wireKey `json:"verify_keys"`
	OldVerifyKeys map[string]wireKey `json:"old_verify_keys"`
}

// Response returns the signed key response for serverName with k as its
// only current key, valid until validUntilTS (milliseconds since the Unix
// epoch, chosen by the caller since core has no clock), listing oldKeys as
// retired. The result is canonical JSON signed by k.
func Response(serverName string, k signing.Key, validUntilTS int64, oldKeys ...OldKey) ([]byte, error) {
	if serverName == "" {
		return nil, errors.New("serverkey: response: empty server name")
	}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("serverkey: response for %s: %w", serverName, err)
	}
	if validUntilTS < 0 {
		return nil, fmt.Errorf("serverkey: response for %s: negative valid_until_ts %d", serverName, validUntilTS)
	}
	w := wireResponse{
		ServerName:    serverName,
		ValidUntilTS:  validUntilTS,
		VerifyKeys:    map[string]wireKey{k.ID: {Key: b64.Encode(k.Public())}},
		OldVerifyKeys: make(map[string]wireKey, len(oldKeys)),
	}
	for _, old := range oldKeys {
		if err := signing.ValidateKeyID(old.ID); err != nil {
			return nil, fmt.Errorf("serverkey: response for %s: old key: %w", serverName, err)
		}
		if len(old.Public) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("serverkey: response for %s: old key %s is %d bytes, want %d", serverName, old.ID, len(old.Public), ed25519.PublicKeySize)
		}
		if old.ID == k.ID {
			return nil, fmt.Errorf("serverkey: response for %s: old key %s has the current key's ID", serverName, old.ID)
		}
		if _, dup := w.OldVerifyKeys[old.ID]; dup {
			return nil, fmt.Errorf("serverkey: response for %s: old key %s listed twice", serverName, old.ID)
		}
		ts := old.ExpiredTS
		w.OldVerifyKeys[old.ID] = wireKey{Key: b64.Encode(old.Public), ExpiredTS: &ts}
	}
	body, err := canonicaljson.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("serverkey: response for %s: %w", serverName, err)
	}
	signed, err := signing.SignJSON(body, serverName, k)
	if err != nil {
		return nil, fmt.Errorf("serverkey: response for %s: %w", serverName, err)
	}
	return signed, nil
}

// Parse decodes a key response without checking its signatures; use Verify
// for anything fetched from the network. Numbers are read from the
// canonical form, so 1.7e12 and 1700000000000 are the same timestamp, and
// member names must match exactly (encoding/json alone would also accept
// "Server_Name").
func Parse(raw []byte) (*Keys, error) {
	ks, _, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("serverkey: parse: %w", err)
	}
	return ks, nil
}

// Verify decodes a key response and checks that it is signed by its own
// server with every ed25519 key listed in verify_keys, as the spec requires
// of the signatures on this object. Signatures by others, such as a
// notary's, are allowed and ignored.
func Verify(raw []byte) (*Keys, error) {
	ks, obj, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("serverkey: verify: %w", err)
	}
	ids := make([]string, 0, len(ks.VerifyKeys))
	for id := range ks.VerifyKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids) // report failures deterministically
	for _, id := range ids {
		if err := obj.Verify(ks.ServerName, id, ks.VerifyKeys[id]); err != nil {
			return nil, fmt.Errorf("serverkey: verify: keys of %s: self-signature with %s: %w", ks.ServerName, id, err)
		}
	}
	return ks, nil
}

// parse decodes raw into Keys and the prepared object whose signatures
// Verify checks. Its errors carry no package prefix; callers add it.
func parse(raw []byte) (*Keys, *signing.Object, error) {
	obj, err := signing.ParseObject(raw)
	if err != nil {
		return nil, nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(obj.Canonical(), &top); err != nil {
		return nil, nil, err
	}
	ks := &Keys{}
	if err := decodeField(top, "server_name", &ks.ServerName, true); err != nil {
		return nil, nil, err
	}
	if ks.ServerName == "" {
		return nil, nil, errors.New("empty server_name")
	}
	if err := decodeField(top, "valid_until_ts", &ks.ValidUntilTS, true); err != nil {
		return nil, nil, err
	}
	if ks.ValidUntilTS < 0 {
		return nil, nil, fmt.Errorf("negative valid_until_ts %d", ks.ValidUntilTS)
	}
	var current, old map[string]json.RawMessage
	if err := decodeField(top, "verify_keys", &current, true); err != nil {
		return nil, nil, err
	}
	if err := decodeField(top, "old_verify_keys", &old, false); err != nil {
		return nil, nil, err
	}
	ks.VerifyKeys = make(map[string]ed25519.PublicKey, len(current))
	for id, entry := range current {
		if !isEd25519(id) {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(entry, &fields); err != nil {
			return nil, nil, fmt.Errorf("verify_keys.%s: %w", id, err)
		}
		pub, err := decodePublic(fields, "verify_keys."+id)
		if err != nil {
			return nil, nil, err
		}
		ks.VerifyKeys[id] = pub
	}
	if len(ks.VerifyKeys) == 0 {
		return nil, nil, fmt.Errorf("keys of %s list no ed25519 verify key", ks.ServerName)
	}
	ks.OldVerifyKeys = make(map[string]OldKey, len(old))
	for id, entry := range old {
		if !isEd25519(id) {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(entry, &fields); err != nil {
			return nil, nil, fmt.Errorf("old_verify_keys.%s: %w", id, err)
		}
		pub, err := decodePublic(fields, "old_verify_keys."+id)
		if err != nil {
			return nil, nil, err
		}
		k := OldKey{ID: id, Public: pub}
		if err := decodeField(fields, "expired_ts", &k.ExpiredTS, true); err != nil {
			return nil, nil, fmt.Errorf("old_verify_keys.%s: %w", id, err)
		}
		if k.ExpiredTS < 0 {
			return nil, nil, fmt.Errorf("old_verify_keys.%s: negative expired_ts %d", id, k.ExpiredTS)
		}
		ks.OldVerifyKeys[id] = k
	}
	return ks, obj, nil
}

// isEd25519 reports whether a key ID names an ed25519 key. Versions of
// remote keys are not checked against the spec's character set: they are
// only looked up, and some deployed servers stray from it.
func isEd25519(id string) bool {
	version, ok := strings.CutPrefix(id, signing.Algorithm+":")
	return ok && version != ""
}

// decodeField decodes the member name of obj into v, reporting a required
// member that is missing, null (which encoding/json would silently skip)
// or of the wrong type.
func decodeField(obj map[string]json.RawMessage, name string, v any, required bool) error {
	raw, ok := obj[name]
	if !ok {
		if required {
			return fmt.Errorf("missing %s", name)
		}
		return nil
	}
	if string(raw) == "null" {
		if required {
			return fmt.Errorf("%s is null", name)
		}
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// decodePublic reads the "key" member of a verify key entry.
func decodePublic(fields map[string]json.RawMessage, where string) (ed25519.PublicKey, error) {
	var text string
	if err := decodeField(fields, "key", &text, true); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	pub, err := b64.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: key is %d bytes, want %d", where, len(pub), ed25519.PublicKeySize)
	}
	return pub, nil
}
