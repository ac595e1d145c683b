package room

import (
	"context"
	"encoding/json"
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta != nil {
		return nil, fmt.Errorf("room: room %s exists", roomID)
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

// Send builds the local event p on top of the room's forward extremities,
// signs it, checks it against the room's current state and stores it. When
// Send returns without error the event is durable.
func (d *DAG) Send(ctx context.Context, roomID string, p Proto) (*event.PDU, error) {
	e := d.entry(roomID)
	e.mu.Lock()
	defer e.mu.Unlock()
	meta, err := d.loadMeta(ctx, roomID, e)
	if err != nil {
		return nil, err
	}
	v, err := lookupVersion(meta.Version)
	if err != nil {
		return nil, err
	}
	var pdu *event.PDU
	var before State
	err = d.cfg.Store.View(ctx, func(tx persist.Tx) error {
		if before, err = d.groups.load(tx, meta.Group); err != nil {
			return err
		}
		needed, err := auth.NeededKeys(v, p.Type, p.Sender, p.StateKey, p.Content)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotAllowed, err)
		}
		authIDs := make([]string, 0, len(needed))
		for _, k := range needed {
			if id, ok := before[k]; ok && !(v.RoomIDFromCreateEvent && id == meta.CreateID) {
				authIDs = append(authIDs, id)
			}
		}
		slices.Sort(authIDs)
		authIDs = slices.Compact(authIDs)
		prevs := meta.Extremities
		if len(prevs) > maxPrevEvents {
			prevs = prevs[:maxPrevEvents]
		}
		pdu, err = d.build(v, event.Builder{
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
			return err
		}
		as := &authState{t: txEvents{d: d, tx: tx}, state: before}
		if err := auth.Check(pdu, as); err != nil {
			return fmt.Errorf("%w: %v", ErrNotAllowed, err)
		}
		return as.err
	})
	if err != nil {
		return nil, err
	}
	next := *meta
	if len(meta.Extremities) > maxPrevEvents {
		next.Extremities = append([]string{pdu.ID()}, meta.Extremities[maxPrevEvents:]...)
	} else {
		next.Extremities = []string{pdu.ID()}
	}
	err = d.add(ctx, addition{
		roomID: roomID, entry: e, pdu: pdu, status: statusAccepted,
		before: before, beforeGroup: meta.Group, next: &next, also: p.Also,
	})
	if err != nil {
		return nil, err
	}
	return pdu, nil
}

// build signs a local event for this server.
func (d *DAG) build(v *roomversion.Version, b event.Builder) (*event.PDU, error) {
	pdu, err := event.Build(b, v, d.cfg.ServerName, d.cfg.Key, d.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("room: build %s event: %w", b.Type, err)
	}
	return pdu, nil
}
