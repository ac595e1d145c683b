package fedserver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/fedclient"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/persist"
)

// Limits of one transaction (server-server spec, "Transactions").
const (
	maxTxnPDUs = 50
	maxTxnEDUs = 100
	// maxGapRounds and maxGapEvents bound the get_missing_events calls one
	// PDU with unknown prev events may cause.
	maxGapRounds = 10
	maxGapEvents = 100
)

func txnKey(origin, txnID string) []byte {
	return []byte("fedserver/txn/" + origin + "\x00" + txnID)
}

type transaction struct {
	Origin string            `json:"origin"`
	PDUs   []json.RawMessage `json:"pdus"`
	EDUs   []json.RawMessage `json:"edus"`
}

type txnResponse struct {
	PDUs map[string]fedclient.PDUResult `json:"pdus"`
}

// send serves PUT /_matrix/federation/v1/send/{txnId}: each PDU is checked
// and accepted in the order given (fetching unknown prev events from the
// origin), then the EDUs are handed on. A transaction ID seen before from
// the same origin gets the first answer again without reprocessing.
func (h *Handlers) send(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	origin := fedauth.Origin(ctx)
	txnID := r.PathValue("txnId")
	var t transaction
	if err := readBody(r, &t); err != nil {
		writeErr(w, err)
		return
	}
	if len(t.PDUs) > maxTxnPDUs || len(t.EDUs) > maxTxnEDUs {
		writeErr(w, errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "a transaction holds at most %d PDUs and %d EDUs", maxTxnPDUs, maxTxnEDUs))
		return
	}
	unlock := h.lockOrigin(origin)
	defer unlock()
	var prior json.RawMessage
	err := h.cfg.Store.View(ctx, func(tx persist.Tx) error {
		b, err := tx.Get(txnKey(origin, txnID))
		if err == nil {
			prior = append(json.RawMessage(nil), b...)
			return nil
		}
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	if prior != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Write(prior)
		return
	}
	resp := txnResponse{PDUs: make(map[string]fedclient.PDUResult, len(t.PDUs))}
	for _, raw := range t.PDUs {
		id, res := h.receivePDU(ctx, origin, raw)
		if id != "" {
			resp.PDUs[id] = res
		}
	}
	if h.cfg.EDUs != nil && len(t.EDUs) > 0 {
		h.cfg.EDUs.Receive(ctx, origin, t.EDUs)
	}
	body, err := json.Marshal(resp)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := h.cfg.Store.Update(ctx, func(tx persist.Tx) error { return tx.Set(txnKey(origin, txnID), body) }); err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// lockOrigin serialises the transactions of one origin.
func (h *Handlers) lockOrigin(origin string) func() {
	h.txnMu.Lock()
	l := h.origins[origin]
	if l == nil {
		l = &originLock{}
		h.origins[origin] = l
	}
	l.refs++
	h.txnMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		h.txnMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(h.origins, origin)
		}
		h.txnMu.Unlock()
	}
}

// receivePDU processes one PDU of a transaction and returns its event ID
// (empty when it could not be parsed far enough to name it) and verdict.
func (h *Handlers) receivePDU(ctx context.Context, origin string, raw json.RawMessage) (string, fedclient.PDUResult) {
	var head struct {
		RoomID string `json:"room_id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.RoomID == "" {
		return "", fedclient.PDUResult{}
	}
	v, err := h.dag.Version(ctx, head.RoomID)
	if err != nil {
		return "", fedclient.PDUResult{}
	}
	pdu, err := event.Parse(raw, v)
	if err != nil {
		if id, idErr := event.EventID(raw, v); idErr == nil {
			return id, fedclient.PDUResult{Error: err.Error()}
		}
		return "", fedclient.PDUResult{}
	}
	if !h.ACL(ctx, serverOf(pdu.Sender()), pdu.RoomID()) || !h.ACL(ctx, origin, pdu.RoomID()) {
		return pdu.ID(), fedclient.PDUResult{Error: "denied by the room's server ACL"}
	}
	res, err := h.acceptWithGaps(ctx, origin, pdu)
	if err != nil {
		h.log.Info("federation PDU not accepted", "origin", origin, "event", pdu.ID(), "err", err)
		return pdu.ID(), fedclient.PDUResult{Error: err.Error()}
	}
	if res.Outcome == room.Rejected {
		return pdu.ID(), fedclient.PDUResult{Error: fmt.Sprintf("rejected: %v", res.Reason)}
	}
	return pdu.ID(), fedclient.PDUResult{}
}

// acceptWithGaps accepts pdu, first fetching its unknown prev events from
// origin with get_missing_events (bounded) and accepting them oldest first.
func (h *Handlers) acceptWithGaps(ctx context.Context, origin string, pdu *event.PDU) (room.Result, error) {
	res, err := h.dag.Accept(ctx, pdu)
	var missing *room.MissingEventsError
	if !errors.As(err, &missing) || h.cfg.Client == nil {
		return res, err
	}
	fetched := 0
	for round := 0; round < maxGapRounds && fetched < maxGapEvents; round++ {
		if len(missing.Auth) > 0 {
			if err := h.fetchAuth(ctx, origin, pdu, missing.Auth); err != nil {
				return room.Result{}, err
			}
		}
		if len(missing.Prev) > 0 {
			n, err := h.fillGap(ctx, origin, pdu)
			if err != nil {
				h.log.Info("get_missing_events failed; fetching the state at the gap", "origin", origin, "event", pdu.ID(), "err", err)
				break
			}
			fetched += n
			if n == 0 && len(missing.Auth) == 0 {
				break
			}
		}
		res, err = h.dag.Accept(ctx, pdu)
		if !errors.As(err, &missing) {
			return res, err
		}
	}
	if len(missing.Prev) > 0 {
		// The gap stays open: place pdu with the state origin reports at
		// its prev events.
		return h.acceptAcrossGap(ctx, origin, pdu, missing.Prev)
	}
	return room.Result{}, fmt.Errorf("fedserver: could not fetch the auth events of %s: %w", pdu.ID(), err)
}

// fillGap asks origin for the events between our forward extremities and
// pdu and accepts them oldest first; it returns how many it fetched.
func (h *Handlers) fillGap(ctx context.Context, origin string, pdu *event.PDU) (int, error) {
	fx, err := h.dag.Extremities(ctx, pdu.RoomID())
	if err != nil {
		return 0, err
	}
	raws, err := h.cfg.Client.GetMissingEvents(ctx, origin, pdu.RoomID(), fedclient.MissingEventsRequest{
		EarliestEvents: fx, LatestEvents: []string{pdu.ID()}, Limit: maxGapEvents,
	})
	if err != nil {
		return 0, fmt.Errorf("fedserver: get_missing_events from %s: %w", origin, err)
	}
	evs := make([]*event.PDU, 0, len(raws))
	for _, raw := range raws {
		ev, err := event.Parse(raw, pdu.Version())
		if err != nil || ev.RoomID() != pdu.RoomID() {
			continue
		}
		evs = append(evs, ev)
	}
	slices.SortStableFunc(evs, func(a, b *event.PDU) int { return cmp.Compare(a.Depth(), b.Depth()) })
	for _, ev := range evs {
		if _, err := h.dag.Accept(ctx, ev); err != nil {
			var missing *room.MissingEventsError
			if errors.As(err, &missing) && len(missing.Auth) > 0 {
				if err := h.fetchAuth(ctx, origin, ev, missing.Auth); err == nil {
					h.dag.Accept(ctx, ev)
				}
			}
		}
	}
	return len(evs), nil
}

// fetchAuth fetches the auth chain of pdu from origin and accepts the
// events it lacks, oldest first. Auth events whose own prev events are
// unknown are stored as outliers (room.DAG.AddOutliers): enough to judge
// the events that cite them.
func (h *Handlers) fetchAuth(ctx context.Context, origin string, pdu *event.PDU, ids []string) error {
	raws, err := h.cfg.Client.GetEventAuth(ctx, origin, pdu.RoomID(), pdu.ID())
	if err != nil {
		return fmt.Errorf("fedserver: event_auth from %s: %w", origin, err)
	}
	evs := make([]*event.PDU, 0, len(raws))
	for _, raw := range raws {
		ev, err := event.Parse(raw, pdu.Version())
		if err != nil || ev.RoomID() != pdu.RoomID() {
			continue
		}
		if _, err := h.dag.Event(ctx, ev.ID()); err == nil {
			continue
		}
		evs = append(evs, ev)
	}
	slices.SortStableFunc(evs, func(a, b *event.PDU) int { return cmp.Compare(a.Depth(), b.Depth()) })
	var unplaced []*event.PDU
	for _, ev := range evs {
		if _, err := h.dag.Accept(ctx, ev); err != nil {
			unplaced = append(unplaced, ev)
		}
	}
	if len(unplaced) > 0 {
		if err := h.dag.AddOutliers(ctx, pdu.RoomID(), unplaced); err != nil {
			return fmt.Errorf("fedserver: store the auth events of %s: %w", pdu.ID(), err)
		}
	}
	return nil
}
