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
			if changed {
				c.mark(userID)
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

// QueryResult is the answer to /keys/query.
type QueryResult struct {
	Failures        map[string]json.RawMessage            `json:"failures"`
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys"`
	UserSigningKeys map[string]json.RawMessage            `json:"user_signing_keys"`
}

// unreachable is the failure recorded for a server that could not be
// asked.
var unreachable = json.RawMessage(`{"status":503,"message":"server unreachable"}`)

// QueryKeys returns the device and cross-signing keys of users (user ID to
// device IDs, an empty list meaning every device) as requester may see
// them: devices with their display names, and only the signatures made by
// the key's owner or by requester; the user-signing key only of requester
// itself. Unknown users and devices are left out.
func (s *Service) QueryKeys(ctx context.Context, requester string, users map[string][]string) (*QueryResult, error) {
	res := &QueryResult{
		Failures:        map[string]json.RawMessage{},
		DeviceKeys:      map[string]map[string]json.RawMessage{},
		MasterKeys:      map[string]json.RawMessage{},
		SelfSigningKeys: map[string]json.RawMessage{},
		UserSigningKeys: map[string]json.RawMessage{},
	}
	remote := make(map[string]map[string][]string)
	for user, devices := range users {
		if !validUserID(user) {
			continue
		}
		if !s.isLocal(user) {
			server := serverOf(user)
			if remote[server] == nil {
				remote[server] = make(map[string][]string)
			}
			remote[server][user] = devices
			continue
		}
		if err := s.queryLocal(ctx, requester, user, devices, res); err != nil {
			return nil, err
		}
	}
	for server, users := range remote {
		s.queryRemote(ctx, server, users, res)
	}
	return res, nil
}

// queryLocal adds a local user's keys to res.
func (s *Service) queryLocal(ctx context.Context, requester, user string, want []string, res *QueryResult) error {
	known, err := s.devices.Devices(ctx, user)
	if err != nil {
		return fmt.Errorf("e2ee: listing devices of %s: %w", user, err)
	}
	devices := map[string]json.RawMessage{}
	err = s.db.View(ctx, func(tx persist.Tx) error {
		for _, d := range known {
			if len(want) > 0 && !slices.Contains(want, d.ID) {
				continue
			}
			dk, ok, err := get(tx, deviceKeysKey(user, d.ID))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			sigs, err := visibleSignatures(tx, user, d.ID, requester)
			if err != nil {
				return err
			}
			unsigned := map[string]string{}
			if d.DisplayName != "" {
				unsigned["device_display_name"] = d.DisplayName
			}
			if devices[d.ID], err = mergeObject(dk, sigs, unsigned); err != nil {
				return err
			}
		}
		for _, x := range []struct {
			usage string
			into  map[string]json.RawMessage
		}{
			{UsageMaster, res.MasterKeys},
			{UsageSelfSigning, res.SelfSigningKeys},
			{UsageUserSigning, res.UserSigningKeys},
		} {
			if x.usage == UsageUserSigning && user != requester {
				continue
			}
			k, ok, err := readCrossKey(tx, user, x.usage)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			sigs, err := visibleSignatures(tx, user, k.id, requester)
			if err != nil {
				return err
			}
			if x.into[user], err = mergeObject(k.raw, sigs, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("e2ee: reading keys of %s: %w", user, err)
	}
	res.DeviceKeys[user] = devices
	return nil
}

// visibleSignatures returns the uploaded signatures of user's key target
// that requester may see: those made by user and by requester. Other
// users' signatures with their user-signing keys stay private to them.
func visibleSignatures(tx persist.Tx, user, target, requester string) (Signatures, error) {
	prefix := sigPrefix(user, target)
	it := tx.Iterate(persist.IterOptions{Prefix: prefix})
	defer it.Close()
	var sigs Signatures
	for it.Next() {
		signer, keyID, ok := strings.Cut(string(it.Key()[len(prefix):]), "\x00")
		if !ok {
			return nil, fmt.Errorf("%w: signature key", errCorrupt)
		}
		if signer != user && signer != requester {
			continue
		}
		if sigs == nil {
			sigs = Signatures{}
		}
		sigs.add(signer, keyID, string(it.Value()))
	}
	return sigs, it.Err()
}

// queryRemote asks server for its users' keys, recording a failure when it
// cannot be asked.
func (s *Service) queryRemote(ctx context.Context, server string, users map[string][]string, res *QueryResult) {
	if s.remote == nil {
		res.Failures[server] = unreachable
		return
	}
	rk, err := s.remote.QueryKeys(ctx, server, users)
	if err != nil {
		res.Failures[server] = unreachable
		return
	}
	for user := range users {
		if d, ok := rk.DeviceKeys[user]; ok {
			res.DeviceKeys[user] = d
		}
		if k, ok := rk.MasterKeys[user]; ok {
			res.MasterKeys[user] = k
		}
		if k, ok := rk.SelfSigningKeys[user]; ok {
			res.SelfSigningKeys[user] = k
		}
	}
}

// ClaimResult is the answer to /keys/claim.
type ClaimResult struct {
	Failures map[string]json.RawMessage `json:"failures"`
	// OneTimeKeys maps user ID to device ID to "<algorithm>:<key ID>" to
	// key.
	OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
}

// ClaimKeys hands out one key per requested device and algorithm (user ID
// to device ID to algorithm): the oldest one-time key, which is removed,
// or when none is left the fallback key, which stays but is marked used.
// Devices with neither are left out.
func (s *Service) ClaimKeys(ctx context.Context, claims map[string]map[string]string) (*ClaimResult, error) {
	res := &ClaimResult{
		Failures:    map[string]json.RawMessage{},
		OneTimeKeys: map[string]map[string]map[string]json.RawMessage{},
	}
	local := make(map[string]map[string]string)
	remote := make(map[string]map[string]map[string]string)
	for user, devices := range claims {
		if !validUserID(user) {
			continue
		}
		if s.isLocal(user) {
			local[user] = devices
			continue
		}
		server := serverOf(user)
		if remote[server] == nil {
			remote[server] = make(map[string]map[string]string)
		}
		remote[server][user] = devices
	}
	if len(local) > 0 {
		err := s.db.Update(ctx, func(tx persist.Tx) error {
			clear(res.OneTimeKeys)
			for user, devices := range local {
				for device, alg := range devices {
					if !validName(device) || !validName(alg) {
						continue
					}
					id, k, ok, err := claimOne(tx, user, device, alg)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
					if res.OneTimeKeys[user] == nil {
						res.OneTimeKeys[user] = map[string]map[string]json.RawMessage{}
					}
					res.OneTimeKeys[user][device] = map[string]json.RawMessage{alg + ":" + id: k}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("e2ee: claiming keys: %w", err)
		}
	}
	for server, claims := range remote {
		if s.remote == nil {
			res.Failures[server] = unreachable
			continue
		}
		keys, err := s.remote.ClaimKeys(ctx, server, claims)
		if err != nil {
			res.Failures[server] = unreachable
			continue
		}
		for user := range claims {
			if k, ok := keys[user]; ok {
				res.OneTimeKeys[user] = k
			}
		}
	}
	return res, nil
}

// claimOne takes a device's oldest one-time key of alg, or else its
// fallback key.
func claimOne(tx persist.Tx, user, device, alg string) (keyID string, k json.RawMessage, ok bool, err error) {
	prefix := otkPrefix(user, device, alg)
	it := tx.Iterate(persist.IterOptions{Prefix: prefix})
	found := it.Next()
	var otk, val []byte
	if found {
		otk, val = it.Key(), it.Value()
	}
	it.Close()
	if err := it.Err(); err != nil {
		return "", nil, false, err
	}
	if found {
		if len(otk) < len(prefix)+8 {
			return "", nil, false, fmt.Errorf("%w: one-time key", errCorrupt)
		}
		keyID = string(otk[len(prefix)+8:])
		if err := tx.Delete(otk); err != nil {
			return "", nil, false, err
		}
		if err := tx.Delete(otkIDKey(user, device, alg, keyID)); err != nil {
			return "", nil, false, err
		}
		st, err := readOTKState(tx, user, device)
		if err != nil {
			return "", nil, false, err
		}
		if st.Counts[alg] > 0 {
			st.Counts[alg]--
		}
		if err := writeOTKState(tx, user, device, st); err != nil {
			return "", nil, false, err
		}
		return keyID, val, true, nil
	}
	fk := fallbackKeyKey(user, device, alg)
	fb, ok, err := readFallback(tx, fk)
	if err != nil || !ok {
		return "", nil, false, err
	}
	if !fb.Used {
		fb.Used = true
		b, err := json.Marshal(fb)
		if err != nil {
			return "", nil, false, err
		}
		if err := tx.Set(fk, b); err != nil {
			return "", nil, false, err
		}
	}
	return fb.KeyID, fb.Key, true, nil
}
