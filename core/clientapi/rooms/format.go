package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/core/clientapi"
	"hearth/core/clientevent"
	"hearth/core/event"
	"hearth/core/mxid"
	"hearth/core/room"
)

// view presents events to one caller within one request: in client form,
// redacted where an applicable redaction says so, with the caller's device's
// transaction IDs and, where cheap, the previous content of state events.
type view struct {
	h      *Handlers
	ctx    context.Context
	caller clientapi.Caller
	nowMS  int64
}

func (h *Handlers) newView(ctx context.Context, c clientapi.Caller) *view {
	return &view{h: h, ctx: ctx, caller: c, nowMS: h.cfg.Now().UnixMilli()}
}

// format returns the client form of ev. prev asks for unsigned.prev_content
// of state events, which is computed when the event has a single prev event
// (the state before it is then the state after that event, one read away).
func (v *view) format(ev *event.PDU, prev bool) (json.RawMessage, error) {
	return v.formatBundled(ev, prev, true)
}

// formatBundled is format; bundle adds the m.thread aggregation of thread
// roots to unsigned["m.relations"].
func (v *view) formatBundled(ev *event.PDU, prev, bundle bool) (json.RawMessage, error) {
	opts := clientevent.Options{NowMS: v.nowMS}
	info, err := v.h.dag.Info(v.ctx, ev.ID())
	if err != nil {
		return nil, err
	}
	if info.RedactedBy != "" {
		if opts.RedactedBy, err = v.applicableRedaction(ev, info.RedactedBy); err != nil {
			return nil, err
		}
	}
	if ev.Sender() == v.caller.UserID {
		if opts.TransactionID, err = v.h.txns.TransactionID(v.ctx, ev.ID(), v.caller.UserID, v.caller.DeviceID); err != nil {
			return nil, err
		}
	}
	if prev && ev.IsState() && len(ev.PrevEvents()) == 1 {
		if opts.PrevContent, opts.PrevSender, err = v.prevState(ev); err != nil {
			return nil, err
		}
	}
	raw, err := clientevent.Format(ev, opts)
	if err != nil || !bundle || ev.IsState() || opts.RedactedBy != nil {
		return raw, err
	}
	summary, err := v.threadSummary(ev)
	if err != nil || summary == nil {
		return raw, err
	}
	return withRelations(raw, map[string]json.RawMessage{relThread: summary})
}

// withRelations adds bundled aggregations to a formatted event's
// unsigned["m.relations"].
func withRelations(raw json.RawMessage, rels map[string]json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	unsigned := map[string]json.RawMessage{}
	if u, ok := obj["unsigned"]; ok {
		if err := json.Unmarshal(u, &unsigned); err != nil {
			return nil, err
		}
	}
	relsRaw, err := json.Marshal(rels)
	if err != nil {
		return nil, err
	}
	unsigned["m.relations"] = relsRaw
	if obj["unsigned"], err = json.Marshal(unsigned); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}

// formatAll formats evs in order.
func (v *view) formatAll(evs []*event.PDU, prev bool) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(evs))
	for _, ev := range evs {
		raw, err := v.format(ev, prev)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// formatTimeline formats timeline events in order, with prev_content.
func (v *view) formatTimeline(evs []room.TimelineEvent) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(evs))
	for _, te := range evs {
		raw, err := v.format(te.Event, true)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// prevState returns the content and sender of the state event that ev
// replaced, read from the state after ev's only prev event.
func (v *view) prevState(ev *event.PDU) (json.RawMessage, string, error) {
	s, err := v.h.dag.StateAfter(v.ctx, ev.PrevEvents()[0])
	if err != nil {
		// The prev event may be an event of another server that this
		// one never saw, or one without known state: no prev_content.
		return nil, "", nil
	}
	id, ok := s[ev.StateTuple()]
	if !ok {
		return nil, "", nil
	}
	prev, err := v.h.dag.Event(v.ctx, id)
	if err != nil {
		return nil, "", err
	}
	return prev.Content(), prev.Sender(), nil
}

// applicableRedaction returns the redaction redID if it applies to ev, and
// nil otherwise. The room version 3+ rule (which also agrees with the auth
// rules of versions 1 and 2 for accepted redactions): a redaction applies
// when its sender is on the same server as the event's sender, or has the
// power to redact at the redaction.
func (v *view) applicableRedaction(ev *event.PDU, redID string) (*event.PDU, error) {
	red, err := v.h.dag.Event(v.ctx, redID)
	if errors.Is(err, room.ErrUnknownEvent) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rooms: redaction %s: %w", redID, err)
	}
	if red.RoomID() != ev.RoomID() || red.Redacts() != ev.ID() {
		return nil, nil
	}
	if mxid.ServerOf(red.Sender()) == mxid.ServerOf(ev.Sender()) {
		return red, nil
	}
	s, err := v.h.dag.StateAfter(v.ctx, redID)
	if err != nil {
		return nil, nil
	}
	pl, err := v.h.powerLevels(v.ctx, s)
	if err != nil {
		return nil, nil
	}
	if pl.UserLevel(red.Sender()) >= pl.Redact() {
		return red, nil
	}
	return nil, nil
}
