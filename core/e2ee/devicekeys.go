package e2ee

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"hearth/core/canonicaljson"
	"hearth/persist"
)

// Upload is the body of /keys/upload. Every part is optional.
type Upload struct {
	// DeviceKeys is the device's signed identity keys.
	DeviceKeys json.RawMessage `json:"device_keys,omitempty"`
	// OneTimeKeys maps "<algorithm>:<key ID>" to a key.
	OneTimeKeys map[string]json.RawMessage `json:"one_time_keys,omitempty"`
	// FallbackKeys maps "<algorithm>:<key ID>" to a key, one per algorithm.
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys,omitempty"`
}

// deviceKeysShape is what device keys must hold.
type deviceKeysShape struct {
	UserID     string            `json:"user_id"`
	DeviceID   string            `json:"device_id"`
	Algorithms []string          `json:"algorithms"`
	Keys       map[string]string `json:"keys"`
	Signatures Signatures        `json:"signatures"`
}

// otkState is a device's one-time key bookkeeping.
type otkState struct {
	// Next is the sequence number of the next upload: keys are claimed
	// in upload order.
	Next   uint64         `json:"next"`
	Counts map[string]int `json:"counts"`
}

// fallbackKey is a device's fallback key for one algorithm.
type fallbackKey struct {
	KeyID string          `json:"id"`
	Key   json.RawMessage `json:"key"`
	Used  bool            `json:"used"`
}

// parsedKey is one uploaded one-time or fallback key.
type parsedKey struct {
	alg, id string
	key     []byte // canonical JSON
}

// parseKeys checks a map of "<algorithm>:<key ID>" to keys, returned in
// name order.
func parseKeys(field string, keys map[string]json.RawMessage) ([]parsedKey, error) {
	out := make([]parsedKey, 0, len(keys))
	for name, raw := range keys {
		alg, id, ok := strings.Cut(name, ":")
		if !ok || !validName(alg) || !validName(id) {
			return nil, invalidParam("%s: key name %q is not <algorithm>:<key ID>", field, name)
		}
		k, err := canonicaljson.Canonicalize(raw)
		if err != nil || (k[0] != '{' && k[0] != '"') {
			return nil, badJSON("%s: key %q is neither an object nor a string", field, name)
		}
		out = append(out, parsedKey{alg, id, k})
	}
	slices.SortFunc(out, func(a, b parsedKey) int {
		return strings.Compare(a.alg+":"+a.id, b.alg+":"+b.id)
	})
	return out, nil
}

// parseDeviceKeys checks uploaded device keys against the uploading device
// and returns them in the form stored.
func parseDeviceKeys(raw json.RawMessage, userID, deviceID string) ([]byte, error) {
	var dk deviceKeysShape
	if err := json.Unmarshal(raw, &dk); err != nil {
		return nil, badJSON("device_keys is not a device keys object")
	}
	if dk.UserID != userID {
		return nil, badJSON("device_keys.user_id %q is not the user that is logged in", dk.UserID)
	}
	if dk.DeviceID != deviceID {
		return nil, badJSON("device_keys.device_id %q is not the device that is logged in", dk.DeviceID)
	}
	if dk.Algorithms == nil || len(dk.Keys) == 0 || dk.Signatures == nil {
		return nil, badJSON("device_keys needs algorithms, keys and signatures")
	}
	return canonicalObject(raw, "unsigned")
}

// UploadKeys stores a device's keys and returns its one-time key counts.
// One-time keys never replace a stored key of the same ID: the same key
// again is ignored, a different one is refused (400) and nothing is
// stored. A fallback key replaces the algorithm's previous one. New or
// changed device keys are a device list change.
func (s *Service) UploadKeys(ctx context.Context, userID, deviceID string, up Upload) (map[string]int, error) {
	if !validName(userID) || !validName(deviceID) {
		return nil, invalidParam("invalid user or device ID")
	}
	var dk []byte
	if len(up.DeviceKeys) > 0 && !bytes.Equal(up.DeviceKeys, []byte("null")) {
		var err error
		if dk, err = parseDeviceKeys(up.DeviceKeys, userID, deviceID); err != nil {
			return nil, err
		}
	}
	otks, err := parseKeys("one_time_keys", up.OneTimeKeys)
	if err != nil {
		return nil, err
	}
	fbks, err := parseKeys("fallback_keys", up.FallbackKeys)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(fbks); i++ {
		if fbks[i].alg == fbks[i-1].alg {
			return nil, invalidParam("fallback_keys holds two keys for %s", fbks[i].alg)
		}
	}
	var counts map[string]int
	var changedAt uint64
	update := s.updateLists
	if dk == nil {
		// Only device keys change the device list: leave its stream be.
		update = s.updateKeys
	}
	err = update(ctx, func(tx persist.Tx, c *changeSet) error {
		if dk != nil {
			changed, err := putDeviceKeys(tx, userID, deviceID, dk)
			if err != nil {
				return err
			}
			changedAt = 0
			if changed {
				c.mark(userID)
				changedAt = c.pos
			}
		}
		st, err := readOTKState(tx, userID, deviceID)
		if err != nil {
			return err
		}
		if err := putOneTimeKeys(tx, userID, deviceID, st, otks); err != nil {
			return err
		}
		if err := putFallbackKeys(tx, userID, deviceID, fbks); err != nil {
			return err
		}
		counts = st.Counts
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("e2ee: uploading keys of %s %s: %w", userID, deviceID, err)
	}
	if changedAt != 0 && s.hooks.OnDeviceChange != nil && s.isLocal(userID) {
		s.hooks.OnDeviceChange(userID, deviceID, false, dk, changedAt)
	}
	return withDefaultCount(counts), nil
}

// putDeviceKeys stores a device's keys and reports whether they changed.
// Signatures uploaded for keys that are now different no longer apply.
func putDeviceKeys(tx persist.Tx, userID, deviceID string, dk []byte) (bool, error) {
	k := deviceKeysKey(userID, deviceID)
	old, ok, err := get(tx, k)
	if err != nil || (ok && bytes.Equal(old, dk)) {
		return false, err
	}
	if ok {
		same, err := sameUnsigned(old, dk)
		if err != nil {
			return false, fmt.Errorf("%w: device keys: %v", errCorrupt, err)
		}
		if !same {
			if err := deletePrefix(tx, sigPrefix(userID, deviceID)); err != nil {
				return false, err
			}
		}
	}
	return true, tx.Set(k, dk)
}

func readOTKState(tx persist.Tx, userID, deviceID string) (*otkState, error) {
	st := &otkState{Counts: map[string]int{}}
	b, ok, err := get(tx, otkStateKey(userID, deviceID))
	if err != nil || !ok {
		return st, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%w: one-time key state: %v", errCorrupt, err)
	}
	if st.Counts == nil {
		st.Counts = map[string]int{}
	}
	return st, nil
}

func writeOTKState(tx persist.Tx, userID, deviceID string, st *otkState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Set(otkStateKey(userID, deviceID), b)
}

// putOneTimeKeys adds one upload's one-time keys, all under one sequence
// number.
func putOneTimeKeys(tx persist.Tx, userID, deviceID string, st *otkState, keys []parsedKey) error {
	if len(keys) == 0 {
		return nil
	}
	seq := st.Next
	added := false
	for _, k := range keys {
		idKey := otkIDKey(userID, deviceID, k.alg, k.id)
		b, ok, err := get(tx, idKey)
		if err != nil {
			return err
		}
		if ok {
			oldSeq, err := decodeUint(b)
			if err != nil {
				return err
			}
			old, err := tx.Get(otkKey(userID, deviceID, k.alg, oldSeq, k.id))
			if err != nil {
				return fmt.Errorf("%w: one-time key index: %v", errCorrupt, err)
			}
			if !bytes.Equal(old, k.key) {
				return invalidParam("one-time key %s:%s already exists with different content", k.alg, k.id)
			}
			continue
		}
		if err := tx.Set(otkKey(userID, deviceID, k.alg, seq, k.id), k.key); err != nil {
			return err
		}
		if err := tx.Set(idKey, appendUint(nil, seq)); err != nil {
			return err
		}
		st.Counts[k.alg]++
		added = true
	}
	if !added {
		return nil
	}
	st.Next++
	return writeOTKState(tx, userID, deviceID, st)
}

// putFallbackKeys replaces the fallback keys of the algorithms given. The
// same key uploaded again keeps its used flag.
func putFallbackKeys(tx persist.Tx, userID, deviceID string, keys []parsedKey) error {
	for _, k := range keys {
		fk := fallbackKeyKey(userID, deviceID, k.alg)
		old, ok, err := readFallback(tx, fk)
		if err != nil {
			return err
		}
		if ok && old.KeyID == k.id && bytes.Equal(old.Key, k.key) {
			continue
		}
		b, err := json.Marshal(fallbackKey{KeyID: k.id, Key: k.key})
		if err != nil {
			return err
		}
		if err := tx.Set(fk, b); err != nil {
			return err
		}
	}
	return nil
}

func readFallback(tx persist.Tx, k []byte) (fallbackKey, bool, error) {
	var fb fallbackKey
	b, ok, err := get(tx, k)
	if err != nil || !ok {
		return fb, ok, err
	}
	if err := json.Unmarshal(b, &fb); err != nil {
		return fb, false, fmt.Errorf("%w: fallback key: %v", errCorrupt, err)
	}
	return fb, true, nil
}

// withDefaultCount returns the counts that are not zero, plus
// signed_curve25519 always: clients read its absence as "unknown".
func withDefaultCount(counts map[string]int) map[string]int {
	out := map[string]int{"signed_curve25519": 0}
	for alg, n := range counts {
		if n > 0 {
			out[alg] = n
		}
	}
	return out
}

// OneTimeKeyCounts implements [DeviceKeys.OneTimeKeyCounts].
func (s *Service) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	if !validName(userID) || !validName(deviceID) {
		return withDefaultCount(nil), nil
	}
	var st *otkState
	err := s.db.View(ctx, func(tx persist.Tx) error {
		var err error
		st, err = readOTKState(tx, userID, deviceID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("e2ee: one-time key counts of %s %s: %w", userID, deviceID, err)
	}
	return withDefaultCount(st.Counts), nil
}

// UnusedFallbackKeyTypes implements [DeviceKeys.UnusedFallbackKeyTypes].
func (s *Service) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	types := []string{}
	if !validName(userID) || !validName(deviceID) {
		return types, nil
	}
	prefix := under(prefixFallback, userID, deviceID)
	err := s.db.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: prefix})
		defer it.Close()
		for it.Next() {
			var fb fallbackKey
			if err := json.Unmarshal(it.Value(), &fb); err != nil {
				return fmt.Errorf("%w: fallback key: %v", errCorrupt, err)
			}
			if !fb.Used {
				types = append(types, string(it.Key()[len(prefix):]))
			}
		}
		return it.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("e2ee: fallback keys of %s %s: %w", userID, deviceID, err)
	}
	return types, nil
}
