package room

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"hearth/core/event"
	"hearth/persist"
)

// pduCache keeps recently used events, parsed, so that auth checks on the
// send path do not re-read and re-parse the same state events.
type pduCache struct {
	mu    sync.Mutex
	size  int
	items map[string]cachedEvent
	order []string
}

// cachedEvent is an event with what the store says of it.
type cachedEvent struct {
	pdu *event.PDU
	rec eventRecord // json is not kept here; pdu has it
}

func newPDUCache(size int) *pduCache {
	return &pduCache{size: size, items: make(map[string]cachedEvent, size)}
}

func (c *pduCache) get(id string) (cachedEvent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ce, ok := c.items[id]
	return ce, ok
}

func (c *pduCache) put(id string, ce cachedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[id]; !ok {
		if len(c.order) >= c.size {
			delete(c.items, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, id)
	}
	ce.rec.json = nil
	c.items[id] = ce
}

// load returns an event and its record from the cache or the store.
func (d *DAG) load(tx persist.Tx, id string) (cachedEvent, error) {
	if ce, ok := d.events.get(id); ok {
		return ce, nil
	}
	raw, err := tx.Get(eventKey(id))
	if errors.Is(err, persist.ErrNotFound) {
		return cachedEvent{}, fmt.Errorf("%w: %s", ErrUnknownEvent, id)
	}
	if err != nil {
		return cachedEvent{}, fmt.Errorf("room: read event %s: %w", id, err)
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return cachedEvent{}, err
	}
	v, err := lookupVersion(rec.version)
	if err != nil {
		return cachedEvent{}, err
	}
	pdu, err := event.Load(id, rec.json, v)
	if err != nil {
		return cachedEvent{}, fmt.Errorf("room: stored event %s: %w", id, err)
	}
	ce := cachedEvent{pdu: pdu, rec: rec}
	d.events.put(id, ce)
	return ce, nil
}

// Event returns a stored event by ID, whatever its status.
func (d *DAG) Event(ctx context.Context, id string) (*event.PDU, error) {
	var pdu *event.PDU
	err := d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		ce, err := d.load(tx, id)
		pdu = ce.pdu
		return err
	})
	return pdu, err
}

// txEvents lets state resolution and auth read events inside one
// transaction, including the event being added, which is not stored yet.
type txEvents struct {
	d       *DAG
	tx      persist.Tx
	pending *event.PDU
	// extra holds events built earlier in the same batch of local sends.
	extra map[string]*event.PDU
}

// Event implements stateres.Events.
func (t txEvents) Event(id string) (*event.PDU, error) {
	if t.pending != nil && t.pending.ID() == id {
		return t.pending, nil
	}
	if pdu, ok := t.extra[id]; ok {
		return pdu, nil
	}
	ce, err := t.d.load(t.tx, id)
	return ce.pdu, err
}

// Rejected implements stateres.Rejections: rejected events must never
// fill gaps in state resolution's auth checks.
func (t txEvents) Rejected(id string) bool {
	if t.pending != nil && t.pending.ID() == id {
		return false
	}
	ce, err := t.d.load(t.tx, id)
	return err == nil && ce.rec.status == statusRejected
}

// authState adapts a State of event IDs to auth.State, reading the events
// it is asked for.
type authState struct {
	t     txEvents
	state State
	err   error // first read error, reported after the check
}

// Get implements auth.State.
func (a *authState) Get(k event.StateKey) *event.PDU {
	id, ok := a.state[k]
	if !ok {
		return nil
	}
	pdu, err := a.t.Event(id)
	if err != nil {
		if a.err == nil {
			a.err = err
		}
		return nil
	}
	return pdu
}
