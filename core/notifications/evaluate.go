package notifications

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/core/pushrules"
	"hearth/core/room"
	"hearth/persist"
)

// MainThread is the thread ID of events that are not in a thread, as
// threaded read receipts name it.
const MainThread = "main"

// hit is one user notified by one event.
type hit struct {
	userID    string
	actions   []pushrules.Action
	highlight bool
}

// threadOf returns the thread an event belongs to: the root named by an
// m.thread relation, or MainThread.
func threadOf(v pushrules.EventView) string {
	rel, _ := v.Property(`content.m\.relates_to.rel_type`)
	root, _ := v.Property(`content.m\.relates_to.event_id`)
	if rel == "m.thread" {
		if id, ok := root.(string); ok && id != "" {
			return id
		}
	}
	return MainThread
}

// process evaluates one timeline event for the room's local users and
// records the notifications it causes, and the read marker it moves for a
// local sender, in one transaction.
func (s *Service) process(ctx context.Context, a room.Added) error {
	ev := a.Event
	roomID := ev.RoomID()
	state, err := s.cfg.Rooms.StateAfter(ctx, ev.ID())
	if err != nil {
		return fmt.Errorf("state after the event: %w", err)
	}
	rm, err := s.members.at(ctx, s.cfg.Rooms, roomID, state)
	if err != nil {
		return fmt.Errorf("room members: %w", err)
	}
	view, err := pushrules.NewEventView(ev.JSON())
	if err != nil {
		return err
	}
	sender := ev.Sender()
	var targets []string
	for u, m := range rm.info {
		if m.membership == "join" && u != sender && s.members.local(u) {
			targets = append(targets, u)
		}
	}
	// The invitee of an invite is not joined, yet the invite is for them.
	if sk, ok := ev.StateKey(); ok && ev.Type() == "m.room.member" && ev.Membership() == "invite" && sk != sender && s.members.local(sk) {
		targets = append(targets, sk)
	}
	pctx := pushrules.Context{MemberCount: rm.joined}
	if rm.levels != nil {
		pctx.SenderPowerLevel = rm.levels.UserLevel(sender)
		pctx.NotificationPowerLevels = rm.levels.Notifications()
	}
	var hits []hit
	for _, u := range targets {
		rs, err := s.rulesFor(ctx, u)
		if err != nil {
			s.cfg.Logf("notifications: push rules of %s: %v", u, err)
			continue
		}
		c := pctx
		c.UserID, c.DisplayName = u, rm.info[u].displayName
		actions, _ := pushrules.Evaluate(*rs, view, c)
		if pushrules.Notifies(actions) {
			hits = append(hits, hit{userID: u, actions: actions, highlight: pushrules.Highlights(actions)})
		}
	}
	senderLocal := s.members.local(sender)
	if len(hits) == 0 && !senderLocal {
		return nil
	}
	thread := threadOf(view)
	ts := s.cfg.Now().UnixMilli()
	return s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		for _, h := range hits {
			if err := s.record(tx, h, roomID, ev.ID(), thread, a.Pos, ts); err != nil {
				return err
			}
		}
		if senderLocal {
			// Sending an event moves the sender's read marker to it,
			// as the spec's "Marking notifications as read" says.
			return markRead(tx, sender, roomID, thread, a.Pos)
		}
		return nil
	})
}

// storedNotification is one entry of a user's notification list.
type storedNotification struct {
	RoomID    string          `json:"r"`
	EventID   string          `json:"e"`
	Actions   json.RawMessage `json:"a"`
	TS        int64           `json:"ts"`
	Highlight bool            `json:"h,omitempty"`
}

// record stores one notification: in the user's list and, unless the user
// has already read past it, among the room's unread ones.
func (s *Service) record(tx persist.Tx, h hit, roomID, eventID, thread string, pos uint64, ts int64) error {
	read, err := readUpTo(tx, h.userID, roomID, thread)
	if err != nil {
		return err
	}
	if pos > read {
		if err := tx.Set(unreadKey(h.userID, roomID, pos), encodeUnread(thread, h.highlight)); err != nil {
			return err
		}
		hl := int64(0)
		if h.highlight {
			hl = 1
		}
		if err := addCounts(tx, h.userID, roomID, 1, hl); err != nil {
			return err
		}
	}
	actions, err := json.Marshal(h.actions)
	if err != nil {
		return err
	}
	entry, err := json.Marshal(storedNotification{RoomID: roomID, EventID: eventID, Actions: actions, TS: ts, Highlight: h.highlight})
	if err != nil {
		return err
	}
	if err := tx.Set(listKey(h.userID, pos), entry); err != nil {
		return err
	}
	return s.pruneList(tx, h.userID)
}

// pruneList counts the entry just added to the user's list and drops the
// oldest entry when the list holds more than MaxStored.
func (s *Service) pruneList(tx persist.Tx, userID string) error {
	raw, err := getOptional(tx, listCountKey(userID))
	if err != nil {
		return err
	}
	n, err := uint64Value(raw)
	if err != nil {
		return err
	}
	n++
	if n > uint64(s.cfg.MaxStored) {
		it := tx.Iterate(persist.IterOptions{Prefix: listPrefix(userID), KeysOnly: true})
		ok := it.Next()
		key := it.Key()
		err := it.Err()
		it.Close()
		if err != nil {
			return err
		}
		if ok {
			if err := tx.Delete(key); err != nil {
				return err
			}
			n--
		}
	}
	return tx.Set(listCountKey(userID), binary.BigEndian.AppendUint64(nil, n))
}

// getOptional is tx.Get with nil for a missing key.
func getOptional(tx persist.Tx, key []byte) ([]byte, error) {
	raw, err := tx.Get(key)
	if errors.Is(err, persist.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}
