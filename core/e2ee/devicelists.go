package e2ee

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"hearth/persist"
)

// DeviceKeys is the device list stream together with each device's key
// counts: what /sync reports under device_lists,
// device_one_time_keys_count and device_unused_fallback_key_types. It
// implements the sync engine's DeviceKeys source.
type DeviceKeys struct{ s *Service }

// Position returns the device list stream's watermark: every change at or
// below it is durable and visible.
func (d *DeviceKeys) Position() uint64 {
	p, _ := d.s.lists.Position()
	return p
}

// ListChanges returns the users whose device lists changed in (from, to]
// and who share a room with userID now, userID itself included. left is
// always empty: who stopped sharing a room is a matter of room membership,
// which the sync engine sees in the room stream.
//
// The work is bounded by the smaller of the number of changes in the range
// and the number of users sharing a room with userID.
func (d *DeviceKeys) ListChanges(ctx context.Context, userID string, from, to uint64) (changed, left []string, err error) {
	return d.s.ListChanges(ctx, userID, from, to)
}

// OneTimeKeyCounts returns the device's unclaimed one-time keys per
// algorithm, always with signed_curve25519 (0 when none), as clients expect.
func (d *DeviceKeys) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	return d.s.OneTimeKeyCounts(ctx, userID, deviceID)
}

// UnusedFallbackKeyTypes returns the algorithms for which the device has a
// fallback key that no claim has handed out yet; never nil.
func (d *DeviceKeys) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	return d.s.UnusedFallbackKeyTypes(ctx, userID, deviceID)
}

// lastListPos returns the highest position in the device list stream.
func lastListPos(tx persist.Tx) (uint64, error) {
	it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefixList), Reverse: true, KeysOnly: true})
	defer it.Close()
	if it.Next() {
		return decodeUint(it.Key()[len(prefixList):])
	}
	return 0, it.Err()
}

// changeSet collects the users whose device lists a transaction changes.
type changeSet struct {
	users []string
	pos   uint64 // the change's position, set by updateLists
}

// mark records that user's device list changes.
func (c *changeSet) mark(user string) {
	if !slices.Contains(c.users, user) {
		c.users = append(c.users, user)
	}
}

// updateLists runs fn in a read-write transaction and records a device
// list change, at one new position, for every user fn marks. Once the
// change is durable and visible it wakes those users and everyone sharing
// a room with them.
func (s *Service) updateLists(ctx context.Context, fn func(tx persist.Tx, c *changeSet) error) error {
	pos := s.lists.Allocate()
	var c changeSet
	err := s.db.Update(ctx, func(tx persist.Tx) error {
		c = changeSet{pos: pos}
		if err := fn(tx, &c); err != nil {
			return err
		}
		if len(c.users) == 0 {
			return nil
		}
		if err := tx.Set(listKey(pos), []byte(strings.Join(c.users, "\x00"))); err != nil {
			return err
		}
		for _, u := range c.users {
			if err := tx.Set(userListKey(u, pos), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.lists.finish(pos, nil)
		return err
	}
	s.lists.finish(pos, s.sharing(ctx, c.users))
	return nil
}

// updateKeys runs fn like updateLists, for a write that changes no device
// list and so takes no position.
func (s *Service) updateKeys(ctx context.Context, fn func(tx persist.Tx, c *changeSet) error) error {
	return s.db.Update(ctx, func(tx persist.Tx) error { return fn(tx, &changeSet{}) })
}

// sharing returns users and everyone who shares a room with them: whom a
// change of their device lists concerns. A failure to list members only
// delays those syncs until their next wake-up, so it is not reported.
func (s *Service) sharing(ctx context.Context, users []string) []string {
	out := slices.Clone(users)
	for _, u := range users {
		if shared, err := s.members.SharedUsers(ctx, u); err == nil {
			out = append(out, shared...)
		}
	}
	return out
}

// ListChanges implements [DeviceKeys.ListChanges].
func (s *Service) ListChanges(ctx context.Context, userID string, from, to uint64) (changed, left []string, err error) {
	// Positions above the watermark may still be in flight.
	if p, _ := s.lists.Position(); to > p {
		to = p
	}
	if from >= to {
		return nil, nil, nil
	}
	shared, err := s.members.SharedUsers(ctx, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("e2ee: users sharing a room with %s: %w", userID, err)
	}
	candidates := make(map[string]bool, len(shared)+1)
	candidates[userID] = true
	for _, u := range shared {
		candidates[u] = true
	}
	found := make(map[string]bool)
	err = s.db.View(ctx, func(tx persist.Tx) error {
		// Scan the server-wide log while it is shorter than the list of
		// candidates; past that, look each candidate up instead.
		complete, err := scanListLog(tx, from, to, len(candidates)+16, func(u string) {
			if candidates[u] {
				found[u] = true
			}
		})
		if err != nil || complete {
			return err
		}
		clear(found)
		for u := range candidates {
			ok, err := changedIn(tx, u, from, to)
			if err != nil {
				return err
			}
			if ok {
				found[u] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("e2ee: device list changes for %s: %w", userID, err)
	}
	for u := range found {
		changed = append(changed, u)
	}
	slices.Sort(changed)
	return changed, nil, nil
}

// scanListLog calls fn for every user in the log entries at (from, to],
// stopping after budget entries. complete reports whether it saw them all.
func scanListLog(tx persist.Tx, from, to uint64, budget int, fn func(user string)) (complete bool, err error) {
	it := tx.Iterate(persist.IterOptions{Start: listKey(from + 1), End: listKey(to + 1)})
	defer it.Close()
	for n := 0; it.Next(); n++ {
		if n == budget {
			return false, nil
		}
		for u := range bytes.SplitSeq(it.Value(), []byte{0}) {
			fn(string(u))
		}
	}
	return true, it.Err()
}

// changedIn reports whether user's device list changed in (from, to].
func changedIn(tx persist.Tx, user string, from, to uint64) (bool, error) {
	it := tx.Iterate(persist.IterOptions{Start: userListKey(user, from+1), End: userListKey(user, to+1), KeysOnly: true})
	defer it.Close()
	if it.Next() {
		return true, nil
	}
	return false, it.Err()
}

// DeleteDevice forgets everything held for a deleted device: its keys,
// one-time and fallback keys, signatures of it and its signature of the
// master key, its to-device inbox and transaction records. When the device had keys, the user's device list
// changes. Accounts calls it after deleting a device.
func (s *Service) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	if !validName(userID) || !validName(deviceID) {
		return nil // no such device was ever stored
	}
	var had bool
	var pos uint64
	err := s.updateLists(ctx, func(tx persist.Tx, c *changeSet) error {
		var err error
		_, had, err = get(tx, deviceKeysKey(userID, deviceID))
		if err != nil {
			return err
		}
		if had {
			c.mark(userID)
			pos = c.pos
		}
		// The device's signature of the master key goes with it.
		if master, ok, err := readCrossKey(tx, userID, UsageMaster); err != nil {
			return err
		} else if ok {
			if err := tx.Delete(sigKey(userID, master.id, userID, "ed25519:"+deviceID)); err != nil {
				return err
			}
		}
		for _, k := range [][]byte{deviceKeysKey(userID, deviceID), otkStateKey(userID, deviceID)} {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for _, p := range [][]byte{
			under(prefixOTK, userID, deviceID),
			under(prefixOTKID, userID, deviceID),
			under(prefixFallback, userID, deviceID),
			sigPrefix(userID, deviceID),
			under(prefixTxn, userID, deviceID),
		} {
			if err := deletePrefix(tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("e2ee: deleting device %s of %s: %w", deviceID, userID, err)
	}
	if had && s.hooks.OnDeviceChange != nil && s.isLocal(userID) {
		s.hooks.OnDeviceChange(userID, deviceID, true, nil, pos)
	}
	// The inbox may be long: empty it in bounded transactions.
	if err := s.deleteRange(ctx, inboxPrefix(userID, deviceID), nil); err != nil {
		return fmt.Errorf("e2ee: deleting the inbox of device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// posAt reads the position at the end of a key.
func posAt(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}
