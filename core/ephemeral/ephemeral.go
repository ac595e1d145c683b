// Package ephemeral keeps the room data that is not part of the event
// graph: typing notifications (in memory, expiring with the injected clock),
// read receipts and read markers (durable), and presence (durable). Each
// kind has its own stream of positions and implements the matching source
// of the sync contract: Typing, Receipts and Presence. Every change wakes
// the users whose /sync should see it.
//
// Membership comes through the Rooms interface; NewDAGRooms implements it
// over the room DAG. Receipts move the reader's notification counts through
// ReadMarker (core/notifications implements it), and m.fully_read markers
// are room account data (core/accountdata).
package ephemeral

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hearth/core/accountdata"
	"hearth/core/room"
	"hearth/core/streampos"
	"hearth/persist"
)

// Errors callers act on.
var (
	// ErrNotJoined means the user is not joined to the room (403).
	ErrNotJoined = errors.New("ephemeral: user is not joined to the room")
	// ErrUnknownEvent means the event is unknown, not in the room or not
	// in its timeline (404).
	ErrUnknownEvent = errors.New("ephemeral: unknown event")
	// ErrInvalid wraps arguments the spec forbids (400): an unknown
	// receipt type or presence state, a thread ID where none may be.
	ErrInvalid = errors.New("ephemeral: invalid argument")
	// ErrNotVisible means the viewer may not see the user's presence
	// (403): they share no room.
	ErrNotVisible = errors.New("ephemeral: presence not visible")
)

// Rooms answers the membership questions of this package.
type Rooms interface {
	// Membership returns the local user's membership of the room
	// (join, invite, leave, ban, knock), "" if none.
	Membership(ctx context.Context, userID, roomID string) (string, error)
	// JoinedLocalMembers returns this server's users joined to the room.
	JoinedLocalMembers(ctx context.Context, roomID string) ([]string, error)
	// SharedUsers returns this server's users who share a joined room
	// with userID, userID included.
	SharedUsers(ctx context.Context, userID string) ([]string, error)
}

// Events finds the events that receipts name; *room.DAG implements it.
type Events interface {
	Info(ctx context.Context, eventID string) (room.EventInfo, error)
}

// ReadMarker is told when a user's read receipt moves, so that their
// notification counts reset; *notifications.Service implements it. thread
// is "" for an unthreaded receipt; pos is the event's stream position.
type ReadMarker interface {
	MarkRead(ctx context.Context, userID, roomID, thread string, pos uint64) error
}

// Config is what the package needs from its surroundings.
type Config struct {
	// Store holds receipts and presence under "ephemeral/".
	Store persist.Store
	// Now returns the current time: receipt timestamps, typing expiry,
	// presence activity.
	Now func() time.Time
	// Wake is called with the users a change concerns once it is
	// visible.
	Wake func(users ...string)
	// Rooms answers membership questions.
	Rooms Rooms
	// Events finds the events receipts name.
	Events Events
	// AccountData stores m.fully_read markers.
	AccountData *accountdata.Store
	// Read, when set, is told of every m.read and m.read.private receipt.
	Read ReadMarker
	// AfterFunc, when set, runs f after d, so that a typing notification
	// that times out wakes the room's syncs at once (time.AfterFunc
	// natively). Without it, expiry is noticed at the next read.
	AfterFunc func(d time.Duration, f func())
	// OnTyping, when set, is called after each local user's typing
	// request (federation sends it on as m.typing).
	OnTyping func(roomID, userID string, typing bool)
	// OnReceipt, when set, is called after a local user's public m.read
	// receipt is durable (federation sends it on as m.receipt).
	OnReceipt func(roomID, userID, eventID, threadID string, ts int64)
	// OnPresence, when set, is called after a local user's presence
	// change others are told of is durable (m.presence).
	OnPresence func(userID string, status Status)
}

// Ephemeral holds the three sources.
type Ephemeral struct {
	Typing   *Typing
	Receipts *Receipts
	Presence *Presence
}

// New opens the receipts and presence in cfg.Store and starts an empty
// set of typers.
func New(ctx context.Context, cfg Config) (*Ephemeral, error) {
	if cfg.Store == nil || cfg.Now == nil || cfg.Rooms == nil || cfg.Events == nil || cfg.AccountData == nil {
		return nil, errors.New("ephemeral: Config needs Store, Now, Rooms, Events and AccountData")
	}
	if cfg.Wake == nil {
		cfg.Wake = func(...string) {}
	}
	c := &cfg
	r, err := newReceipts(ctx, c)
	if err != nil {
		return nil, err
	}
	p, err := newPresence(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Ephemeral{Typing: newTyping(c), Receipts: r, Presence: p}, nil
}

// joined checks that the user is joined to the room.
func joined(ctx context.Context, rooms Rooms, userID, roomID string) error {
	m, err := rooms.Membership(ctx, userID, roomID)
	if err != nil {
		return fmt.Errorf("ephemeral: membership: %w", err)
	}
	if m != "join" {
		return fmt.Errorf("%w: %s in %s", ErrNotJoined, userID, roomID)
	}
	return nil
}

// wakeWhenVisible calls wake once the stream's watermark reaches pos, so
// that a woken /sync finds the write: a write can finish while an earlier
// position is still being written, and then becomes visible only when
// that one finishes.
func wakeWhenVisible(s *streampos.Stream, pos uint64, wake func(...string), users ...string) {
	p, moved := s.Position()
	if p >= pos {
		wake(users...)
		return
	}
	go func() {
		for p < pos {
			<-moved
			p, moved = s.Position()
		}
		wake(users...)
	}()
}
