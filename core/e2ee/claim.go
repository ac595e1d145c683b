package e2ee

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth/persist"
)

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
