package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"hearth/core/auth"
	"hearth/core/clientevent"
	"hearth/core/event"
)

// prevState is the state event a state event replaced.
type prevState struct {
	content json.RawMessage
	sender  string
}

// format returns an event as this client sees it: in client form (or the
// federation form, if the filter asks), redacted if a redaction applies to
// it, with the transaction ID of the requesting device's own events, and
// cut down to the filter's event_fields.
func (r *run) format(ctx context.Context, ev *event.PDU, prev *prevState) (json.RawMessage, error) {
	info, err := r.s.cfg.DAG.Info(ctx, ev.ID())
	if err != nil {
		return nil, fmt.Errorf("syncer: event %s: %w", ev.ID(), err)
	}
	var redactedBy *event.PDU
	if info.RedactedBy != "" {
		red, err := r.s.cfg.DAG.Event(ctx, info.RedactedBy)
		if err != nil {
			return nil, fmt.Errorf("syncer: redaction %s: %w", info.RedactedBy, err)
		}
		applies, err := r.redactionApplies(ctx, ev, red)
		if err != nil {
			return nil, err
		}
		if applies {
			redactedBy = red
		}
	}
	var raw json.RawMessage
	if r.f.Federation() {
		src := ev
		if redactedBy != nil {
			if src, err = ev.Redacted(); err != nil {
				return nil, fmt.Errorf("syncer: redact %s: %w", ev.ID(), err)
			}
		}
		raw = src.JSON()
	} else {
		o := clientevent.Options{OmitRoomID: true, NowMS: r.nowMS, RedactedBy: redactedBy}
		if prev != nil {
			o.PrevContent, o.PrevSender = prev.content, prev.sender
		}
		if ev.Sender() == r.req.UserID && r.req.DeviceID != "" && r.s.cfg.Transactions != nil {
			if txn, ok := r.s.cfg.Transactions.TxnID(ctx, r.req.UserID, r.req.DeviceID, ev.ID()); ok {
				o.TransactionID = txn
			}
		}
		if raw, err = clientevent.Format(ev, o); err != nil {
			return nil, err
		}
	}
	if r.f != nil && len(r.f.EventFields) > 0 {
		if raw, err = r.f.ProjectFields(raw); err != nil {
			return nil, fmt.Errorf("syncer: event_fields of %s: %w", ev.ID(), err)
		}
	}
	return raw, nil
}

// redactionApplies reports whether red redacts ev. The room accepted red,
// but from room version 3 on the spec leaves one check to the moment of
// showing the event: a redaction applies when its sender is on the same
// server as ev's sender, or has the power to redact others' events.
func (r *run) redactionApplies(ctx context.Context, ev, red *event.PDU) (bool, error) {
	if red.Redacts() != "" && red.Redacts() != ev.ID() {
		return false, nil
	}
	if serverOf(red.Sender()) == serverOf(ev.Sender()) {
		return true, nil
	}
	var pl, create *event.PDU
	for _, id := range red.AuthEvents() {
		a, err := r.s.cfg.DAG.Event(ctx, id)
		if err != nil {
			return false, fmt.Errorf("syncer: auth event %s of redaction %s: %w", id, red.ID(), err)
		}
		switch a.Type() {
		case "m.room.power_levels":
			pl = a
		case "m.room.create":
			create = a
		}
	}
	if pl == nil && create == nil {
		return false, nil
	}
	levels, err := auth.ParsePowerLevels(pl, create)
	if err != nil {
		return false, nil
	}
	return levels.UserLevel(red.Sender()) >= levels.Redact(), nil
}

// serverOf returns the server name of a user ID.
func serverOf(userID string) string {
	_, server, _ := strings.Cut(userID, ":")
	return server
}
