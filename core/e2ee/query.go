package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"hearth/persist"
)

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
