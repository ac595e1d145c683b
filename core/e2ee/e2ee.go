// Package e2ee keeps what the server holds for end-to-end encryption (spec
// client-server API, "End-to-End Encryption" and "Send-to-Device
// messaging"): device identity keys, one-time and fallback keys,
// cross-signing keys and the signatures made with them, the device list
// change stream, per-device to-device inboxes and server-side key backups.
//
// The server never sees a private key or a plaintext: it stores signed
// public keys and opaque ciphertexts, hands out each one-time key once, and
// tells clients when to look again (device list changes) so that they can
// verify everything themselves.
//
// Two streams feed /sync, each with its own positions (core/streampos): the
// device list stream, on which a change is recorded whenever a user's
// device keys, cross-signing keys or signatures change or a device with
// keys is deleted (see [Service.DeviceKeys]), and the to-device stream,
// which orders the messages of every inbox (see [Service.ToDevice]).
//
// Every key lives under the prefix "e2ee/" of the persist store (layout in
// keys.go). User IDs, device IDs and the other names inside keys never
// contain 0x00, which separates them.
package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/persist"
)

// DeviceInfo is what the accounts layer knows of a device: its ID and the
// display name its user gave it, which /keys/query shows as
// unsigned.device_display_name.
type DeviceInfo struct {
	ID          string
	DisplayName string
}

// Devices lists a local user's devices (implemented by core/accounts). Only
// devices it lists are shown by /keys/query or receive to-device messages,
// so keys left behind by a deleted device never resurface.
type Devices interface {
	Devices(ctx context.Context, userID string) ([]DeviceInfo, error)
}

// RoomMembers answers who shares a room with a user (implemented over the
// room DAG): device list changes are shown to, and wake, exactly those
// users.
type RoomMembers interface {
	// SharedUsers returns the users, local or remote, who are joined to
	// at least one room that userID is joined to. It may include userID.
	SharedUsers(ctx context.Context, userID string) ([]string, error)
}

// RemoteKeys is what another server answers to a key query for its users.
type RemoteKeys struct {
	// DeviceKeys maps user ID to device ID to the device's signed keys.
	DeviceKeys map[string]map[string]json.RawMessage
	// MasterKeys and SelfSigningKeys map user ID to a cross-signing key.
	MasterKeys      map[string]json.RawMessage
	SelfSigningKeys map[string]json.RawMessage
}

// Remote reaches the users of other servers over federation. Service
// works without one: users of other servers are then reported as failures
// by key queries and claims, and to-device messages to them are dropped.
type Remote interface {
	// QueryKeys asks server for the keys of its users: user ID to device
	// IDs, an empty list meaning every device.
	QueryKeys(ctx context.Context, server string, users map[string][]string) (RemoteKeys, error)
	// ClaimKeys claims one-time keys on server: user ID to device ID to
	// algorithm. It answers user ID to device ID to "<algorithm>:<key ID>"
	// to key.
	ClaimKeys(ctx context.Context, server string, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error)
	// SendToDevice hands to-device messages for users of server to
	// federation, which must queue them durably before returning and
	// deliver them once: messageID is the same when a client retries.
	// messages maps user ID to device ID (or "*") to content.
	SendToDevice(ctx context.Context, server, sender, eventType, messageID string, messages map[string]map[string]json.RawMessage) error
}

// Config is what a Service needs.
type Config struct {
	// Store holds every key under "e2ee/".
	Store persist.Store
	// ServerName tells local users from remote ones.
	ServerName string
	// Devices lists local users' devices.
	Devices Devices
	// Members says who shares a room with a user.
	Members RoomMembers
	// Remote reaches other servers; nil keeps the service local.
	Remote Remote
	// Wake wakes the syncs of users after a durable change they should
	// see (notify.Notifier.Wake). Nil wakes nobody.
	Wake func(users ...string)
	// OnDeviceChange, when set, is called after a local device's keys are
	// stored or a device with keys is deleted, with the device list
	// stream position of the change (federation sends
	// m.device_list_update).
	OnDeviceChange func(userID, deviceID string, deleted bool, keys json.RawMessage, streamID uint64)
	// OnSigningKeyChange, when set, is called after a local user's
	// cross-signing keys change; master or selfSigning is nil when not
	// uploaded (federation sends m.signing_key_update).
	OnSigningKeyChange func(userID string, master, selfSigning json.RawMessage)
}

// Service is the end-to-end encryption store. It is safe for concurrent
// use.
type Service struct {
	db         persist.Store
	serverName string
	devices    Devices
	members    RoomMembers
	remote     Remote
	hooks      Config

	lists    *stream // device list changes
	toDevice *stream // to-device messages
}

// New opens the service over cfg.Store, reading where its streams stand.
func New(ctx context.Context, cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("e2ee: Config.Store is nil")
	case cfg.ServerName == "":
		return nil, errors.New("e2ee: Config.ServerName is empty")
	case cfg.Devices == nil:
		return nil, errors.New("e2ee: Config.Devices is nil")
	case cfg.Members == nil:
		return nil, errors.New("e2ee: Config.Members is nil")
	}
	s := &Service{
		db:         cfg.Store,
		serverName: cfg.ServerName,
		devices:    cfg.Devices,
		members:    cfg.Members,
		remote:     cfg.Remote,
		hooks:      cfg,
	}
	var lastList, lastToDevice uint64
	err := s.db.View(ctx, func(tx persist.Tx) error {
		var err error
		if lastList, err = lastListPos(tx); err != nil {
			return err
		}
		lastToDevice, err = readToDevicePos(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("e2ee: reading stream positions: %w", err)
	}
	s.lists = newStream(lastList, cfg.Wake)
	s.toDevice = newStream(lastToDevice, cfg.Wake)
	return s, nil
}

// ToDevice returns the to-device stream, the sync engine's ToDevice source.
func (s *Service) ToDevice() *ToDevice { return &ToDevice{s: s} }

// DeviceKeys returns the device list stream with the one-time key counts,
// the sync engine's DeviceKeys source.
func (s *Service) DeviceKeys() *DeviceKeys { return &DeviceKeys{s: s} }
