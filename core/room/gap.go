package room

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"hearth/core/event"
	"hearth/core/stateres"
	"hearth/persist"
)

// AcceptWithState accepts an event of a room known here whose prev events
// cannot be fetched (a gap in the DAG), given the room's state before it
// and the auth chain of that state and of the event, as another server
// reported them (state_ids or state at the event's prev events, and
// event_auth).
//
// Every event is verified as Accept verifies one: a bad signature on pdu
// fails with ErrSignature and stores nothing, while state or auth chain
// events with bad signatures, or of another room, are dropped. The state
// and auth chain events this server does not hold yet are stored as
// outliers, each checked against its own auth events. pdu is then checked
// against its auth events and against stateBefore (rejected on failure),
// and against the room's current state (soft-failed on failure). An
// accepted event becomes a forward extremity (its unknown prev events stay
// unknown), its state after is stored, and the room's current state
// becomes the resolution of the current state and the state after it.
// When an auth event of pdu is neither given nor stored it returns a
// *MissingEventsError naming it.
func (d *DAG) AcceptWithState(ctx context.Context, pdu *event.PDU, stateBefore []*event.PDU, authChain []*event.PDU) (Result, error) {
	if d.cfg.Keys == nil {
		return Result{}, errors.New("room: AcceptWithState needs Config.Keys")
	}
	byID, _, err := verifyBatch(pdu, slices.Concat(authChain, stateBefore), d.cfg.Keys, true)
	if err != nil {
		return Result{}, err
	}
	pdu = byID[pdu.ID()]
	roomID := pdu.RoomID()
	e := d.entry(roomID)
	e.write.Lock()
	defer e.write.Unlock()
	meta, err := d.meta(ctx, roomID, e)
	if err != nil {
		return Result{}, err
	}
	if pdu.Version().ID != meta.Version {
		return Result{}, fmt.Errorf("%w: event of room version %s in a room of version %s", event.ErrInvalid, pdu.Version().ID, meta.Version)
	}
	var known *Result
	err = d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		if ce, err := d.load(tx, pdu.ID()); err == nil {
			known = &Result{Outcome: outcomeOf(ce.rec.status)}
			return nil
		} else if !errors.Is(err, ErrUnknownEvent) {
			return err
		}
		return nil
	})
	if err != nil || known != nil {
		return derefResult(known), err
	}

	rejected, err := d.storeOutliers(ctx, slices.Concat(authChain, stateBefore), byID, meta.CreateID)
	if err != nil {
		return Result{}, err
	}
	before := State{}
	for _, ev := range stateBefore {
		if _, ok := byID[ev.ID()]; ok && !rejected[ev.ID()] && ev.IsState() {
			before[ev.StateTuple()] = ev.ID()
		}
	}

	var res Result
	var current State
	err = d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		if err := d.fillAuthEvents(tx, pdu, byID, rejected, meta.CreateID); err != nil {
			return err
		}
		var missing []string
		for _, id := range authIDs(pdu, meta.CreateID) {
			if _, ok := byID[id]; !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return &MissingEventsError{Auth: missing}
		}
		// Authorised by its auth events, and by the state before it?
		if err := checkOutlier(pdu, byID, rejected, meta.CreateID); err != nil {
			res = Result{Outcome: Rejected, Reason: err}
			return nil
		}
		t := txEvents{d: d, tx: tx, pending: pdu, extra: byID}
		// Authorised by the current state? If not, soft-fail.
		var err error
		if res, err = d.judge(tx, t, pdu, before, meta.Group); err != nil || res.Outcome != Accepted {
			return err
		}
		cur, err := d.groups.load(tx, meta.Group)
		if err != nil {
			return err
		}
		after := before
		if pdu.IsState() {
			after = before.clone()
			after[pdu.StateTuple()] = pdu.ID()
		}
		resolved, err := stateres.Resolve(pdu.Version(), []map[event.StateKey]string{cur, after}, t)
		if err != nil {
			return fmt.Errorf("room: resolve current state with %s: %w", pdu.ID(), err)
		}
		current = resolved
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	a := addition{roomID: roomID, entry: e, pdu: pdu, before: before, prev: meta}
	if res.Outcome == Rejected {
		a.before = nil // a rejected event has no state to keep
	}
	return d.addJudged(ctx, a, res, current)
}

func derefResult(r *Result) Result {
	if r == nil {
		return Result{}
	}
	return *r
}

// AddOutliers stores events of a known room that are needed only as auth
// events, such as an auth chain fetched with event_auth whose events'
// own prev events are unknown here: each is verified as Accept verifies
// one (those with bad signatures or of another room or version are
// dropped) and those not held yet are stored as outliers, checked against
// their own auth events (rejected on failure). Outliers are never in the
// timeline or the state; they let Accept check the events that cite them.
func (d *DAG) AddOutliers(ctx context.Context, roomID string, evs []*event.PDU) error {
	if d.cfg.Keys == nil {
		return errors.New("room: AddOutliers needs Config.Keys")
	}
	e := d.entry(roomID)
	e.write.Lock()
	defer e.write.Unlock()
	meta, err := d.meta(ctx, roomID, e)
	if err != nil {
		return err
	}
	byID := make(map[string]*event.PDU, len(evs))
	for _, ev := range evs {
		if ev.RoomID() != roomID || ev.Version().ID != meta.Version {
			continue
		}
		if ok, _, err := verifyBatch(ev, nil, d.cfg.Keys, false); err == nil {
			byID[ev.ID()] = ok[ev.ID()]
		}
	}
	_, err = d.storeOutliers(ctx, evs, byID, meta.CreateID)
	return err
}
