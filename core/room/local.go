package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"hearth/core/auth"
	"hearth/core/b64"
	"hearth/core/event"
	"hearth/core/roomversion"
	"hearth/persist"
)

// maxPrevEvents bounds how many forward extremities one local event joins,
// so that a room that forked widely does not produce huge events.
const maxPrevEvents = 20

// Proto is a local event before the DAG fills in its place in the room.
type Proto struct {
	Sender   string
	Type     string
	StateKey *string
	Content  json.RawMessage
	// Redacts names the event an m.room.redaction redacts.
	Redacts string
	// Also, when set, runs inside the transaction that stores the event,
	// for writes that must be durable exactly when the event is, such as
	// the client's transaction ID. An error aborts the send.
	Also func(tx persist.Tx, ev *event.PDU) error
	// Transaction, when set, is the client request that sent the event:
	// it is stored with the event, for Transaction to find.
	Transaction *Transaction
}

// Transaction names the client request that sent a local event: the user
// and device that sent it and the transaction ID of their request
// (PUT /rooms/{roomId}/send/{eventType}/{txnId} and the like), which /sync
// and the room endpoints show that device as unsigned.transaction_id.
type Transaction struct {
	UserID   string
	DeviceID string
	TxnID    string
}

// CreateRoom creates a room whose m.room.create event, sent by sender, has
// the given content (which must name room_version as v's ID). It returns the
// create event; its RoomID is the new room's ID.
func (d *DAG) CreateRoom(ctx context.Context, v *roomversion.Version, sender string, content json.RawMessage) (*event.PDU, error) {
	roomID := ""
	if !v.RoomIDFromCreateEvent {
		var err error
		if roomID, err = d.newRoomID(); err != nil {
			return nil, err
		}
	}
	empty := ""
	pdu, err := d.build(v, event.Builder{
		RoomID:         roomID,
		Sender:         sender,
		Type:           "m.room.create",
		StateKey:       &empty,
		Content:        content,
		Depth:          1,
		OriginServerTS: d.cfg.Now().UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	if err := auth.Check(pdu, auth.MapState{}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAllowed, err)
	}
	roomID = pdu.RoomID()
	e := d.entry(roomID)
	e.write.Lock()
	defer e.write.Unlock()
	if _, err := d.meta(ctx, roomID, e); err == nil {
		return nil, fmt.Errorf("room: room %s exists", roomID)
	} else if !errors.Is(err, ErrUnknownRoom) {
		return nil, err
	}
	meta := &roomMeta{Version: v.ID, CreateID: pdu.ID(), Extremities: []string{pdu.ID()}}
	err = d.add(ctx, addition{roomID: roomID, entry: e, pdu: pdu, status: statusAccepted, before: State{}, next: meta})
	if err != nil {
		return nil, err
	}
	return pdu, nil
}

// newRoomID makes a room ID with a random opaque part, for room versions
// whose room IDs are not derived from the create event.
func (d *DAG) newRoomID() (string, error) {
	var buf [18]byte
	if _, err := io.ReadFull(d.cfg.Rand, buf[:]); err != nil {
		return "", fmt.Errorf("room: random room ID: %w", err)
	}
	return "!" + b64.EncodeURL(buf[:]) + ":" + d.cfg.ServerName, nil
}

// maxBatch bounds how many queued local sends to one room share a commit.
const maxBatch = 64

// pendingSend is a local send waiting in its room's queue.
type pendingSend struct {
	p    Proto
	pdu  *event.PDU
	err  error
	done chan struct{}
}

// Send builds the local event p on top of the room's forward extremities,
// signs it, checks it against the room's current state and stores it. When
// Send returns without error the event is durable.
//
// Concurrent sends to one room are written together: they queue, and one of
// them builds the queued events as a chain (each on the one before) and
// commits them in one transaction, so a busy room pays one commit for many
// events instead of one each.
func (d *DAG) Send(ctx context.Context, roomID string, p Proto) (*event.PDU, error) {
	e := d.entry(roomID)
	req := &pendingSend{p: p, done: make(chan struct{})}
	e.mu.Lock()
	e.queue = append(e.queue, req)
	lead := !e.sending
	e.sending = true
	e.mu.Unlock()
	if lead {
		d.drainSends(context.WithoutCancel(ctx), roomID, e, req)
	}
	select {
	case <-req.done:
		return req.pdu, req.err
	case <-ctx.Done():
		// The send may still be written; the caller learns no more.
		return nil, ctx.Err()
	}
}

// drainSends writes the room's queued sends, batch after batch, until the
// queue is empty. A caller draining for its own send (mine) stops once that
// is written and hands the rest of the queue to a goroutine, so that its
// client does not wait for others' events.
func (d *DAG) drainSends(ctx context.Context, roomID string, e *roomEntry, mine *pendingSend) {
	for {
		e.mu.Lock()
		n := min(len(e.queue), maxBatch)
		if n == 0 {
			e.sending = false
			e.mu.Unlock()
			return
		}
		if mine != nil && isDone(mine) {
			e.mu.Unlock()
			go d.drainSends(ctx, roomID, e, nil)
			return
		}
		batch := e.queue[:n:n]
		e.queue = e.queue[n:]
		e.mu.Unlock()

		e.write.Lock()
		err := d.sendBatch(ctx, roomID, e, batch)
		if err != nil && len(batch) > 1 {
			// One send's failure (its Also hook, say) must not fail the
			// others: write them one by one.
			for _, req := range batch {
				req.pdu, req.err = nil, nil
				if err := d.sendBatch(ctx, roomID, e, []*pendingSend{req}); err != nil {
					req.err = err
				}
			}
		} else if err != nil {
			batch[0].pdu, batch[0].err = nil, err
		}
		e.write.Unlock()
		for _, req := range batch {
			close(req.done)
		}
	}
}

func isDone(req *pendingSend) bool {
	select {
	case <-req.done:
		return true
	default:
		return false
	}
}

// sendBatch builds the batch's events as a chain on the room's current
// state and commits those the auth rules allow in one transaction. A send
// the rules refuse gets its error in req.err and changes nothing; the
// returned error is for the commit, which then stored none of them. The
// caller holds e.write.
func (d *DAG) sendBatch(ctx context.Context, roomID string, e *roomEntry, batch []*pendingSend) error {
	meta, err := d.meta(ctx, roomID, e)
	if err != nil {
		return err
	}
	v, err := lookupVersion(meta.Version)
	if err != nil {
		return err
	}
	var adds []addition
	var built []*pendingSend
	err = d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		state, err := d.groups.load(tx, meta.Group)
		if err != nil {
			return err
		}
		t := txEvents{d: d, tx: tx, extra: map[string]*event.PDU{}}
		cur := meta
		for _, req := range batch {
			pdu, err := d.buildLocal(t, v, roomID, cur, state, req.p)
			if err != nil {
				if !errors.Is(err, ErrNotAllowed) {
					return err
				}
				req.err = err
				continue
			}
			next := *cur
			if len(cur.Extremities) > maxPrevEvents {
				next.Extremities = append([]string{pdu.ID()}, cur.Extremities[maxPrevEvents:]...)
			} else {
				next.Extremities = []string{pdu.ID()}
			}
			next.Depth = max(next.Depth, pdu.Depth())
			a := addition{roomID: roomID, entry: e, pdu: pdu, status: statusAccepted, before: state, next: &next, also: req.p.Also}
			if req.p.Transaction != nil {
				a.txn = *req.p.Transaction
			}
			if len(adds) == 0 {
				a.beforeGroup, a.prev = meta.Group, meta
			}
			adds = append(adds, a)
			built = append(built, req)
			t.extra[pdu.ID()] = pdu
			if pdu.IsState() {
				state = state.clone()
				state[pdu.StateTuple()] = pdu.ID()
			}
			cur = &next
		}
		return nil
	})
	if err != nil || len(adds) == 0 {
		return err
	}
	if d.cfg.Countersign != nil {
		for i := range adds {
			signed, err := d.cfg.Countersign(ctx, adds[i].pdu, adds[i].before)
			if err != nil {
				// The later events of the batch follow this one: the
				// caller writes the sends again one by one.
				return err
			}
			if signed.ID() != adds[i].pdu.ID() {
				return fmt.Errorf("room: countersigned event %s came back as %s", adds[i].pdu.ID(), signed.ID())
			}
			adds[i].pdu = signed
		}
	}
	if err := d.addChain(ctx, e, adds); err != nil {
		return err
	}
	for i, req := range built {
		req.pdu = adds[i].pdu
	}
	return nil
}

// buildLocal builds and authorises one local event on top of meta's
// extremities and the given current state. Refusals wrap ErrNotAllowed.
func (d *DAG) buildLocal(t txEvents, v *roomversion.Version, roomID string, meta *roomMeta, state State, p Proto) (*event.PDU, error) {
	needed, err := auth.NeededKeys(v, p.Type, p.Sender, p.StateKey, p.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAllowed, err)
	}
	authIDs := make([]string, 0, len(needed))
	for _, k := range needed {
		if id, ok := state[k]; ok && !(v.RoomIDFromCreateEvent && id == meta.CreateID) {
			authIDs = append(authIDs, id)
		}
	}
	slices.Sort(authIDs)
	authIDs = slices.Compact(authIDs)
	prevs := meta.Extremities
	if len(prevs) > maxPrevEvents {
		prevs = prevs[:maxPrevEvents]
	}
	pdu, err := d.build(v, event.Builder{
		RoomID:         roomID,
		Sender:         p.Sender,
		Type:           p.Type,
		StateKey:       p.StateKey,
		Content:        p.Content,
		PrevEvents:     prevs,
		AuthEvents:     authIDs,
		Depth:          meta.Depth + 1,
		OriginServerTS: d.cfg.Now().UnixMilli(),
		Redacts:        p.Redacts,
	})
	if err != nil {
		return nil, err
	}
	as := &authState{t: t, state: state}
	if err := auth.Check(pdu, as); err != nil {
		if as.err != nil {
			return nil, as.err
		}
		return nil, fmt.Errorf("%w: %v", ErrNotAllowed, err)
	}
	return pdu, as.err
}

// build signs a local event for this server.
func (d *DAG) build(v *roomversion.Version, b event.Builder) (*event.PDU, error) {
	pdu, err := event.Build(b, v, d.cfg.ServerName, d.cfg.Key, d.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("room: build %s event: %w", b.Type, err)
	}
	return pdu, nil
}
