package e2ee

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth/persist"
)

// federationDevice stands for the sending device in the transaction
// records of to-device messages from other servers, whose users have no
// device here.
const federationDevice = "\x01federation"

// RemoteDeviceListChanged records that a user of another server changed
// their devices or cross-signing keys (m.device_list_update,
// m.signing_key_update), so that the local users sharing a room with them
// see the user in device_lists.changed and query the keys again. Local
// users are refused: their changes are recorded here.
func (s *Service) RemoteDeviceListChanged(ctx context.Context, userID string) error {
	if !validUserID(userID) || s.isLocal(userID) {
		return invalidParam("not a remote user: %q", userID)
	}
	err := s.updateLists(ctx, func(tx persist.Tx, c *changeSet) error {
		c.mark(userID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("e2ee: device list change of %s: %w", userID, err)
	}
	return nil
}

// DeliverRemoteToDevice puts the to-device messages a user of another
// server sent (m.direct_to_device) into the inboxes of local devices:
// messages maps local user IDs to device IDs, or "*", to content; users of
// other servers are ignored. A message ID delivered before is ignored, so
// a retried transaction delivers nothing twice.
func (s *Service) DeliverRemoteToDevice(ctx context.Context, sender, eventType, messageID string, messages map[string]map[string]json.RawMessage) error {
	if !validUserID(sender) || s.isLocal(sender) {
		return invalidParam("not a remote sender: %q", sender)
	}
	if !validName(eventType) || !validName(messageID) {
		return invalidParam("invalid event type or message ID")
	}
	txn := txnKey(sender, federationDevice, messageID)
	var deliveries []delivery
	for user, devices := range messages {
		if !validUserID(user) || !s.isLocal(user) {
			continue
		}
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
			if _, err := objectOf(content); err != nil {
				continue
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
