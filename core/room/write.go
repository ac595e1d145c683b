package room

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"hearth/core/event"
	"hearth/persist"
)

// addition is one event being added to a room, with everything needed to
// store it in one transaction.
type addition struct {
	roomID string
	entry  *roomEntry
	pdu    *event.PDU
	status eventStatus
	// before is the state before the event and beforeGroup its group
	// (0 when before has no stored group yet).
	before      State
	beforeGroup uint64
	// prev is the room's metadata before the event (nil for a new room),
	// and next its metadata after; nil next leaves the room as it is.
	prev, next *roomMeta
	// current, when not nil, is the room's new current state; when nil
	// and next is set, the state after the event becomes current.
	current State
	// also runs in the event's transaction (Proto.Also).
	also func(tx persist.Tx, ev *event.PDU) error
	// txn is the client transaction that sent the event (Proto.Transaction).
	txn Transaction
}

// add stores a, durably, and publishes the room's new metadata. The caller
// holds a.entry.write.
func (d *DAG) add(ctx context.Context, a addition) error {
	return d.addChain(ctx, a.entry, []addition{a})
}

// addChain stores additions to one room in one transaction, in order: each
// builds on the one before (its beforeGroup is the previous one's state
// group when it was a state event), so a batch of local sends costs one
// commit. The caller holds e.write. The OnAccepted hook runs for each
// timeline event after the commit, in order.
func (d *DAG) addChain(ctx context.Context, e *roomEntry, as []addition) error {
	positions := make([]uint64, len(as))
	for i := range as {
		if as[i].status == statusAccepted {
			positions[i] = d.stream.Allocate()
		}
	}
	defer func() {
		for _, p := range positions {
			if p != 0 {
				d.stream.Finish(p)
			}
		}
	}()
	var last *roomMeta
	var stored bool // whether the commit stores last
	var written []cachedEvent
	states := make([]State, len(as)) // the state after each event
	var top, maxPos uint64
	for _, p := range positions {
		maxPos = max(maxPos, p)
	}
	err := d.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		last, stored, written = nil, false, written[:0]
		advances := true // every change of metadata is an advance
		var err error
		if top, err = d.raiseStreamTop(tx, maxPos); err != nil {
			return err
		}
		var afterPrev uint64
		var metaPrev *roomMeta
		for i := range as {
			a := as[i]
			if i > 0 && a.beforeGroup == 0 && a.prev == nil {
				// A chained send: it builds on the event written just before.
				a.beforeGroup, a.prev = afterPrev, metaPrev
			}
			after, m, rec, state, err := d.write(tx, a, positions[i])
			if err != nil {
				return err
			}
			states[i] = state
			written = append(written, cachedEvent{pdu: a.pdu, rec: rec})
			afterPrev = after
			if m != nil {
				metaPrev, last = m, m
				advances = advances && rec.advances
			}
		}
		if last == nil || advances && last.LastPos-e.storedPos() < metaEvery {
			// Start-up works the metadata out from the records
			// (DAG.meta), reading at most metaEvery positions.
			return nil
		}
		// Only the chain's last metadata survives it: one write, not
		// one per event.
		stored = true
		return storeMeta(tx, as[0].roomID, last)
	})
	if err != nil {
		// The store applied none of the chain. Forgetting the tail, which
		// the next commit starts again, keeps it right even if a backend
		// ever reports a failure for writes that did land.
		e.forgetTail()
		return err
	}
	if stored {
		e.setStoredPos(last.LastPos)
	}
	d.noteStreamTop(top)
	// The events just written are the ones /sync and the notification
	// counts read next: keep them parsed.
	for _, ce := range written {
		d.events.put(ce.pdu.ID(), ce)
	}
	// The timeline entries join the room's tail now: after the commit, in
	// the room's commit order (e.write is held), before the metadata (so
	// LastPos never runs ahead of the tail) and before the deferred
	// Finish publishes their positions to readers.
	e.addToTail(as, positions)
	if last != nil {
		e.publish(last)
	}
	if d.cfg.OnAccepted != nil {
		for i, a := range as {
			if positions[i] != 0 {
				d.cfg.OnAccepted(Added{Event: a.pdu, Pos: positions[i], State: states[i]})
			}
		}
	}
	return nil
}

// write stores one addition inside tx at stream position pos (0 for events
// outside the timeline). It returns the state group after the event, the
// room's metadata after it when it changes the room (which the caller
// stores), and the state after it when a.before is known.
func (d *DAG) write(tx persist.Tx, a addition, pos uint64) (uint64, *roomMeta, eventRecord, State, error) {
	beforeGroup := a.beforeGroup
	if beforeGroup == 0 && len(a.before) > 0 {
		g, err := d.groups.store(tx, 0, 0, nil, a.before)
		if err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
		beforeGroup = g
	}
	afterGroup := beforeGroup
	var stateAfter State
	if len(a.before) > 0 {
		stateAfter = a.before
	}
	if a.pdu.IsState() && a.status != statusRejected {
		after := a.before.clone()
		after[a.pdu.StateTuple()] = a.pdu.ID()
		stateAfter = after
		chain, err := d.groups.chainOf(tx, beforeGroup)
		if err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
		if afterGroup, err = d.groups.store(tx, beforeGroup, chain, a.before, after); err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
	}
	if a.status == statusRejected {
		afterGroup = 0
	}
	rec := eventRecord{status: a.status, version: a.pdu.Version().ID, pos: pos, group: afterGroup, txn: a.txn, json: a.pdu.JSON()}
	if pos != 0 {
		if err := tx.Set(timelineKey(a.roomID, pos), []byte(a.pdu.ID())); err != nil {
			return 0, nil, eventRecord{}, nil, fmt.Errorf("room: store timeline entry: %w", err)
		}
	}
	if a.also != nil {
		if err := a.also(tx, a.pdu); err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
	}
	if pos != 0 && d.cfg.Index != nil {
		if err := d.cfg.Index(tx, Added{Event: a.pdu, Pos: pos, State: stateAfter}); err != nil {
			return 0, nil, eventRecord{}, nil, fmt.Errorf("room: index event: %w", err)
		}
	}
	if pos != 0 && a.pdu.Type() == "m.room.redaction" && a.pdu.Redacts() != "" {
		if err := tx.Set(redactedKey(a.pdu.Redacts()), []byte(a.pdu.ID())); err != nil {
			return 0, nil, eventRecord{}, nil, fmt.Errorf("room: store redaction marker: %w", err)
		}
	}
	if a.next == nil {
		if err := storeRecord(tx, a.pdu.ID(), rec); err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
		return afterGroup, nil, rec, stateAfter, nil
	}
	m := *a.next
	if pos != 0 {
		m.LastPos = pos
	}
	oldGroup := uint64(0)
	if a.prev != nil {
		oldGroup = a.prev.Group
	}
	switch {
	case a.current != nil:
		chain, err := d.groups.chainOf(tx, afterGroup)
		if err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
		afterState, err := d.groups.load(tx, afterGroup)
		if err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
		if m.Group, err = d.groups.store(tx, afterGroup, chain, afterState, a.current); err != nil {
			return 0, nil, eventRecord{}, nil, err
		}
	default:
		m.Group = afterGroup
	}
	a.beforeGroup = beforeGroup
	if err := d.indexMembership(tx, a, oldGroup, m.Group, pos); err != nil {
		return 0, nil, eventRecord{}, nil, err
	}
	if a.pdu.Depth() > m.Depth {
		m.Depth = a.pdu.Depth()
	}
	// The common case, a local send, leaves metadata that start-up can
	// work out again from the metadata before it and the event; the
	// record says so, and the caller may leave the metadata unstored.
	rec.advances = pos != 0 && a.prev != nil && m.equal(a.prev.advance(a.pdu, pos, afterGroup))
	if err := storeRecord(tx, a.pdu.ID(), rec); err != nil {
		return 0, nil, eventRecord{}, nil, err
	}
	return afterGroup, &m, rec, stateAfter, nil
}

func storeRecord(tx persist.Tx, id string, rec eventRecord) error {
	if err := tx.Set(eventKey(id), encodeRecord(rec)); err != nil {
		return fmt.Errorf("room: store event: %w", err)
	}
	return nil
}

// advance returns the metadata after the event ev, at stream position pos
// with state group group after it, when m is the metadata before it and
// the event became the room's current state and newest extremity: ev
// replaces the extremities it names as prev events, and comes first.
func (m *roomMeta) advance(ev *event.PDU, pos, group uint64) roomMeta {
	next := *m
	prev := ev.PrevEvents()
	next.Extremities = make([]string, 0, len(m.Extremities)+1)
	next.Extremities = append(next.Extremities, ev.ID())
	for _, x := range m.Extremities {
		if !slices.Contains(prev, x) {
			next.Extremities = append(next.Extremities, x)
		}
	}
	next.Depth = max(m.Depth, ev.Depth())
	next.LastPos, next.Group = pos, group
	return next
}

// equal reports whether m and o are the same metadata.
func (m *roomMeta) equal(o roomMeta) bool {
	return m.Version == o.Version && m.CreateID == o.CreateID && m.Group == o.Group &&
		m.Depth == o.Depth && m.LastPos == o.LastPos && slices.Equal(m.Extremities, o.Extremities)
}

// storeMeta writes a room's metadata.
func storeMeta(tx persist.Tx, roomID string, m *roomMeta) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("room: encode room metadata: %w", err)
	}
	if err := tx.Set(metaKey(roomID), raw); err != nil {
		return fmt.Errorf("room: store room metadata: %w", err)
	}
	return nil
}

// indexMembership records, for this server's own users, every membership
// that changes between the room's current states in groups from and to.
func (d *DAG) indexMembership(tx persist.Tx, a addition, from, to uint64, pos uint64) error {
	if from == to {
		return nil
	}
	changed := map[string]string{} // user ID -> member event ID
	if a.current == nil && from == a.beforeGroup && a.pdu.Type() == "m.room.member" {
		// The common case: the new state is the old plus this event.
		if k, _ := a.pdu.StateKey(); d.isLocal(k) {
			changed[k] = a.pdu.ID()
		}
	} else {
		old, err := d.groups.load(tx, from)
		if err != nil {
			return err
		}
		cur, err := d.groups.load(tx, to)
		if err != nil {
			return err
		}
		for k, id := range cur {
			if k.Type == "m.room.member" && old[k] != id && d.isLocal(k.StateKey) {
				changed[k.StateKey] = id
			}
		}
		for k := range old {
			if _, ok := cur[k]; !ok && k.Type == "m.room.member" && d.isLocal(k.StateKey) {
				changed[k.StateKey] = ""
			}
		}
	}
	for user, id := range changed {
		membership := "leave"
		if id != "" {
			ev := a.pdu
			if id != a.pdu.ID() {
				ce, err := d.load(tx, id)
				if err != nil {
					return err
				}
				ev = ce.pdu
			}
			membership = ev.Membership()
		}
		raw, err := json.Marshal(Membership{RoomID: a.roomID, Membership: membership, EventID: id, Pos: pos})
		if err != nil {
			return fmt.Errorf("room: encode membership: %w", err)
		}
		if err := tx.Set(userRoomKey(user, a.roomID), raw); err != nil {
			return fmt.Errorf("room: store membership: %w", err)
		}
		if pos != 0 {
			if err := tx.Set(userLogKey(user, pos), []byte(a.roomID)); err != nil {
				return fmt.Errorf("room: store membership log: %w", err)
			}
		}
	}
	return nil
}

// isLocal reports whether userID belongs to this server.
func (d *DAG) isLocal(userID string) bool {
	return strings.HasSuffix(userID, ":"+d.cfg.ServerName) && strings.HasPrefix(userID, "@")
}
