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
	byID, _, err := verifyBatch(pdu, append(slices.Clone(authChain), stateBefore...), d.cfg.Keys, false)
	if err != nil {
		return Result{}, err
	}
	all := slices.Concat(authChain, stateBefore, []*event.PDU{pdu})
	createID := ""
	for _, ev := range all {
		if ev = byID[ev.ID()]; ev.IsCreate() {
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

	rejected, err := d.storeOutliers(ctx, slices.Concat(authChain, stateBefore), byID, createID)
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

// verifyBatch verifies pdu and the events received with it (its room's
// state or auth chain) as Accept verifies one event: each must be of pdu's
// room and room version and carry valid signatures, and one whose content
// hash does not match is replaced by its redacted form. A failure of pdu
// itself is an error wrapping ErrSignature or event.ErrInvalid; a failure
// of another event is too unless drop is set, in which case that event is
// left out and its ID returned in dropped. The result maps every kept
// event's ID, pdu's included, to the form to store.
func verifyBatch(pdu *event.PDU, others []*event.PDU, keys event.KeyLookup, drop bool) (byID map[string]*event.PDU, dropped []string, err error) {
	byID = make(map[string]*event.PDU, len(others)+1)
	check := func(ev *event.PDU) (*event.PDU, error) {
		if ev.RoomID() != pdu.RoomID() {
			return nil, fmt.Errorf("%w: event %s is from room %s, not %s", event.ErrInvalid, ev.ID(), ev.RoomID(), pdu.RoomID())
		}
		if ev.Version() != pdu.Version() {
			return nil, fmt.Errorf("%w: event %s has another room version", event.ErrInvalid, ev.ID())
		}
		if err := event.VerifySignatures(ev, keys); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrSignature, ev.ID(), err)
		}
		if err := event.CheckContentHash(ev.JSON()); err != nil {
			redacted, err := ev.Redacted()
			if err != nil {
				return nil, fmt.Errorf("room: redact event with bad hash: %w", err)
			}
			return redacted, nil
		}
		return ev, nil
	}
	for _, ev := range others {
		if _, ok := byID[ev.ID()]; ok {
			continue
		}
		ok, err := check(ev)
		if err != nil {
			if !drop {
				return nil, nil, err
			}
			dropped = append(dropped, ev.ID())
			continue
		}
		byID[ev.ID()] = ok
	}
	ok, err := check(pdu)
	if err != nil {
		return nil, nil, err
	}
	byID[pdu.ID()] = ok
	return byID, dropped, nil
}

// storeOutliers stores, in one durable transaction, those of evs that the
// store does not hold yet as outliers, each checked against its own auth
// events oldest first so that an event's auth events are judged before it
// is; one that fails is stored as rejected. Auth events missing from byID
// are read from the store and added to it. It returns the IDs of the
// rejected events, those already stored as rejected included.
func (d *DAG) storeOutliers(ctx context.Context, evs []*event.PDU, byID map[string]*event.PDU, createID string) (map[string]bool, error) {
	outliers := slices.Clone(evs)
	slices.SortStableFunc(outliers, func(a, b *event.PDU) int { return cmp.Compare(a.Depth(), b.Depth()) })
	rejected := make(map[string]bool)
	err := d.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		for _, ev := range outliers {
			ev, ok := byID[ev.ID()]
			if !ok {
				continue // dropped by verifyBatch
			}
			if ce, err := d.load(tx, ev.ID()); err == nil {
				if ce.rec.status == statusRejected {
					rejected[ev.ID()] = true
				}
				continue
			}
			if err := d.fillAuthEvents(tx, ev, byID, rejected, createID); err != nil {
				return err
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
		return nil, err
	}
	return rejected, nil
}

// fillAuthEvents adds to byID those of ev's auth events that it lacks but
// the store holds, marking the stored rejected ones in rejected.
func (d *DAG) fillAuthEvents(tx persist.Tx, ev *event.PDU, byID map[string]*event.PDU, rejected map[string]bool, createID string) error {
	for _, id := range authIDs(ev, createID) {
		if _, ok := byID[id]; ok {
			continue
		}
		ce, err := d.load(tx, id)
		if errors.Is(err, ErrUnknownEvent) {
			continue
		}
		if err != nil {
			return err
		}
		byID[id] = ce.pdu
		if ce.rec.status == statusRejected {
			rejected[id] = true
		}
	}
	return nil
}

// authIDs is ev's auth events, with the create event in room versions that
// leave it implicit.
func authIDs(ev *event.PDU, createID string) []string {
	ids := ev.AuthEvents()
	if ev.Version().RoomIDFromCreateEvent && !ev.IsCreate() && !slices.Contains(ids, createID) {
		ids = append(slices.Clip(ids), createID)
	}
	return ids
}

// checkOutlier checks ev against its auth events, all of which must be in
// byID and not rejected.
func checkOutlier(ev *event.PDU, byID map[string]*event.PDU, rejected map[string]bool, createID string) error {
	ids := authIDs(ev, createID)
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
