package syncer

import (
	"context"
	"encoding/json"
	"fmt"
)

// RemoteInvites are invites of local users to rooms this server is not in
// (core/fedserver keeps them): the room DAG has no place for them, so they
// have their own stream. Position is the stream's watermark.
type RemoteInvites interface {
	Position() uint64
	// RemoteInvites returns the user's invites that changed in (from, to]:
	// new ones, and ones the user rejected (Left set). from == 0 means
	// every pending invite (and no rejected ones).
	RemoteInvites(ctx context.Context, userID string, from, to uint64) ([]RemoteInvite, error)
}

// RemoteInvite is one invite of a RemoteInvites source.
type RemoteInvite struct {
	RoomID string
	// Inviter is the invite's sender.
	Inviter string
	// Event is the invite event in client form.
	Event json.RawMessage
	// StrippedState is the room's stripped state its server sent.
	StrippedState []json.RawMessage
	// Left, when set, is the user's leave rejecting the invite, in client
	// form: the room goes into the leave section.
	Left json.RawMessage
}

// remoteInvites adds the invites to rooms this server is not in. A room
// the DAG already shows (the user joined it meanwhile) is left alone.
func (r *run) remoteInvites(ctx context.Context) error {
	src := r.s.cfg.RemoteInvites
	if src == nil || (!r.initial && r.from.RemoteInvites >= r.to.RemoteInvites) {
		return nil
	}
	from := r.from.RemoteInvites
	if r.initial {
		from = 0
	}
	invs, err := src.RemoteInvites(ctx, r.req.UserID, from, r.to.RemoteInvites)
	if err != nil {
		return fmt.Errorf("syncer: remote invites of %s: %w", r.req.UserID, err)
	}
	for _, inv := range invs {
		if r.resp.Rooms.Join[inv.RoomID] != nil || r.resp.Rooms.Invite[inv.RoomID] != nil ||
			r.resp.Rooms.Leave[inv.RoomID] != nil || r.resp.Rooms.Knock[inv.RoomID] != nil {
			continue
		}
		if inv.Left != nil {
			if !r.initial {
				r.resp.Rooms.Leave[inv.RoomID] = &LeftRoom{Timeline: Timeline{Events: []json.RawMessage{inv.Left}}}
			}
			continue
		}
		if r.ignored[inv.Inviter] {
			continue
		}
		events := append(append([]json.RawMessage{}, inv.StrippedState...), inv.Event)
		r.resp.Rooms.Invite[inv.RoomID] = &InvitedRoom{InviteState: EventBatch{Events: events}}
	}
	return nil
}
