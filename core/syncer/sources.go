package syncer

import (
	"context"
	"encoding/json"
)

// The interfaces below are the sync contract: the packages that own each kind
// of data implement them, and the server wires the implementations into
// Config. Every source owns a stream of positions; "changes in (from, to]"
// means positions p with from < p <= to. Every source wakes the users whose
// /sync should see a change, through the shared notifier, once the change is
// durable and its position is visible through Position.

// AccountData: global and per-room account data (owned by core/accountdata).
type AccountData interface {
	Position() uint64
	// Changes returns the user's account data that changed in (from, to]: global by type, and per room by type.
	// from == 0 means everything.
	Changes(ctx context.Context, userID string, from, to uint64) (global map[string]json.RawMessage, rooms map[string]map[string]json.RawMessage, err error)
}

// ToDevice: per-device inboxes (owned by core/e2ee).
type ToDevice interface {
	Position() uint64
	// Messages returns up to limit messages for the device with positions in (from, to], oldest first, each a full
	// {"sender","type","content"} object, and the position of the last one returned (== to when all were returned).
	// Messages at or below from are acknowledged by the client and may be deleted.
	Messages(ctx context.Context, userID, deviceID string, from, to uint64, limit int) (msgs []json.RawMessage, last uint64, err error)
}

// DeviceKeys: device list changes and one-time key counts (owned by core/e2ee).
type DeviceKeys interface {
	Position() uint64
	// ListChanges returns users (sharing a room with userID, or userID itself) whose device lists changed in
	// (from, to], and users who no longer share any room with userID (left). Sync passes the rooms it knows.
	ListChanges(ctx context.Context, userID string, from, to uint64) (changed, left []string, err error)
	OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error)
	UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error)
}

// Receipts (owned by core/ephemeral): m.receipt content per room, with m.read.private only for its owner.
type Receipts interface {
	Position() uint64
	Changes(ctx context.Context, userID string, roomIDs []string, from, to uint64) (map[string]json.RawMessage, error)
}

// Typing (owned by core/ephemeral, in memory): the current typers of rooms whose typing changed in (from, to].
type Typing interface {
	Position() uint64
	Changes(ctx context.Context, roomIDs []string, from, to uint64) (map[string][]string, error)
}

// Presence (owned by core/ephemeral): m.presence events of users sharing a room with userID, changed in (from, to].
type Presence interface {
	Position() uint64
	Changes(ctx context.Context, userID string, from, to uint64) ([]json.RawMessage, error)
}

// Unread (owned by core/notifications): counts for the unread_notifications of a joined room.
type Unread interface {
	Counts(ctx context.Context, userID, roomID string) (notifications, highlights int, err error)
}
