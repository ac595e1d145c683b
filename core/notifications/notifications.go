// Package notifications decides which room events notify which local users
// and what follows from that: each user's unread notification and
// highlight counts per room (the unread_notifications of /sync), the list
// behind GET /notifications, the user's push rules (stored as the
// m.push_rules account data, so that they sync to every client), and the
// user's pushers.
//
// Nothing is evaluated or written when an event is sent or received. The
// push rules of a user are evaluated lazily, when that user asks: Counts
// walks the room's stored timeline forward from where the user has read
// to the room's end, evaluating each event for that user alone
// (core/pushrules, with the room's member count, the user's display name
// and the power levels of the state after the event), and List walks the
// user's rooms' timelines backwards. Most members of a busy room are not
// syncing at any one time, so this costs far less than evaluating every
// event for every member as it arrives, and it needs no writes inside the
// store's commit path. Because Counts reads up to the room's position at
// the call, the count for an event appears in the same /sync response as
// the event itself, as the spec requires.
//
// What is stored per (user, room) are the read markers: one per thread
// and one unthreaded (which covers every thread), moved by MarkRead, which
// the receipts code calls for m.read and m.read.private receipts, and a
// floor below which everything is read, which MarkRead keeps so that a
// walk can start above old, read threads. A user's own event marks its
// thread read up to it, as the spec's "Marking notifications as read"
// says; that is derived during the walk, never written. What a walk finds
// is kept in a bounded in-memory cache per (user, room), so that the next
// Counts evaluates only the events that arrived since; a miss just walks
// again.
//
// A walk evaluates at most MaxWalk events: a user with more unread events
// in a room has counts that cover the newest MaxWalk only, and the older
// ones count as read. A walk also starts no earlier than the user's latest
// membership event in the room, which is their own.
//
// Push rules are evaluated as they are at the time of the walk, not as
// they were when the event arrived. Delivery to push gateways is not done
// here; when it is added, users with pushers need their events evaluated
// eagerly, as they arrive.
package notifications

import (
	"context"
	"errors"

	"hearth/core/accountdata"
	"hearth/core/event"
	"hearth/core/room"
	"hearth/persist"
)

// Rooms is what the package reads of the room DAG; *room.DAG implements
// it.
type Rooms interface {
	StateAfter(ctx context.Context, eventID string) (room.State, error)
	StateEvents(ctx context.Context, s room.State) (map[event.StateKey]*event.PDU, error)
	Info(ctx context.Context, eventID string) (room.EventInfo, error)
	Timeline(ctx context.Context, roomID string, from, to uint64, backwards bool, limit int) ([]room.TimelineEvent, error)
	LastPos(ctx context.Context, roomID string) (uint64, error)
	Rooms(ctx context.Context, userID string) (map[string]room.Membership, error)
	MembershipOf(ctx context.Context, userID, roomID string) (room.Membership, error)
}

// Config is what a Service needs from its surroundings.
type Config struct {
	// ServerName is this server's name: users whose IDs end in it are
	// local and have push rules here.
	ServerName string
	// Store holds the data under the "notifications/" prefix.
	Store persist.Store
	// Rooms is the room DAG.
	Rooms Rooms
	// AccountData stores each user's push rules as m.push_rules.
	AccountData *accountdata.Store
	// Logf, when set, reports events that could not be evaluated, which
	// are then skipped.
	Logf func(format string, args ...any)
	// MaxWalk bounds the events one computation of a user's counts in a
	// room evaluates; 0 means DefaultMaxWalk.
	MaxWalk int
	// MaxListScan bounds the events one List call evaluates; 0 means
	// DefaultMaxListScan.
	MaxListScan int
}

// Defaults of the Config bounds.
const (
	DefaultMaxWalk     = 5000
	DefaultMaxListScan = 2000
)

// Service evaluates push rules for the users who ask and keeps their read
// markers and pushers. It is safe for concurrent use.
type Service struct {
	cfg     Config
	members *memberCache
	rules   *rulesCache
	unread  *unreadCache
}

// New returns a Service over cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Rooms == nil || cfg.AccountData == nil || cfg.ServerName == "" {
		return nil, errors.New("notifications: Config needs ServerName, Store, Rooms and AccountData")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.MaxWalk <= 0 {
		cfg.MaxWalk = DefaultMaxWalk
	}
	if cfg.MaxListScan <= 0 {
		cfg.MaxListScan = DefaultMaxListScan
	}
	return &Service{
		cfg:     cfg,
		members: newMemberCache(cfg.ServerName),
		rules:   newRulesCache(),
		unread:  newUnreadCache(),
	}, nil
}
