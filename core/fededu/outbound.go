// Package fededu turns local ephemeral and E2EE changes into federation
// EDUs (Outbound, whose methods are the hooks of core/ephemeral and
// core/e2ee and which implements e2ee.Remote), and applies the EDUs other
// servers send to the local services (Receiver). EDU shapes follow the
// server-server API: m.typing, m.receipt, m.presence, m.device_list_update,
// m.signing_key_update and m.direct_to_device.
package fededu

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"

	"hearth/core/e2ee"
	"hearth/core/ephemeral"
	"hearth/core/fedclient"
	"hearth/core/room"
)

// EDUSender queues EDUs; *fedsender.Sender implements it.
type EDUSender interface {
	SendEDU(ctx context.Context, edu json.RawMessage, destinations []string) error
}

// RoomServers answers which servers are in a room; *fedsender.Sender
// implements it.
type RoomServers interface {
	Destinations(ctx context.Context, roomID string) ([]string, error)
}

// UserRooms lists a local user's rooms; *room.DAG implements it.
type UserRooms interface {
	Rooms(ctx context.Context, userID string) (map[string]room.Membership, error)
}

// OutboundConfig is what Outbound needs.
type OutboundConfig struct {
	Sender    EDUSender
	Rooms     RoomServers
	UserRooms UserRooms
	// Client queries and claims remote keys; nil makes them fail.
	Client *fedclient.Client
	Logger *slog.Logger
}

// Outbound builds EDUs from local changes and queues them.
type Outbound struct {
	cfg OutboundConfig
	log *slog.Logger
}

// NewOutbound returns an Outbound.
func NewOutbound(cfg OutboundConfig) *Outbound {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Outbound{cfg: cfg, log: log}
}

// EDU builds {"edu_type", "content"}.
func EDU(typ string, content any) (json.RawMessage, error) {
	return json.Marshal(struct {
		Type    string `json:"edu_type"`
		Content any    `json:"content"`
	}{typ, content})
}

func (o *Outbound) send(ctx context.Context, typ string, content any, dests []string) {
	if len(dests) == 0 {
		return
	}
	edu, err := EDU(typ, content)
	if err == nil {
		err = o.cfg.Sender.SendEDU(ctx, edu, dests)
	}
	if err != nil {
		o.log.Error("queueing an EDU", "type", typ, "err", err)
	}
}

func (o *Outbound) roomDests(ctx context.Context, roomID string) []string {
	d, err := o.cfg.Rooms.Destinations(ctx, roomID)
	if err != nil {
		o.log.Error("room destinations", "room", roomID, "err", err)
	}
	return d
}

// userDests returns the servers sharing a joined room with a local user.
func (o *Outbound) userDests(ctx context.Context, userID string) []string {
	rooms, err := o.cfg.UserRooms.Rooms(ctx, userID)
	if err != nil {
		o.log.Error("user rooms", "user", userID, "err", err)
		return nil
	}
	var out []string
	for id, m := range rooms {
		if m.Membership == "join" {
			out = append(out, o.roomDests(ctx, id)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Typing is ephemeral.Config.OnTyping: m.typing to the room's servers.
func (o *Outbound) Typing(roomID, userID string, typing bool) {
	ctx := context.Background()
	o.send(ctx, "m.typing", map[string]any{"room_id": roomID, "user_id": userID, "typing": typing}, o.roomDests(ctx, roomID))
}

// Receipt is ephemeral.Config.OnReceipt: m.receipt to the room's servers.
func (o *Outbound) Receipt(roomID, userID, eventID, threadID string, ts int64) {
	ctx := context.Background()
	data := map[string]any{"ts": ts}
	if threadID != "" {
		data["thread_id"] = threadID
	}
	content := map[string]any{roomID: map[string]any{"m.read": map[string]any{userID: map[string]any{"event_ids": []string{eventID}, "data": data}}}}
	o.send(ctx, "m.receipt", content, o.roomDests(ctx, roomID))
}

// Presence is ephemeral.Config.OnPresence: m.presence to the servers
// sharing a room with the user.
func (o *Outbound) Presence(userID string, st ephemeral.Status) {
	ctx := context.Background()
	p := map[string]any{"user_id": userID, "presence": st.Presence, "last_active_ago": int64(0)}
	if st.LastActiveAgo != nil {
		p["last_active_ago"] = *st.LastActiveAgo
	}
	if st.StatusMsg != nil {
		p["status_msg"] = *st.StatusMsg
	}
	if st.CurrentlyActive != nil {
		p["currently_active"] = *st.CurrentlyActive
	}
	o.send(ctx, "m.presence", map[string]any{"push": []any{p}}, o.userDests(ctx, userID))
}

// DeviceChange is e2ee.Config.OnDeviceChange: m.device_list_update to the
// servers sharing a room with the user. prev_id is empty, which receivers
// take as "apply this update as it is".
func (o *Outbound) DeviceChange(userID, deviceID string, deleted bool, keys json.RawMessage, streamID uint64) {
	ctx := context.Background()
	c := map[string]any{"user_id": userID, "device_id": deviceID, "stream_id": streamID, "prev_id": []int64{}, "deleted": deleted}
	if !deleted && len(keys) > 0 {
		c["keys"] = keys
	}
	o.send(ctx, "m.device_list_update", c, o.userDests(ctx, userID))
}

// SigningKeyChange is e2ee.Config.OnSigningKeyChange: m.signing_key_update.
func (o *Outbound) SigningKeyChange(userID string, master, selfSigning json.RawMessage) {
	ctx := context.Background()
	c := map[string]any{"user_id": userID}
	if master != nil {
		c["master_key"] = master
	}
	if selfSigning != nil {
		c["self_signing_key"] = selfSigning
	}
	o.send(ctx, "m.signing_key_update", c, o.userDests(ctx, userID))
}

// SendToDevice implements e2ee.Remote: an m.direct_to_device EDU, queued
// durably.
func (o *Outbound) SendToDevice(ctx context.Context, server, sender, eventType, messageID string, messages map[string]map[string]json.RawMessage) error {
	edu, err := EDU("m.direct_to_device", map[string]any{"sender": sender, "type": eventType, "message_id": messageID, "messages": messages})
	if err != nil {
		return err
	}
	return o.cfg.Sender.SendEDU(ctx, edu, []string{server})
}

// QueryKeys implements e2ee.Remote over /user/keys/query.
func (o *Outbound) QueryKeys(ctx context.Context, server string, users map[string][]string) (e2ee.RemoteKeys, error) {
	if o.cfg.Client == nil {
		return e2ee.RemoteKeys{}, errNoClient
	}
	r, err := o.cfg.Client.UserKeysQuery(ctx, server, users)
	if err != nil {
		return e2ee.RemoteKeys{}, err
	}
	return e2ee.RemoteKeys{DeviceKeys: r.DeviceKeys, MasterKeys: r.MasterKeys, SelfSigningKeys: r.SelfSigningKeys}, nil
}

// ClaimKeys implements e2ee.Remote over /user/keys/claim.
func (o *Outbound) ClaimKeys(ctx context.Context, server string, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	if o.cfg.Client == nil {
		return nil, errNoClient
	}
	return o.cfg.Client.UserKeysClaim(ctx, server, claims)
}

var _ e2ee.Remote = (*Outbound)(nil)
