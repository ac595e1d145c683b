// Package syncer computes the responses of the client-server API's /sync
// (spec v1.12, "Syncing"): the initial snapshot of a user's rooms and the
// incremental deltas after a since token, waiting (long-polling) for news when
// there is none.
//
// Rooms come from the room DAG; everything else (account data, to-device
// messages, device lists, receipts, typing, presence, unread counts) comes from
// the sources in sources.go, which the packages owning that data implement.
// Every source has its own stream of positions and a sync token records one
// position per stream (see Token). An incremental sync reads only what changed
// in each stream since the token, so its cost grows with the news, not with the
// server: the only per-room work for rooms that did not change is comparing
// each joined room's last position with the token.
//
// The package also keeps the filters clients upload (POST /user/{userId}/filter)
// in the persist store, under the "sync/filter/" key prefix.
package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"hearth/core/event"
	"hearth/core/filter"
	"hearth/core/notify"
	"hearth/core/room"
	"hearth/persist"
)

// Visibility decides which room events a user may see, by the room's history
// visibility (spec "History visibility"). Sync asks only about events the user
// may not have seen as a member: those before their latest join, and those
// of rooms they left.
type Visibility interface {
	CanSee(ctx context.Context, userID string, ev *event.PDU) (bool, error)
}

// Transactions recalls the transaction IDs under which a device sent events,
// so that its own events come back with unsigned.transaction_id.
type Transactions interface {
	TxnID(ctx context.Context, userID, deviceID, eventID string) (string, bool)
}

// PresenceActivity is implemented by a Presence source that a sync may mark
// its user active (online) in: /sync's set_presence parameter, when absent or
// "online". ("offline" leaves presence alone, as the spec says, and
// "unavailable" does too, since a sync has no business clearing a status
// message.)
type PresenceActivity interface {
	Active(ctx context.Context, userID string) error
}

// AccountDataReader is implemented by an AccountData source that reads one
// item of account data. Sync reads the user's m.ignored_user_list through it
// (spec "Ignoring Users": events and invites from ignored users are not
// sent); any error reads as no list.
type AccountDataReader interface {
	Get(ctx context.Context, userID, roomID, typ string) (json.RawMessage, error)
}

// Forgotten tells which rooms a user forgot (POST /rooms/{roomId}/forget)
// and has not been in since: sync leaves them out, as Synapse does, so that
// a forgotten room no longer shows in the leave section of an initial sync
// with include_leave, nor in an incremental sync that sees the leave.
// core/clientapi/rooms implements it.
type Forgotten interface {
	Forgotten(ctx context.Context, userID, roomID string) (bool, error)
}

// Config is what a Syncer reads from. Every source may be nil: the sections
// it would fill are then empty.
type Config struct {
	// DAG holds the rooms.
	DAG *room.DAG
	// Store keeps uploaded filters.
	Store persist.Store
	// ServerName is this server's name.
	ServerName string
	// Now returns the current time, for the age of events.
	Now func() time.Time
	// Notifier wakes long-polling requests; without it they return at once.
	Notifier *notify.Notifier

	AccountData AccountData
	ToDevice    ToDevice
	DeviceKeys  DeviceKeys
	Receipts    Receipts
	Typing      Typing
	Presence    Presence
	Unread      Unread

	// Visibility filters events by history visibility; without it a user
	// sees every event of the rooms they are or were in.
	Visibility Visibility
	// Transactions supplies transaction IDs; without it none are shown.
	Transactions Transactions
	// Forgotten leaves out the rooms a user forgot; without it left rooms
	// show whether forgotten or not.
	Forgotten Forgotten
	// RemoteInvites supplies invites to rooms this server is not in;
	// without it only invites the room DAG holds show.
	RemoteInvites RemoteInvites

	// Pace is the least time between the start of one device's incremental
	// sync and the answer before it: a device that syncs again sooner
	// first waits out the rest, so that what happens meanwhile shares one
	// answer. A client that keeps up with a busy room would otherwise get
	// an answer per event or two, each costing it and the server a
	// request. An idle device, whose sync waits for news, never notices.
	// It needs Sleep; zero means no pacing.
	Pace time.Duration
	// Sleep pauses the calling goroutine for d (time.Sleep natively).
	Sleep func(d time.Duration)
}

// Syncer answers /sync requests. It is safe for concurrent use.
type Syncer struct {
	cfg     Config
	members memberCache
	pacer   pacer
	// onWait, when set (by tests), is called each time a long-polling
	// request starts to wait.
	onWait func()
}

// New returns a Syncer over cfg.
func New(cfg Config) (*Syncer, error) {
	if cfg.DAG == nil || cfg.Store == nil || cfg.Now == nil || cfg.ServerName == "" {
		return nil, errors.New("syncer: Config needs DAG, Store, Now and ServerName")
	}
	return &Syncer{cfg: cfg}, nil
}

// Request is one /sync request.
type Request struct {
	UserID   string
	DeviceID string
	// Since is the token of the previous sync; nil for an initial sync.
	Since *Token
	// Filter selects what to return; nil returns everything.
	Filter *filter.Filter
	// FullState sends every room's full state, and returns at once.
	FullState bool
	// Timeout is how long to wait for news when there is none.
	Timeout time.Duration
	// SetPresence is the set_presence parameter: "online" (the default
	// when empty), "unavailable" or "offline". Online marks the user active
	// when the Presence source implements PresenceActivity.
	SetPresence string
}

// Sync answers req. An incremental sync with nothing new waits up to
// req.Timeout for news, and then answers with the current positions.
// It returns ctx's error if ctx ends while waiting.
func (s *Syncer) Sync(ctx context.Context, req Request) (*Response, error) {
	if err := s.setPresence(ctx, req); err != nil {
		return nil, err
	}
	if req.Since != nil && s.cfg.Pace > 0 && s.cfg.Sleep != nil {
		if d := s.pacer.wait(req.UserID, req.DeviceID, s.cfg.Now(), s.cfg.Pace); d > 0 {
			s.cfg.Sleep(d)
		}
	}
	resp, err := s.sync(ctx, req)
	if err == nil && s.cfg.Pace > 0 {
		s.pacer.answered(req.UserID, req.DeviceID, s.cfg.Now(), s.cfg.Pace)
	}
	return resp, err
}

// sync is Sync after pacing.
func (s *Syncer) sync(ctx context.Context, req Request) (*Response, error) {
	if req.Since == nil || req.FullState || req.Timeout <= 0 || s.cfg.Notifier == nil {
		return s.compute(ctx, req)
	}
	timer := time.NewTimer(req.Timeout)
	defer timer.Stop()
	// Writers wake users once their change is durable, which can be
	// before the stream's watermark covers it: the room DAG always wakes
	// a room's members before, and any stream's watermark waits for
	// writes still in flight before it. So a request woken for news it
	// cannot see yet also waits, once, for the watermarks to move.
	watch := false
	for {
		mine, everyone := s.cfg.Notifier.Waiter(req.UserID)
		var moved []<-chan struct{}
		if watch {
			moved = s.watermarks()
		}
		resp, err := s.compute(ctx, req)
		if err != nil || !resp.empty() {
			return resp, err
		}
		if s.onWait != nil {
			s.onWait()
		}
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(mine)},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(everyone)},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		}
		for _, ch := range moved {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		switch i, _, _ := reflect.Select(cases); i {
		case 0, 1:
			watch = true
		case 2:
			return s.compute(ctx, req)
		case 3:
			return nil, ctx.Err()
		default:
			watch = false
		}
	}
}

// StreamWatcher is implemented by sources whose watermark can be waited on,
// as streampos.Stream's Position does: the position and a channel closed
// when it next moves. Long-polling requests use it after a wake-up that
// brought nothing they could see yet.
type StreamWatcher interface {
	Stream() (uint64, <-chan struct{})
}

// watermarks returns channels closed when the room stream or a source's
// stream that can be watched next moves.
func (s *Syncer) watermarks() []<-chan struct{} {
	_, rooms := s.cfg.DAG.Position()
	out := []<-chan struct{}{rooms}
	for _, src := range []any{s.cfg.AccountData, s.cfg.ToDevice, s.cfg.DeviceKeys, s.cfg.Receipts, s.cfg.Typing, s.cfg.Presence, s.cfg.RemoteInvites} {
		if w, ok := src.(StreamWatcher); ok {
			_, ch := w.Stream()
			out = append(out, ch)
		}
	}
	return out
}

// setPresence passes set_presence on to a Presence source that takes it.
func (s *Syncer) setPresence(ctx context.Context, req Request) error {
	activity, ok := s.cfg.Presence.(PresenceActivity)
	if !ok || (req.SetPresence != "" && req.SetPresence != "online") {
		return nil
	}
	if err := activity.Active(ctx, req.UserID); err != nil {
		return fmt.Errorf("syncer: mark %s active: %w", req.UserID, err)
	}
	return nil
}

// current returns the positions every stream is complete up to.
func (s *Syncer) current() Token {
	var t Token
	t.Rooms, _ = s.cfg.DAG.Position()
	if s.cfg.AccountData != nil {
		t.AccountData = s.cfg.AccountData.Position()
	}
	if s.cfg.ToDevice != nil {
		t.ToDevice = s.cfg.ToDevice.Position()
	}
	if s.cfg.DeviceKeys != nil {
		t.DeviceKeys = s.cfg.DeviceKeys.Position()
	}
	if s.cfg.Receipts != nil {
		t.Receipts = s.cfg.Receipts.Position()
	}
	if s.cfg.Typing != nil {
		t.Typing = s.cfg.Typing.Position()
	}
	if s.cfg.Presence != nil {
		t.Presence = s.cfg.Presence.Position()
	}
	if s.cfg.RemoteInvites != nil {
		t.RemoteInvites = s.cfg.RemoteInvites.Position()
	}
	return t
}

// Position returns the token a sync would answer with now, were nothing
// pending: the current position of every stream.
func (s *Syncer) Position() Token { return s.current() }
