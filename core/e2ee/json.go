package e2ee

import (
	"bytes"
	"encoding/json"
	"fmt"

	"hearth/core/canonicaljson"
)

// Signatures is the "signatures" member of a signed JSON object: signing
// user ID to key ID to unpadded base64 signature.
type Signatures map[string]map[string]string

// add puts sig under user and keyID.
func (s Signatures) add(user, keyID, sig string) {
	if s[user] == nil {
		s[user] = make(map[string]string)
	}
	s[user][keyID] = sig
}

// objectOf decodes a JSON object into its members.
func objectOf(b []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return obj, nil
}

// canonicalObject checks that raw is a JSON object and returns it as
// canonical JSON without the members named in drop. Storing canonical
// forms makes "the same key" a byte comparison.
func canonicalObject(raw json.RawMessage, drop ...string) ([]byte, error) {
	obj, err := objectOf(raw)
	if err != nil {
		return nil, err
	}
	for _, d := range drop {
		delete(obj, d)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return canonicaljson.Canonicalize(b)
}

// sameUnsigned reports whether two signed objects are equal apart from
// their signatures and unsigned data: the test for "the key the client
// signed is the key we hold".
func sameUnsigned(a, b []byte) (bool, error) {
	ca, err := canonicalObject(a, "signatures", "unsigned")
	if err != nil {
		return false, err
	}
	cb, err := canonicalObject(b, "signatures", "unsigned")
	if err != nil {
		return false, err
	}
	return bytes.Equal(ca, cb), nil
}

// mergeObject returns the JSON object obj with extra signatures merged into
// its "signatures" and, when unsigned is not nil, with "unsigned" set.
func mergeObject(obj []byte, extra Signatures, unsigned any) (json.RawMessage, error) {
	if len(extra) == 0 && unsigned == nil {
		return obj, nil
	}
	m, err := objectOf(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if len(extra) > 0 {
		sigs := Signatures{}
		if raw, ok := m["signatures"]; ok {
			if err := json.Unmarshal(raw, &sigs); err != nil || sigs == nil {
				sigs = Signatures{}
			}
		}
		for user, keys := range extra {
			for id, sig := range keys {
				sigs.add(user, id, sig)
			}
		}
		if m["signatures"], err = json.Marshal(sigs); err != nil {
			return nil, err
		}
	}
	if unsigned != nil {
		if m["unsigned"], err = json.Marshal(unsigned); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}
