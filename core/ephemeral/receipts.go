package ephemeral

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hearth/core/room"
	"hearth/core/streampos"
	"hearth/persist"
)

// Receipt and marker types.
const (
	ReceiptRead        = "m.read"
	ReceiptReadPrivate = "m.read.private"
	// FullyRead is the fully read marker: room account data, not a
	// receipt, though /receipt accepts it.
	FullyRead = "m.fully_read"
)

// Receipts are users' read receipts per room. They implement the sync
// contract's Receipts source; m.read.private receipts are shown only to
// their owner. It is safe for concurrent use.
type Receipts struct {
	cfg    *Config
	stream *streampos.Stream
}

// receiptRecord is one stored receipt.
type receiptRecord struct {
	EventID string `json:"e"`
	TS      int64  `json:"ts"`
	// Pos is the receipt's position in the receipts stream, EventPos the
	// event's position in the room stream (receipts only move forward).
	Pos      uint64 `json:"p"`
	EventPos uint64 `json:"ep"`
}

func newReceipts(ctx context.Context, cfg *Config) (*Receipts, error) {
	var last uint64
	err := cfg.Store.View(ctx, func(tx persist.Tx) (err error) {
		last, err = persist.GetUint64(tx, []byte(keyReceiptLast))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral: open receipts: %w", err)
	}
	return &Receipts{cfg: cfg, stream: streampos.New(last)}, nil
}

// Position returns the position up to which every receipt is durable and
// visible to Changes.
func (r *Receipts) Position() uint64 {
	p, _ := r.stream.Position()
	return p
}

// Stream returns the position and a channel closed when it next moves,
// for long-polling readers that wait on the stream itself.
func (r *Receipts) Stream() (uint64, <-chan struct{}) { return r.stream.Position() }

// Marker is one event a user has read up to.
type Marker struct {
	// Type is m.read, m.read.private or m.fully_read.
	Type    string
	EventID string
	// ThreadID is "" for an unthreaded receipt, "main" or a thread
	// root's event ID for a threaded one; m.fully_read has none.
	ThreadID string
}

// resolved is a Marker whose event was found in the room.
type resolved struct {
	Marker
	pos uint64
}

// check validates a marker and finds its event in the room.
func (r *Receipts) check(ctx context.Context, roomID string, m Marker) (resolved, error) {
	switch m.Type {
	case ReceiptRead, ReceiptReadPrivate:
	case FullyRead:
		if m.ThreadID != "" {
			return resolved{}, fmt.Errorf("%w: thread_id is not allowed with %s", ErrInvalid, FullyRead)
		}
	default:
		return resolved{}, fmt.Errorf("%w: unknown receipt type %q", ErrInvalid, m.Type)
	}
	if strings.ContainsRune(m.ThreadID, 0) {
		return resolved{}, fmt.Errorf("%w: thread_id", ErrInvalid)
	}
	info, err := r.cfg.Events.Info(ctx, m.EventID)
	if errors.Is(err, room.ErrUnknownEvent) || err == nil && (!info.InTimeline || info.Event.RoomID() != roomID) {
		return resolved{}, fmt.Errorf("%w: %s", ErrUnknownEvent, m.EventID)
	}
	if err != nil {
		return resolved{}, fmt.Errorf("ephemeral: find event: %w", err)
	}
	return resolved{Marker: m, pos: info.Pos}, nil
}

// Mark applies the markers of one request by userID in roomID (POST
// /receipt/{type}/{eventId} sends one, POST /read_markers up to three):
// m.read and m.read.private become receipts and reset notification counts,
// m.fully_read moves the room account data marker. Every marker is checked
// before any is applied: the user must be joined (ErrNotJoined), each event
// must be in the room's timeline (ErrUnknownEvent), types and thread IDs
// must be valid (ErrInvalid). Markers never move backwards: one naming an
// event older than the current one is accepted and ignored.
func (r *Receipts) Mark(ctx context.Context, userID, roomID string, markers ...Marker) error {
	if err := joined(ctx, r.cfg.Rooms, userID, roomID); err != nil {
		return err
	}
	var checked []resolved
	for _, m := range markers {
		c, err := r.check(ctx, roomID, m)
		if err != nil {
			return err
		}
		checked = append(checked, c)
	}
	for _, m := range checked {
		var err error
		if m.Type == FullyRead {
			err = r.markFullyRead(ctx, userID, roomID, m)
		} else {
			err = r.receipt(ctx, userID, roomID, m, r.cfg.Now().UnixMilli(), true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// markFullyRead moves the m.fully_read room account data forwards.
func (r *Receipts) markFullyRead(ctx context.Context, userID, roomID string, m resolved) error {
	var current struct {
		EventID string `json:"event_id"`
	}
	raw, err := r.cfg.AccountData.Get(ctx, userID, roomID, FullyRead)
	if err == nil && json.Unmarshal(raw, &current) == nil && current.EventID != "" {
		info, err := r.cfg.Events.Info(ctx, current.EventID)
		if err == nil && info.InTimeline && info.Pos >= m.pos {
			return nil
		}
	}
	content, err := json.Marshal(map[string]string{"event_id": m.EventID})
	if err != nil {
		return err
	}
	if _, err := r.cfg.AccountData.Set(ctx, userID, roomID, FullyRead, content); err != nil {
		return fmt.Errorf("ephemeral: fully read marker: %w", err)
	}
	return nil
}

// MarkRemote applies an m.read receipt from another server (m.receipt)
// at the remote timestamp ts. The caller (federation) has checked that the
// user is joined and belongs to the sending server. The event must be in
// the room's timeline (ErrUnknownEvent). OnReceipt is not called.
func (r *Receipts) MarkRemote(ctx context.Context, userID, roomID, eventID, threadID string, ts int64) error {
	c, err := r.check(ctx, roomID, Marker{Type: ReceiptRead, EventID: eventID, ThreadID: threadID})
	if err != nil {
		return err
	}
	return r.receipt(ctx, userID, roomID, c, ts, false)
}

// receipt stores an m.read or m.read.private receipt with timestamp ts,
// first resetting a local user's notification counts.
func (r *Receipts) receipt(ctx context.Context, userID, roomID string, m resolved, ts int64, local bool) error {
	if local && r.cfg.Read != nil {
		if err := r.cfg.Read.MarkRead(ctx, userID, roomID, m.ThreadID, m.pos); err != nil {
			return err
		}
	}
	ref := receiptRef(userID, m.Type, m.ThreadID)
	pos := r.stream.Allocate()
	finished := false
	finish := func() {
		if !finished {
			finished = true
			r.stream.Finish(pos)
		}
	}
	defer finish()
	rec := receiptRecord{EventID: m.EventID, TS: ts, Pos: pos, EventPos: m.pos}
	value, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	moved := false
	err = r.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		moved = false
		key := receiptKey(roomID, ref)
		raw, err := tx.Get(key)
		switch {
		case err == nil:
			var old receiptRecord
			if err := json.Unmarshal(raw, &old); err != nil {
				return fmt.Errorf("ephemeral: corrupt receipt: %w", err)
			}
			if old.EventPos >= m.pos {
				// Ignored, but the position must not be reused
				// after a restart.
				return raiseLast(tx, keyReceiptLast, pos)
			}
			if err := tx.Delete(receiptLogKey(roomID, old.Pos)); err != nil {
				return err
			}
		case !errors.Is(err, persist.ErrNotFound):
			return err
		}
		if err := tx.Set(key, value); err != nil {
			return err
		}
		if err := tx.Set(receiptLogKey(roomID, pos), []byte(ref)); err != nil {
			return err
		}
		moved = true
		return raiseLast(tx, keyReceiptLast, pos)
	})
	if err != nil {
		return fmt.Errorf("ephemeral: store receipt: %w", err)
	}
	if !moved {
		return nil
	}
	finish()
	if local && m.Type == ReceiptRead && r.cfg.OnReceipt != nil {
		r.cfg.OnReceipt(roomID, userID, m.EventID, m.ThreadID, ts)
	}
	if m.Type == ReceiptReadPrivate {
		wakeWhenVisible(r.stream, pos, r.cfg.Wake, userID)
		return nil
	}
	members, err := r.cfg.Rooms.JoinedLocalMembers(ctx, roomID)
	if err != nil {
		// The receipt is stored; only the wake-up of others is lost,
		// and they see it at their next sync.
		members = nil
	}
	wakeWhenVisible(r.stream, pos, r.cfg.Wake, append(members, userID)...)
	return nil
}

// receiptBody is one user's entry in m.receipt content.
type receiptBody struct {
	TS       int64  `json:"ts"`
	ThreadID string `json:"thread_id,omitempty"`
}

// Changes returns, for each of roomIDs with receipts changed at positions
// in (from, to] that userID may see, the content of an m.receipt event
// with those receipts: {event ID: {type: {user: {ts, thread_id}}}}. With
// from == 0 it returns every room's current receipts. Private receipts of
// other users are left out.
func (r *Receipts) Changes(ctx context.Context, userID string, roomIDs []string, from, to uint64) (map[string]json.RawMessage, error) {
	if to <= from {
		return nil, nil
	}
	var out map[string]json.RawMessage
	err := r.cfg.Store.View(ctx, func(tx persist.Tx) error {
		for _, roomID := range roomIDs {
			content := map[string]map[string]map[string]receiptBody{}
			it := tx.Iterate(persist.IterOptions{Start: receiptLogKey(roomID, from+1), End: receiptLogKey(roomID, to+1)})
			for it.Next() {
				ref := string(it.Value())
				parts := strings.SplitN(ref, "\x00", 3)
				if len(parts) != 3 {
					it.Close()
					return fmt.Errorf("ephemeral: corrupt receipt log entry %q", ref)
				}
				user, typ, thread := parts[0], parts[1], parts[2]
				if typ == ReceiptReadPrivate && user != userID {
					continue
				}
				raw, err := tx.Get(receiptKey(roomID, ref))
				if err != nil {
					it.Close()
					return fmt.Errorf("ephemeral: receipt log names a missing receipt: %w", err)
				}
				var rec receiptRecord
				if err := json.Unmarshal(raw, &rec); err != nil {
					it.Close()
					return fmt.Errorf("ephemeral: corrupt receipt: %w", err)
				}
				byType := content[rec.EventID]
				if byType == nil {
					byType = map[string]map[string]receiptBody{}
					content[rec.EventID] = byType
				}
				if byType[typ] == nil {
					byType[typ] = map[string]receiptBody{}
				}
				byType[typ][user] = receiptBody{TS: rec.TS, ThreadID: thread}
			}
			err := it.Err()
			it.Close()
			if err != nil {
				return err
			}
			if len(content) == 0 {
				continue
			}
			raw, err := json.Marshal(content)
			if err != nil {
				return err
			}
			if out == nil {
				out = make(map[string]json.RawMessage)
			}
			out[roomID] = raw
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral: receipt changes: %w", err)
	}
	return out, nil
}
