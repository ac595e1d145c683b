package room

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/persist"
)

// Import adds a room that this server learns from another server, as when
// joining over federation: pdu (for example our join event) is placed in
// the DAG with stateBefore as the state before it, and authChain holds the
// auth events of all of them. Every event is verified as Accept would; the
// state and auth chain are stored as outliers. Importing a room's create
// event with no state starts the room from its beginning.
func (d *DAG) Import(ctx context.Context, pdu *event.PDU, stateBefore, authChain []*event.PDU) (Result, error) {
	if d.cfg.Keys == nil {
		return Result{}, errors.New("room: Import needs Config.Keys")
	}
	all := make([]*event.PDU, 0, len(authChain)+len(stateBefore)+1)
	all = append(all, authChain...)
	all = append(all, stateBefore...)
	all = append(all, pdu)
	byID := make(map[string]*event.PDU, len(all))
	for i, ev := range all {
		if ev.RoomID() != pdu.RoomID() {
			return Result{}, fmt.Errorf("%w: event %s is from room %s, not %s", event.ErrInvalid, ev.ID(), ev.RoomID(), pdu.RoomID())
		}
		if ev.Version() != pdu.Version() {
			return Result{}, fmt.Errorf("%w: event %s has another room version", event.ErrInvalid, ev.ID())
		}
		if err := event.VerifySignatures(ev, d.cfg.Keys); err != nil {
			return Result{}, fmt.Errorf("%w: %s: %v", ErrSignature, ev.ID(), err)
		}
		if err := event.CheckContentHash(ev.JSON()); err != nil {
			redacted, err := ev.Redacted()
			if err != nil {
				return Result{}, fmt.Errorf("room: redact event with bad hash: %w", err)
			}
			all[i] = redacted
		}
		byID[all[i].ID()] = all[i]
	}
	createID := ""
	for _, ev := range all {
		if ev.IsCreate() {
			createID = ev.ID()
		}
	}
	if createID == "" {
		return Result{}, fmt.Errorf("%w: imported state has no create event", event.ErrInvalid)
	}

	roomID := pdu.RoomID()
	e := d.entry(roomID)
	e.write.Lock()
	defer e.write.Unlock()
	if _, err := d.meta(ctx, roomID, e); err == nil {
		return Result{}, fmt.Errorf("room: import of room %s, which is already here", roomID)
	} else if !errors.Is(err, ErrUnknownRoom) {
		return Result{}, err
	}

	// Check every outlier against its own auth events, oldest first, so
	// that an event's auth events are judged before it is.
	outliers := append(slices.Clone(authChain), stateBefore...)
	slices.SortStableFunc(outliers, func(a, b *event.PDU) int { return cmp.Compare(a.Depth(), b.Depth()) })
	rejected := make(map[string]bool)
	err := d.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		for _, ev := range outliers {
			ev = byID[ev.ID()]
			if _, err := d.load(tx, ev.ID()); err == nil {
				continue
			}
			status := statusOutlier
			if err := checkOutlier(ev, byID, rejected, createID); err != nil {
				status = statusRejected
				rejected[ev.ID()] = true
			}
			rec := eventRecord{status: status, version: ev.Version().ID, json: ev.JSON()}
			if err := tx.Set(eventKey(ev.ID()), encodeRecord(rec)); err != nil {
				return fmt.Errorf("room: store outlier: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}

	pdu = byID[pdu.ID()]
	before := State{}
	for _, ev := range stateBefore {
		if !rejected[ev.ID()] && ev.IsState() {
			before[ev.StateTuple()] = ev.ID()
		}
	}
	meta := &roomMeta{Version: pdu.Version().ID, CreateID: createID, Extremities: []string{pdu.ID()}}
	res := Result{Outcome: Accepted}
	if err := checkOutlier(pdu, byID, rejected, createID); err != nil {
		res = Result{Outcome: Rejected, Reason: err}
	} else if err := auth.Check(pdu, mapState(before, byID)); err != nil {
		res = Result{Outcome: Rejected, Reason: err}
	}
	if res.Outcome == Rejected {
		return res, nil
	}
	a := addition{roomID: roomID, entry: e, pdu: pdu, status: statusAccepted, before: before, next: meta}
	if err := d.add(ctx, a); err != nil {
		return Result{}, err
	}
	return res, nil
}

// checkOutlier checks ev against its auth events, all of which must be in
// byID and not rejected.
func checkOutlier(ev *event.PDU, byID map[string]*event.PDU, rejected map[string]bool, createID string) error {
	ids := ev.AuthEvents()
	if ev.Version().RoomIDFromCreateEvent && !ev.IsCreate() && !slices.Contains(ids, createID) {
		ids = append(slices.Clip(ids), createID)
	}
	evs := make([]*event.PDU, 0, len(ids))
	for _, id := range ids {
		a, ok := byID[id]
		if !ok {
			return fmt.Errorf("auth event %s of %s is missing", id, ev.ID())
		}
		if rejected[id] {
			return fmt.Errorf("auth event %s of %s was rejected", id, ev.ID())
		}
		evs = append(evs, a)
	}
	return auth.CheckAuthEvents(ev, evs)
}

// mapState turns a State of IDs into auth.MapState using the events in
// byID.
func mapState(s State, byID map[string]*event.PDU) auth.MapState {
	m := make(auth.MapState, len(s))
	for k, id := range s {
		if ev, ok := byID[id]; ok {
			m[k] = ev
		}
	}
	return m
}
