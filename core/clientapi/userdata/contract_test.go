package userdata

import (
	"context"
	"encoding/json"

	"hearth/core/accountdata"
	"hearth/core/ephemeral"
	"hearth/core/notifications"
	"hearth/core/syncer"
)

// The sources of the sync contract, restated from the briefing and checked
// against core/syncer's own interfaces, so that a change to a method set
// fails here first.
var (
	_ interface {
		Position() uint64
		Changes(ctx context.Context, userID string, from, to uint64) (map[string]json.RawMessage, map[string]map[string]json.RawMessage, error)
	} = (*accountdata.Store)(nil)
	_ interface {
		Position() uint64
		Changes(ctx context.Context, userID string, roomIDs []string, from, to uint64) (map[string]json.RawMessage, error)
	} = (*ephemeral.Receipts)(nil)
	_ interface {
		Position() uint64
		Changes(ctx context.Context, roomIDs []string, from, to uint64) (map[string][]string, error)
	} = (*ephemeral.Typing)(nil)
	_ interface {
		Position() uint64
		Changes(ctx context.Context, userID string, from, to uint64) ([]json.RawMessage, error)
	} = (*ephemeral.Presence)(nil)
	_ interface {
		Counts(ctx context.Context, userID, roomID string) (int, int, error)
	} = (*notifications.Service)(nil)
	_ ephemeral.ReadMarker = (*notifications.Service)(nil)
	_ ephemeral.Rooms      = (*ephemeral.DAGRooms)(nil)

	// The optional interfaces the syncer looks for.
	_ syncer.StreamWatcher     = (*accountdata.Store)(nil)
	_ syncer.StreamWatcher     = (*ephemeral.Receipts)(nil)
	_ syncer.StreamWatcher     = (*ephemeral.Typing)(nil)
	_ syncer.StreamWatcher     = (*ephemeral.Presence)(nil)
	_ syncer.PresenceActivity  = (*ephemeral.Presence)(nil)
	_ syncer.AccountDataReader = (*accountdata.Store)(nil)
	_ syncer.AccountData       = (*accountdata.Store)(nil)
	_ syncer.Receipts          = (*ephemeral.Receipts)(nil)
	_ syncer.Typing            = (*ephemeral.Typing)(nil)
	_ syncer.Presence          = (*ephemeral.Presence)(nil)
	_ syncer.Unread            = (*notifications.Service)(nil)
)
