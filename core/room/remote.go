package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"hearth/core/auth"
	"hearth/core/event"
	"hearth/core/stateres"
	"hearth/persist"
)

// Outcome is what became of a remote event.
type Outcome int

const (
	// Accepted events are part of the room: in its timeline, and in its
	// state if they are state events.
	Accepted Outcome = iota + 1
	// SoftFailed events were authorised by the state before them but not
	// by the room's current state: stored, never shown, never built on.
	SoftFailed
	// Rejected events failed authorisation against their auth events or
	// the state before them: stored only so that they are not fetched
	// again.
	Rejected
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case SoftFailed:
		return "soft-failed"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result is the outcome of Accept and, for rejected or soft-failed events,
// the reason.
type Result struct {
	Outcome Outcome
	Reason  error
}

// ErrSignature wraps failures to verify a remote event's signatures: such
// events are dropped, not stored.
var ErrSignature = errors.New("room: bad event signature")

// Accept runs the spec's checks on receipt of a PDU (server-server API,
// "Checks performed on receipt of a PDU") for an event another server sent
// and stores it with its outcome. The event's room must be known here.
//
// It verifies signatures (failing with ErrSignature: nothing is stored),
// replaces an event whose content hash does not match by its redacted form,
// checks the event against its auth events and against the state before it
// (rejecting it on failure), and against the room's current state
// (soft-failing it on failure). When auth or prev events are unknown it
// returns a *MissingEventsError and stores nothing: the caller fetches them
// and tries again.
func (d *DAG) Accept(ctx context.Context, pdu *event.PDU) (Result, error) {
	if d.cfg.Keys == nil {
		return Result{}, errors.New("room: Accept needs Config.Keys")
	}
	if err := event.VerifySignatures(pdu, d.cfg.Keys); err != nil {
		return Result{}, fmt.Errorf("%w: %s: %v", ErrSignature, pdu.ID(), err)
	}
	if err := event.CheckContentHash(pdu.JSON()); err != nil {
		redacted, err := pdu.Redacted()
		if err != nil {
			return Result{}, fmt.Errorf("room: redact event with bad hash: %w", err)
		}
		pdu = redacted
	}
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
	return d.accept(ctx, roomID, e, meta, pdu)
}

// accept does Accept's work once the event is verified; the caller holds
// e.write.
func (d *DAG) accept(ctx context.Context, roomID string, e *roomEntry, meta *roomMeta, pdu *event.PDU) (Result, error) {
	var (
		res         Result
		known       bool
		before      State
		beforeGroup uint64
		current     State
	)
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		t := txEvents{d: d, tx: tx, pending: pdu}
		if ce, err := d.load(tx, pdu.ID()); err == nil {
			known = true
			res = Result{Outcome: outcomeOf(ce.rec.status)}
			return nil
		} else if !errors.Is(err, ErrUnknownEvent) {
			return err
		}

		// 4. Authorised by its auth events?
		authEvents, missingAuth, rejectedAuth, err := d.authEvents(tx, pdu, meta)
		if err != nil {
			return err
		}
		// Prev events must be known and placed in the DAG.
		var prevGroups []uint64
		var missingPrev []string
		for _, id := range pdu.PrevEvents() {
			ce, err := d.load(tx, id)
			switch {
			case errors.Is(err, ErrUnknownEvent):
				missingPrev = append(missingPrev, id)
				continue
			case err != nil:
				return err
			}
			if ce.rec.status == statusOutlier || ce.rec.group == 0 && ce.rec.status != statusRejected {
				missingPrev = append(missingPrev, id)
				continue
			}
			if ce.rec.status != statusRejected {
				prevGroups = append(prevGroups, ce.rec.group)
			}
		}
		if len(missingAuth) > 0 || len(missingPrev) > 0 {
			return &MissingEventsError{Prev: missingPrev, Auth: missingAuth}
		}
		if rejectedAuth != "" {
			res = Result{Outcome: Rejected, Reason: fmt.Errorf("auth event %s was rejected", rejectedAuth)}
			return nil
		}
		if err := auth.CheckAuthEvents(pdu, authEvents); err != nil {
			res = Result{Outcome: Rejected, Reason: err}
			return nil
		}

		// 5. Authorised by the state before it?
		before, beforeGroup, err = d.stateBefore(tx, t, pdu, prevGroups)
		if err != nil {
			return err
		}
		// 6. Authorised by the current state? If not, soft-fail.
		if res, err = d.judge(tx, t, pdu, before, meta.Group); err != nil || res.Outcome != Accepted {
			return err
		}

		// The new current state: the state after this event if it is the
		// only extremity left, else the resolution of every extremity's
		// state.
		fx := nextExtremities(meta.Extremities, pdu)
		if len(fx) == 1 {
			return nil
		}
		after := before
		if pdu.IsState() {
			after = before.clone()
			after[pdu.StateTuple()] = pdu.ID()
		}
		sets := []map[event.StateKey]string{after}
		for _, id := range fx {
			if id == pdu.ID() {
				continue
			}
			ce, err := d.load(tx, id)
			if err != nil {
				return err
			}
			s, err := d.groups.load(tx, ce.rec.group)
			if err != nil {
				return err
			}
			sets = append(sets, s)
		}
		resolved, err := stateres.Resolve(pdu.Version(), sets, t)
		if err != nil {
			return fmt.Errorf("room: resolve current state: %w", err)
		}
		current = resolved
		return nil
	})
	if err != nil || known {
		return res, err
	}
	a := addition{
		roomID: roomID, entry: e, pdu: pdu,
		before: before, beforeGroup: beforeGroup, prev: meta,
	}
	return d.addJudged(ctx, a, res, current)
}

// addJudged stores a remote event as judge decided: rejected, soft-failed,
// or accepted, in which case it joins the room's extremities (a.prev is the
// room's metadata before it) and current, resolved by the caller, becomes
// the room's current state.
func (d *DAG) addJudged(ctx context.Context, a addition, res Result, current State) (Result, error) {
	switch res.Outcome {
	case Rejected:
		a.status = statusRejected
	case SoftFailed:
		a.status = statusSoftFailed
	case Accepted:
		a.status = statusAccepted
		next := *a.prev
		next.Extremities = nextExtremities(a.prev.Extremities, a.pdu)
		a.next = &next
		a.current = current
	}
	if err := d.add(ctx, a); err != nil {
		return Result{}, err
	}
	return res, nil
}

// judge runs the last two checks on receipt: pdu against the state before
// it (failure rejects it) and against the room's current state, group
// current (failure soft-fails it).
func (d *DAG) judge(tx persist.Tx, t txEvents, pdu *event.PDU, before State, current uint64) (Result, error) {
	bs := &authState{t: t, state: before}
	if err := auth.Check(pdu, bs); err != nil {
		if bs.err != nil {
			return Result{}, bs.err
		}
		return Result{Outcome: Rejected, Reason: err}, nil
	}
	cur, err := d.groups.load(tx, current)
	if err != nil {
		return Result{}, err
	}
	cs := &authState{t: t, state: cur}
	if err := auth.Check(pdu, cs); err != nil {
		if cs.err != nil {
			return Result{}, cs.err
		}
		return Result{Outcome: SoftFailed, Reason: err}, nil
	}
	return Result{Outcome: Accepted}, nil
}

func outcomeOf(s eventStatus) Outcome {
	switch s {
	case statusRejected:
		return Rejected
	case statusSoftFailed:
		return SoftFailed
	}
	return Accepted
}

// nextExtremities is the forward extremities after pdu: its prev events
// stop being extremities and it becomes one.
func nextExtremities(fx []string, pdu *event.PDU) []string {
	out := make([]string, 0, len(fx)+1)
	for _, id := range fx {
		if !slices.Contains(pdu.PrevEvents(), id) {
			out = append(out, id)
		}
	}
	return append(out, pdu.ID())
}

// authEvents loads pdu's auth events (adding the create event in room
// versions that leave it implicit). It reports the IDs it does not have and
// the first one that was itself rejected.
func (d *DAG) authEvents(tx persist.Tx, pdu *event.PDU, meta *roomMeta) (evs []*event.PDU, missing []string, rejected string, err error) {
	ids := pdu.AuthEvents()
	if pdu.Version().RoomIDFromCreateEvent && !pdu.IsCreate() && !slices.Contains(ids, meta.CreateID) {
		ids = append(slices.Clip(ids), meta.CreateID)
	}
	for _, id := range ids {
		ce, err := d.load(tx, id)
		switch {
		case errors.Is(err, ErrUnknownEvent):
			missing = append(missing, id)
			continue
		case err != nil:
			return nil, nil, "", err
		}
		if ce.rec.status == statusRejected && rejected == "" {
			rejected = id
		}
		evs = append(evs, ce.pdu)
	}
	return evs, missing, rejected, nil
}

// stateBefore is the state before pdu: the state after its one prev event,
// or the resolution of the states after each of them. It returns the
// state's group when one already exists.
func (d *DAG) stateBefore(tx persist.Tx, t txEvents, pdu *event.PDU, prevGroups []uint64) (State, uint64, error) {
	prevGroups = slices.Compact(slices.Sorted(slices.Values(prevGroups)))
	switch len(prevGroups) {
	case 0:
		return State{}, 0, nil
	case 1:
		s, err := d.groups.load(tx, prevGroups[0])
		return s, prevGroups[0], err
	}
	sets := make([]map[event.StateKey]string, 0, len(prevGroups))
	for _, g := range prevGroups {
		s, err := d.groups.load(tx, g)
		if err != nil {
			return nil, 0, err
		}
		sets = append(sets, s)
	}
	resolved, err := stateres.Resolve(pdu.Version(), sets, t)
	if err != nil {
		return nil, 0, fmt.Errorf("room: resolve state before %s: %w", pdu.ID(), err)
	}
	return resolved, 0, nil
}

// StateAfter returns the room state after the event id.
func (d *DAG) StateAfter(ctx context.Context, id string) (State, error) {
	var s State
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		ce, err := d.load(tx, id)
		if err != nil {
			return err
		}
		if ce.rec.group == 0 {
			return fmt.Errorf("room: no state is known at %s", id)
		}
		s, err = d.groups.load(tx, ce.rec.group)
		return err
	})
	return s, err
}

// StateBefore returns the room state before the event id: the state after
// it without its own contribution, recomputed from its prev events.
func (d *DAG) StateBefore(ctx context.Context, id string) (State, error) {
	var s State
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		ce, err := d.load(tx, id)
		if err != nil {
			return err
		}
		var groups []uint64
		for _, p := range ce.pdu.PrevEvents() {
			pe, err := d.load(tx, p)
			if err != nil && !errors.Is(err, ErrUnknownEvent) {
				return err
			}
			if err != nil || pe.rec.group == 0 {
				// An event placed with a given state (a join imported
				// from another server) follows outliers: its state
				// before is what its own state group was built on.
				s, err = d.importedBefore(tx, ce)
				return err
			}
			groups = append(groups, pe.rec.group)
		}
		s, _, err = d.stateBefore(tx, txEvents{d: d, tx: tx}, ce.pdu, groups)
		return err
	})
	return s, err
}

// importedBefore returns the state before an event whose prev events have
// no known state: the state after it, or for a state event the parent of
// its state group, which add stored as the state before it.
func (d *DAG) importedBefore(tx persist.Tx, ce cachedEvent) (State, error) {
	if ce.rec.group == 0 {
		return nil, fmt.Errorf("room: no state is known before %s", ce.pdu.ID())
	}
	after, err := d.groups.load(tx, ce.rec.group)
	if err != nil || !ce.pdu.IsState() {
		return after, err
	}
	raw, err := tx.Get(groupKey(ce.rec.group))
	if err != nil {
		return nil, fmt.Errorf("room: load state group: %w", err)
	}
	var sg stateGroup
	if err := json.Unmarshal(raw, &sg); err != nil {
		return nil, fmt.Errorf("room: decode state group: %w", err)
	}
	if sg.Parent != 0 && len(sg.Delta) == 1 && sg.Delta[0][0] == ce.pdu.StateTuple().Type && sg.Delta[0][1] == ce.pdu.StateTuple().StateKey {
		return d.groups.load(tx, sg.Parent)
	}
	before := after.clone()
	delete(before, ce.pdu.StateTuple())
	return before, nil
}

// CurrentState returns the room's current state.
func (d *DAG) CurrentState(ctx context.Context, roomID string) (State, error) {
	meta, err := d.meta(ctx, roomID, d.entry(roomID))
	if err != nil {
		return nil, err
	}
	g := meta.Group
	var s State
	err = d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		s, err = d.groups.load(tx, g)
		return err
	})
	return s, err
}
