package e2ee

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"hearth/persist"
)

// ToDevice is the to-device stream: per-device inboxes of messages ordered
// by one server-wide position. It implements the sync engine's ToDevice
// source.
type ToDevice struct{ s *Service }

// Position returns the to-device stream's watermark.
func (t *ToDevice) Position() uint64 {
	p, _ := t.s.toDevice.Position()
	return p
}

// Messages returns up to limit messages (no limit when limit <= 0) of the
// device's inbox with positions in (from, to], oldest first, each a
// {"sender","type","content"} object, and the position of the last one
// returned, or to when it returned all of them. Messages at or below from
// have been acknowledged by the client's next sync and are deleted.
func (t *ToDevice) Messages(ctx context.Context, userID, deviceID string, from, to uint64, limit int) ([]json.RawMessage, uint64, error) {
	return t.s.Messages(ctx, userID, deviceID, from, to, limit)
}

// deleteChunk bounds the deletions of one transaction when emptying an
// inbox or a backup, which may be larger than one transaction may hold.
const deleteChunk = 1000

// ToDeviceMessage is one message in an inbox, as /sync shows it.
type ToDeviceMessage struct {
	Sender  string          `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

// readToDevicePos returns the highest to-device position ever written.
// Delivered messages are deleted, so the inboxes cannot tell.
func readToDevicePos(tx persist.Tx) (uint64, error) {
	return persist.GetUint64(tx, []byte(keyToDevicePos))
}

// SendToDevice delivers a client's to-device messages of type eventType:
// messages maps user ID to device ID, or "*" for every device of the user,
// to content. The request is idempotent per (sender device, txnID): a
// retry delivers nothing again. Local devices get the message in their
// inbox durably before SendToDevice returns; unknown local users and
// devices are skipped, as are users of other servers when there is no
// Remote.
func (s *Service) SendToDevice(ctx context.Context, sender, senderDevice, eventType, txnID string, messages map[string]map[string]json.RawMessage) error {
	if !validName(sender) || !validName(senderDevice) {
		return invalidParam("invalid sender")
	}
	if !validName(eventType) {
		return invalidParam("invalid event type")
	}
	if txnID == "" {
		return invalidParam("empty transaction ID")
	}
	local := make(map[string]map[string]json.RawMessage)
	remote := make(map[string]map[string]map[string]json.RawMessage) // server -> user -> device -> content
	for user, devices := range messages {
		if err := checkUserID(user); err != nil {
			return err
		}
		for device, content := range devices {
			if !validName(device) {
				return invalidParam("invalid device ID %q", device)
			}
			if _, err := objectOf(content); err != nil {
				return badJSON("the message for %s %s is not a JSON object", user, device)
			}
		}
		if s.isLocal(user) {
			local[user] = devices
		} else if s.remote != nil {
			server := serverOf(user)
			if remote[server] == nil {
				remote[server] = make(map[string]map[string]json.RawMessage)
			}
			remote[server][user] = devices
		}
	}

	txn := txnKey(sender, senderDevice, txnID)
	var done bool
	if err := s.db.View(ctx, func(tx persist.Tx) error {
		var err error
		_, done, err = get(tx, txn)
		return err
	}); err != nil {
		return fmt.Errorf("e2ee: reading to-device transaction: %w", err)
	}
	if done {
		return nil
	}
	// Federation queues durably and deduplicates by message ID, so a retry
	// after a failure below sends nothing twice.
	messageID := toDeviceMessageID(sender, senderDevice, txnID)
	for server, msgs := range remote {
		if err := s.remote.SendToDevice(ctx, server, sender, eventType, messageID, msgs); err != nil {
			return fmt.Errorf("e2ee: sending to-device messages to %s: %w", server, err)
		}
	}

	var deliveries []delivery
	for user, devices := range local {
		known, err := s.devices.Devices(ctx, user)
		if err != nil {
			return fmt.Errorf("e2ee: listing devices of %s: %w", user, err)
		}
		for _, d := range known {
			content, ok := devices[d.ID]
			if !ok {
				if content, ok = devices["*"]; !ok {
					continue
				}
			}
			msg, err := json.Marshal(ToDeviceMessage{Sender: sender, Type: eventType, Content: content})
			if err != nil {
				return err
			}
			deliveries = append(deliveries, delivery{user, d.ID, msg})
		}
	}

	return s.deliver(ctx, txn, deliveries)
}

// delivery is one message for one local device's inbox.
type delivery struct {
	user, device string
	msg          []byte
}

// deliver stores deliveries in their inboxes at one new position, with
// the transaction record txn, unless txn is recorded already.
func (s *Service) deliver(ctx context.Context, txn []byte, deliveries []delivery) error {
	pos := s.toDevice.Allocate()
	var delivered []string
	err := s.db.Update(ctx, func(tx persist.Tx) error {
		delivered = nil
		if _, done, err := get(tx, txn); err != nil || done {
			return err
		}
		for _, d := range deliveries {
			if err := tx.Set(inboxKey(d.user, d.device, pos), d.msg); err != nil {
				return err
			}
			delivered = append(delivered, d.user)
		}
		if err := tx.Set(txn, nil); err != nil {
			return err
		}
		last, err := readToDevicePos(tx)
		if err != nil || last >= pos {
			return err
		}
		return tx.Set([]byte(keyToDevicePos), appendUint(nil, pos))
	})
	if err != nil {
		s.toDevice.finish(pos, nil)
		return fmt.Errorf("e2ee: storing to-device messages: %w", err)
	}
	s.toDevice.finish(pos, delivered)
	return nil
}

// toDeviceMessageID names a to-device request for federation, the same
// for every retry of it.
func toDeviceMessageID(sender, device, txnID string) string {
	sum := sha256.Sum256(key("", sender, device, txnID))
	return hex.EncodeToString(sum[:16])
}

// Messages implements [ToDevice.Messages].
func (s *Service) Messages(ctx context.Context, userID, deviceID string, from, to uint64, limit int) ([]json.RawMessage, uint64, error) {
	if !validName(userID) || !validName(deviceID) {
		return nil, to, nil
	}
	prefix := inboxPrefix(userID, deviceID)
	var (
		msgs  []json.RawMessage
		last  = to
		stale bool
	)
	err := s.db.View(ctx, func(tx persist.Tx) error {
		old := tx.Iterate(persist.IterOptions{Prefix: prefix, End: inboxKey(userID, deviceID, from+1), KeysOnly: true})
		stale = old.Next()
		old.Close()
		if err := old.Err(); err != nil {
			return err
		}
		if from >= to {
			return nil
		}
		end := inboxKey(userID, deviceID, to+1)
		if to == ^uint64(0) {
			end = nil
		}
		it := tx.Iterate(persist.IterOptions{Prefix: prefix, Start: inboxKey(userID, deviceID, from+1), End: end})
		defer it.Close()
		var prev uint64
		for it.Next() {
			if limit > 0 && len(msgs) == limit {
				// More remain: the client continues after the last one.
				last = prev
				break
			}
			msgs = append(msgs, it.Value())
			prev = posAt(it.Key())
		}
		return it.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("e2ee: reading the inbox of %s %s: %w", userID, deviceID, err)
	}
	if stale {
		if err := s.deleteRange(ctx, prefix, inboxKey(userID, deviceID, from+1)); err != nil {
			return nil, 0, fmt.Errorf("e2ee: deleting acknowledged to-device messages: %w", err)
		}
	}
	return msgs, last, nil
}

// deleteRange deletes the keys with prefix below end (all of them when end
// is nil), a bounded number per transaction.
func (s *Service) deleteRange(ctx context.Context, prefix, end []byte) error {
	for {
		n := 0
		err := s.db.Update(ctx, func(tx persist.Tx) error {
			n = 0
			it := tx.Iterate(persist.IterOptions{Prefix: prefix, End: end, KeysOnly: true})
			defer it.Close()
			for n < deleteChunk && it.Next() {
				if err := tx.Delete(it.Key()); err != nil {
					return err
				}
				n++
			}
			return it.Err()
		})
		if err != nil || n < deleteChunk {
			return err
		}
	}
}
