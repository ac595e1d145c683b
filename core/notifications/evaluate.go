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

// outcome is what one evaluated event writes: its notifications, and the
// read marker it moves for a local sender.
type outcome struct {
	a           room.Added
	hits        []hit
	thread      string
	senderLocal bool
}

// writes reports whether the outcome changes anything.
func (o *outcome) writes() bool { return len(o.hits) > 0 || o.senderLocal }

// evaluate decides which of the room's local users one timeline event
// notifies. It only reads.
func (s *Service) evaluate(ctx context.Context, a room.Added) (outcome, error) {
	ev := a.Event
	roomID := ev.RoomID()
	state, err := s.cfg.Rooms.StateAfter(ctx, ev.ID())
	if err != nil {
		return outcome{}, fmt.Errorf("state after the event: %w", err)
	}
	rm, err := s.members.at(ctx, s.cfg.Rooms, roomID, state)
	if err != nil {
		return outcome{}, fmt.Errorf("room members: %w", err)
	}
	view, err := pushrules.NewEventView(ev.JSON())
	if err != nil {
		return outcome{}, err
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
	out := outcome{a: a, senderLocal: s.members.local(sender)}
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
			out.hits = append(out.hits, hit{userID: u, actions: actions, highlight: pushrules.Highlights(actions)})
		}
	}
	if out.writes() {
		out.thread = threadOf(view)
	}
	return out, nil
}

// processBatch evaluates events from the front of batch, at most
// maxBatchEvents of them or as many as hold about maxBatchHits
// notifications, and writes all their outcomes in one transaction. It
// returns how many events it took. An event that fails to evaluate is
// logged and skipped; when the transaction fails, each event is written in
// a transaction of its own, so that one bad event loses only itself.
func (s *Service) processBatch(ctx context.Context, batch []queued) (int, error) {
	var outs []outcome
	hits, n := 0, 0
	for n < len(batch) && n < maxBatchEvents && hits < maxBatchHits {
		a := batch[n].Added
		n++
		o, err := s.evaluate(ctx, a)
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			s.cfg.Logf("notifications: event %s: %v", a.Event.ID(), err)
			continue
		}
		if o.writes() {
			outs = append(outs, o)
			hits += len(o.hits)
		}
	}
	if len(outs) == 0 {
		return n, nil
	}
	err := s.write(ctx, outs)
	if err == nil || ctx.Err() != nil || len(outs) == 1 {
		if err != nil {
			err = fmt.Errorf("event %s: %w", outs[0].a.Event.ID(), err)
		}
		return n, err
	}
	for _, o := range outs {
		if err := s.write(ctx, []outcome{o}); err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			s.cfg.Logf("notifications: event %s: %v", o.a.Event.ID(), err)
		}
	}
	return n, nil
}

// write records outcomes in one transaction: the notifications, the read
// markers moved by local senders, and each touched user's list pruned to
// about MaxStored. Everything that does not depend on the store, the list
// chunks above all, is prepared before the transaction, which on badger
// runs in the loop that serialises every commit.
func (s *Service) write(ctx context.Context, outs []outcome) error {
	chunks, users, err := s.listChunks(outs)
	if err != nil {
		return err
	}
	lists := make(map[string]listState, len(users))
	err = s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		t := newTxState(tx)
		for _, o := range outs {
			roomID := o.a.Event.RoomID()
			for _, h := range o.hits {
				if err := t.notify(h.userID, roomID, o.thread, o.a.Pos, h.highlight); err != nil {
					return err
				}
			}
			if o.senderLocal {
				// Sending an event moves the sender's read marker to
				// it, as the spec's "Marking notifications as read"
				// says.
				if err := t.markRead(o.a.Event.Sender(), roomID, o.thread, o.a.Pos); err != nil {
					return err
				}
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, u := range users {
			st, err := s.lists.load(tx, u)
			if err != nil {
				return err
			}
			if lists[u], err = appendList(tx, u, st, chunks[u], uint64(s.cfg.MaxStored)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for u, st := range lists {
		s.lists.put(u, st)
	}
	return nil
}

// listChunks encodes, per notified user, the list chunk of the outcomes'
// notifications; users are in the order first notified.
func (s *Service) listChunks(outs []outcome) (map[string]listChunk, []string, error) {
	ts := s.cfg.Now().UnixMilli()
	entries := make(map[string][]listEntry)
	var users []string
	var actions actionsCache
	for _, o := range outs {
		roomID, id := o.a.Event.RoomID(), o.a.Event.ID()
		for _, h := range o.hits {
			a, err := actions.json(h.actions)
			if err != nil {
				return nil, nil, err
			}
			if _, ok := entries[h.userID]; !ok {
				users = append(users, h.userID)
			}
			entries[h.userID] = append(entries[h.userID], listEntry{pos: o.a.Pos, roomID: roomID, eventID: id,
				actions: a, ts: ts, highlight: h.highlight, thread: o.thread})
		}
	}
	chunks := make(map[string]listChunk, len(users))
	for _, u := range users {
		es := entries[u]
		lo, hi := posRange(es, func(e listEntry) uint64 { return e.pos })
		chunks[u] = listChunk{minPos: lo, maxPos: hi, n: uint64(len(es)), value: encodeListChunk(es)}
	}
	return chunks, users, nil
}

// actionsCache marshals each distinct list of actions once.
type actionsCache struct {
	byKey map[string]string
	key   []byte
}

// json returns the actions as JSON.
func (c *actionsCache) json(actions []pushrules.Action) (string, error) {
	c.key = c.key[:0]
	for _, a := range actions {
		if a.Name == "" {
			// An action kept verbatim, whose JSON the key cannot
			// see: not cached.
			b, err := json.Marshal(actions)
			return string(b), err
		}
		c.key = binary.AppendUvarint(c.key, uint64(len(a.Name)))
		c.key = append(c.key, a.Name...)
		c.key = binary.AppendUvarint(c.key, uint64(len(a.Tweak)))
		c.key = append(c.key, a.Tweak...)
		c.key = appendBool(c.key, a.Value != nil)
		c.key = binary.AppendUvarint(c.key, uint64(len(a.Value)))
		c.key = append(c.key, a.Value...)
	}
	if j, ok := c.byKey[string(c.key)]; ok {
		return j, nil
	}
	b, err := json.Marshal(actions)
	if err != nil {
		return "", err
	}
	if c.byKey == nil {
		c.byKey = make(map[string]string)
	}
	c.byKey[string(c.key)] = string(b)
	return string(b), nil
}

// getOptional is tx.Get with nil for a missing key.
func getOptional(tx persist.Tx, key []byte) ([]byte, error) {
	raw, err := tx.Get(key)
	if errors.Is(err, persist.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}
