package fededu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"

	"hearth/core/e2ee"
	"hearth/core/ephemeral"
	"hearth/core/event"
	"hearth/core/mxid"
	"hearth/core/room"
)

var errNoClient = errors.New("fededu: no federation client")

// Members reads room state; *room.DAG implements it.
type Members interface {
	CurrentState(ctx context.Context, roomID string) (room.State, error)
	StateEvents(ctx context.Context, s room.State) (map[event.StateKey]*event.PDU, error)
}

// ReceiverConfig is what a Receiver needs. Nil services ignore their EDUs.
type ReceiverConfig struct {
	Ephemeral *ephemeral.Ephemeral
	E2EE      *e2ee.Service
	Rooms     Members
	Logger    *slog.Logger
}

// Receiver applies inbound EDUs; fedserver.EDUReceiver.
type Receiver struct {
	cfg ReceiverConfig
	log *slog.Logger
}

// NewReceiver returns a Receiver.
func NewReceiver(cfg ReceiverConfig) *Receiver {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Receiver{cfg: cfg, log: log}
}

// Receive applies the EDUs of a transaction from origin. Every user an EDU
// speaks for must belong to origin; typing and receipts also need the user
// joined to the room. Failures are logged and the EDU skipped.
func (r *Receiver) Receive(ctx context.Context, origin string, edus []json.RawMessage) {
	for _, raw := range edus {
		var e struct {
			Type    string          `json:"edu_type"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			r.log.Info("malformed EDU", "origin", origin, "err", err)
			continue
		}
		if err := r.apply(ctx, origin, e.Type, e.Content); err != nil {
			r.log.Info("EDU ignored", "origin", origin, "type", e.Type, "err", err)
		}
	}
}

func (r *Receiver) apply(ctx context.Context, origin, typ string, content json.RawMessage) error {
	switch typ {
	case "m.typing":
		var c struct {
			RoomID string `json:"room_id"`
			UserID string `json:"user_id"`
			Typing bool   `json:"typing"`
		}
		if err := json.Unmarshal(content, &c); err != nil {
			return err
		}
		if r.cfg.Ephemeral == nil || !r.joined(ctx, origin, c.UserID, c.RoomID) {
			return errors.New("user not of origin or not joined")
		}
		r.cfg.Ephemeral.Typing.SetRemote(ctx, c.UserID, c.RoomID, c.Typing, 0)
	case "m.receipt":
		var c map[string]map[string]map[string]struct {
			EventIDs []string `json:"event_ids"`
			Data     struct {
				TS       int64  `json:"ts"`
				ThreadID string `json:"thread_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(content, &c); err != nil {
			return err
		}
		for roomID, byType := range c {
			for user, rc := range byType[ephemeral.ReceiptRead] {
				if r.cfg.Ephemeral == nil || len(rc.EventIDs) == 0 || !r.joined(ctx, origin, user, roomID) {
					continue
				}
				if err := r.cfg.Ephemeral.Receipts.MarkRemote(ctx, user, roomID, rc.EventIDs[len(rc.EventIDs)-1], rc.Data.ThreadID, rc.Data.TS); err != nil {
					r.log.Info("receipt ignored", "origin", origin, "user", user, "err", err)
				}
			}
		}
	case "m.presence":
		var c struct {
			Push []struct {
				UserID string `json:"user_id"`
				ephemeral.Status
			} `json:"push"`
		}
		if err := json.Unmarshal(content, &c); err != nil {
			return err
		}
		for _, p := range c.Push {
			if r.cfg.Ephemeral == nil || mxid.ServerOf(p.UserID) != origin {
				continue
			}
			if err := r.cfg.Ephemeral.Presence.SetRemote(ctx, p.UserID, p.Status); err != nil {
				r.log.Info("presence ignored", "origin", origin, "user", p.UserID, "err", err)
			}
		}
	case "m.device_list_update", "m.signing_key_update":
		var c struct {
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal(content, &c); err != nil {
			return err
		}
		if r.cfg.E2EE == nil || mxid.ServerOf(c.UserID) != origin {
			return errors.New("user not of origin")
		}
		return r.cfg.E2EE.RemoteDeviceListChanged(ctx, c.UserID)
	case "m.direct_to_device":
		var c struct {
			Sender    string                                `json:"sender"`
			Type      string                                `json:"type"`
			MessageID string                                `json:"message_id"`
			Messages  map[string]map[string]json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(content, &c); err != nil {
			return err
		}
		if r.cfg.E2EE == nil || mxid.ServerOf(c.Sender) != origin {
			return errors.New("sender not of origin")
		}
		return r.cfg.E2EE.DeliverRemoteToDevice(ctx, c.Sender, c.Type, c.MessageID, c.Messages)
	}
	return nil
}

// joined reports whether user belongs to origin and is joined to the room.
func (r *Receiver) joined(ctx context.Context, origin, user, roomID string) bool {
	if mxid.ServerOf(user) != origin || r.cfg.Rooms == nil {
		return false
	}
	state, err := r.cfg.Rooms.CurrentState(ctx, roomID)
	if err != nil {
		return false
	}
	k := event.StateKey{Type: "m.room.member", StateKey: user}
	id, ok := state[k]
	if !ok {
		return false
	}
	evs, err := r.cfg.Rooms.StateEvents(ctx, room.State{k: id})
	return err == nil && evs[k] != nil && evs[k].Membership() == "join"
}
