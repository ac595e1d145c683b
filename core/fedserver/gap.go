package fedserver

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"hearth/core/event"
	"hearth/core/room"
)

// maxGapFetches bounds the events fetched one by one across a gap; beyond
// it the whole state is fetched with /state in one request.
const maxGapFetches = 10

// acceptAcrossGap accepts pdu when get_missing_events could not bring in
// its prev events: it asks origin for the room's state at one of them
// (state_ids, then the events it lacks with /event or /state, and pdu's
// auth chain with event_auth) and hands pdu to the DAG with that state
// (room.DAG.AcceptWithState).
//
// Of several missing prev events only the first stands for the state
// before pdu: the DAG resolves that state with the room's current state,
// which already holds what the prev events known here contributed, so one
// state fetch serves the common case of a single gap instead of one per
// prev event followed by a resolution of the fetched states.
func (h *Handlers) acceptAcrossGap(ctx context.Context, origin string, pdu *event.PDU, missingPrev []string) (room.Result, error) {
	prevID := missingPrev[0]
	v := pdu.Version()
	raw, err := h.cfg.Client.GetEvent(ctx, origin, prevID)
	if err != nil {
		return room.Result{}, fmt.Errorf("fedserver: prev event %s from %s: %w", prevID, origin, err)
	}
	prev, err := event.Parse(raw, v)
	if err != nil || prev.ID() != prevID || prev.RoomID() != pdu.RoomID() {
		return room.Result{}, fmt.Errorf("fedserver: %s answered a bad event for %s: %v", origin, prevID, err)
	}
	ids, err := h.cfg.Client.GetStateIDs(ctx, origin, pdu.RoomID(), prevID)
	if err != nil {
		return room.Result{}, fmt.Errorf("fedserver: state_ids at %s from %s: %w", prevID, origin, err)
	}
	byID := map[string]*event.PDU{prevID: prev}
	var unknown []string
	for _, id := range slices.Concat(ids.PDUIDs, ids.AuthChainIDs) {
		if _, ok := byID[id]; ok {
			continue
		}
		ev, err := h.dag.Event(ctx, id)
		switch {
		case err == nil:
			byID[id] = ev
		case errors.Is(err, room.ErrUnknownEvent):
			unknown = append(unknown, id)
		default:
			return room.Result{}, err
		}
	}
	if err := h.fetchEvents(ctx, origin, pdu, prevID, unknown, byID); err != nil {
		return room.Result{}, err
	}
	var state, chain []*event.PDU
	for _, id := range ids.PDUIDs {
		if ev, ok := byID[id]; ok {
			state = append(state, ev)
		}
	}
	if prev.IsState() {
		// state_ids is the state before prev; pdu follows it.
		state = append(state, prev)
	}
	for _, id := range ids.AuthChainIDs {
		if ev, ok := byID[id]; ok {
			chain = append(chain, ev)
		}
	}
	raws, err := h.cfg.Client.GetEventAuth(ctx, origin, pdu.RoomID(), pdu.ID())
	if err != nil {
		return room.Result{}, fmt.Errorf("fedserver: event_auth of %s from %s: %w", pdu.ID(), origin, err)
	}
	for _, raw := range raws {
		if ev, err := event.Parse(raw, v); err == nil && ev.RoomID() == pdu.RoomID() {
			chain = append(chain, ev)
		}
	}
	return h.dag.AcceptWithState(ctx, pdu, state, chain)
}

// fetchEvents fetches the events named in unknown from origin into byID:
// one by one when they are few, else with the room's whole state at prevID.
// Events origin does not serve are left out: the DAG judges the state
// without them.
func (h *Handlers) fetchEvents(ctx context.Context, origin string, pdu *event.PDU, prevID string, unknown []string, byID map[string]*event.PDU) error {
	if len(unknown) == 0 {
		return nil
	}
	v := pdu.Version()
	if len(unknown) <= maxGapFetches {
		for _, id := range unknown {
			raw, err := h.cfg.Client.GetEvent(ctx, origin, id)
			if err != nil {
				continue
			}
			if ev, err := event.Parse(raw, v); err == nil && ev.ID() == id {
				byID[id] = ev
			}
		}
		return nil
	}
	st, err := h.cfg.Client.GetState(ctx, origin, pdu.RoomID(), prevID)
	if err != nil {
		return fmt.Errorf("fedserver: state at %s from %s: %w", prevID, origin, err)
	}
	want := make(map[string]bool, len(unknown))
	for _, id := range unknown {
		want[id] = true
	}
	for _, raw := range slices.Concat(st.PDUs, st.AuthChain) {
		if ev, err := event.Parse(raw, v); err == nil && want[ev.ID()] {
			byID[ev.ID()] = ev
		}
	}
	return nil
}
