package notifications

import (
	"context"
	"fmt"

	"hearth/core/event"
	"hearth/core/pushrules"
)

// MainThread is the thread ID of events that are not in a thread, as
// threaded read receipts name it.
const MainThread = "main"

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

// verdict is what one event means for one user.
type verdict struct {
	// thread is the event's thread, for own and notifying events.
	thread string
	// own is set for the user's own events, which mark their thread
	// read and never notify.
	own bool
	// actions are those of the rule that matched, when the event
	// notifies the user; highlight when they highlight. They belong to
	// the user's compiled rules: read only.
	actions   []pushrules.Action
	highlight bool
}

func (v verdict) notifies() bool { return v.actions != nil }

// evaluate decides what a timeline event means for userID: whether it is
// their own, and whether their push rules make it notify them, as
// evaluated in the room's state after the event. Only members joined in
// that state are notified, and the invitee of an invite. It only reads.
func (s *Service) evaluate(ctx context.Context, userID string, ev *event.PDU) (verdict, error) {
	sender := ev.Sender()
	if sender == userID {
		view, err := eventView(ev)
		if err != nil {
			return verdict{}, err
		}
		return verdict{thread: threadOf(view), own: true}, nil
	}
	state, err := s.cfg.Rooms.StateAfter(ctx, ev.ID())
	if err != nil {
		return verdict{}, fmt.Errorf("state after %s: %w", ev.ID(), err)
	}
	ec, err := s.members.context(ctx, s.cfg.Rooms, ev.RoomID(), state, userID, sender)
	if err != nil {
		return verdict{}, fmt.Errorf("room members after %s: %w", ev.ID(), err)
	}
	if ec.membership != "join" {
		// The invitee of an invite is not joined, yet the invite is
		// for them.
		sk, ok := ev.StateKey()
		if !ok || sk != userID || ev.Type() != "m.room.member" || ev.Membership() != "invite" {
			return verdict{}, nil
		}
	}
	rules, err := s.rulesFor(ctx, userID)
	if err != nil {
		return verdict{}, fmt.Errorf("push rules of %s: %w", userID, err)
	}
	view, err := eventView(ev)
	if err != nil {
		return verdict{}, err
	}
	actions, _ := rules.Evaluate(view, ec.push)
	if !pushrules.Notifies(actions) {
		return verdict{}, nil
	}
	return verdict{thread: threadOf(view), actions: actions, highlight: pushrules.Highlights(actions)}, nil
}

// eventView returns the view the push rules match of an event: its
// client fields, taken from the parsed PDU, and its content.
func eventView(ev *event.PDU) (pushrules.EventView, error) {
	f := pushrules.Fields{ID: ev.ID(), Type: ev.Type(), Sender: ev.Sender(), RoomID: ev.RoomID(),
		TS: ev.OriginServerTS(), Redacts: ev.Redacts(), Content: ev.Content()}
	if sk, ok := ev.StateKey(); ok {
		f.StateKey = &sk
	}
	v, err := pushrules.NewEventViewOf(f)
	if err != nil {
		return pushrules.EventView{}, fmt.Errorf("event %s: %w", ev.ID(), err)
	}
	return v, nil
}
