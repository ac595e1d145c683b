package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"hearth/core/filter"
)

// maxToDevice bounds the to-device messages of one response; the rest come
// with the next sync, which then returns at once.
const maxToDevice = 100

// run is the work of computing one response.
type run struct {
	s   *Syncer
	req Request
	f   *filter.Filter
	// from is what the client has seen (zero for an initial sync), to is
	// what this response brings it up to.
	from, to Token
	initial  bool
	nowMS    int64
	resp     *Response
	// roomAccountData holds the per-room account data that changed.
	roomAccountData map[string]map[string]json.RawMessage
	// deviceChanged collects users whose devices the client must look at
	// because they now share a room with it.
	deviceChanged map[string]bool
	// ignored are the users whose messages and invites the user ignores.
	ignored map[string]bool
}

// compute builds one response from the streams' current positions.
func (s *Syncer) compute(ctx context.Context, req Request) (*Response, error) {
	r := &run{
		s:             s,
		req:           req,
		f:             req.Filter,
		to:            s.current(),
		initial:       req.Since == nil,
		nowMS:         s.cfg.Now().UnixMilli(),
		resp:          &Response{Rooms: newRooms()},
		deviceChanged: map[string]bool{},
	}
	if req.Since != nil {
		r.from = clamp(*req.Since, r.to)
	}
	next := r.to
	r.ignored = r.ignoredUsers(ctx)
	if err := r.accountData(ctx); err != nil {
		return nil, err
	}
	if err := r.rooms(ctx); err != nil {
		return nil, err
	}
	if err := r.remoteInvites(ctx); err != nil {
		return nil, err
	}
	if err := r.presence(ctx); err != nil {
		return nil, err
	}
	last, err := r.toDevice(ctx)
	if err != nil {
		return nil, err
	}
	next.ToDevice = last
	if err := r.deviceKeys(ctx); err != nil {
		return nil, err
	}
	r.resp.NextBatch = next.String()
	return r.resp, nil
}

// clamp returns the positions of since that the streams have reached. Only
// the typing stream goes backwards (it restarts with the server): a typing
// position beyond the current one starts that stream again from 0.
func clamp(since, cur Token) Token {
	out := since
	o, c := out.fields(), cur.fields()
	for i := range o {
		*o[i] = min(*o[i], *c[i])
	}
	if since.Typing > cur.Typing {
		out.Typing = 0
	}
	return out
}

// accountData reads the account data that changed: the global part goes
// into the response, the per-room part waits for the rooms.
func (r *run) accountData(ctx context.Context) error {
	src := r.s.cfg.AccountData
	if src == nil || (!r.initial && r.from.AccountData >= r.to.AccountData) {
		return nil
	}
	global, rooms, err := src.Changes(ctx, r.req.UserID, r.from.AccountData, r.to.AccountData)
	if err != nil {
		return fmt.Errorf("syncer: account data of %s: %w", r.req.UserID, err)
	}
	r.roomAccountData = rooms
	r.resp.AccountData.Events, err = accountDataEvents(global, typeOnly(r.f.AccountDataFilter()))
	return err
}

// accountDataEvents turns account data by type into {"type","content"}
// events, sorted by type, that pass f.
func accountDataEvents(byType map[string]json.RawMessage, f *filter.EventFilter) ([]json.RawMessage, error) {
	types := make([]string, 0, len(byType))
	for t := range byType {
		if f.Match(t, "") {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	types = types[:f.LimitOr(len(types), len(types))]
	out := make([]json.RawMessage, 0, len(types))
	for _, t := range types {
		raw, err := json.Marshal(struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}{t, byType[t]})
		if err != nil {
			return nil, fmt.Errorf("syncer: encode account data %s: %w", t, err)
		}
		out = append(out, raw)
	}
	return out, nil
}

// ignoredUsers reads the user's m.ignored_user_list.
func (r *run) ignoredUsers(ctx context.Context) map[string]bool {
	reader, ok := r.s.cfg.AccountData.(AccountDataReader)
	if !ok {
		return nil
	}
	raw, err := reader.Get(ctx, r.req.UserID, "", "m.ignored_user_list")
	if err != nil {
		return nil
	}
	var list struct {
		Ignored map[string]json.RawMessage `json:"ignored_users"`
	}
	if json.Unmarshal(raw, &list) != nil || len(list.Ignored) == 0 {
		return nil
	}
	out := make(map[string]bool, len(list.Ignored))
	for u := range list.Ignored {
		out[u] = true
	}
	return out
}

// typeOnly drops the sender conditions of f, for events that have no
// sender (account data, ephemeral events).
func typeOnly(f *filter.EventFilter) *filter.EventFilter {
	if f == nil {
		return nil
	}
	c := *f
	c.Senders, c.NotSenders = nil, nil
	return &c
}

// presence reads the presence of users sharing a room with the user.
func (r *run) presence(ctx context.Context) error {
	src := r.s.cfg.Presence
	if src == nil || (!r.initial && r.from.Presence >= r.to.Presence) {
		return nil
	}
	evs, err := src.Changes(ctx, r.req.UserID, r.from.Presence, r.to.Presence)
	if err != nil {
		return fmt.Errorf("syncer: presence for %s: %w", r.req.UserID, err)
	}
	pf := r.f.PresenceFilter()
	limit := pf.LimitOr(len(evs), len(evs))
	for _, raw := range evs {
		if len(r.resp.Presence.Events) == limit {
			break
		}
		var head struct {
			Type   string `json:"type"`
			Sender string `json:"sender"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return fmt.Errorf("syncer: presence event: %w", err)
		}
		if pf.Match(head.Type, head.Sender) {
			r.resp.Presence.Events = append(r.resp.Presence.Events, raw)
		}
	}
	return nil
}

// toDevice reads the device's inbox and returns the position the next
// token records for it.
func (r *run) toDevice(ctx context.Context) (uint64, error) {
	src := r.s.cfg.ToDevice
	if src == nil || r.req.DeviceID == "" || r.from.ToDevice >= r.to.ToDevice {
		return r.to.ToDevice, nil
	}
	msgs, last, err := src.Messages(ctx, r.req.UserID, r.req.DeviceID, r.from.ToDevice, r.to.ToDevice, maxToDevice)
	if err != nil {
		return 0, fmt.Errorf("syncer: to-device messages of %s %s: %w", r.req.UserID, r.req.DeviceID, err)
	}
	if last < r.from.ToDevice || last > r.to.ToDevice {
		return 0, fmt.Errorf("syncer: to-device source returned position %d outside (%d, %d]", last, r.from.ToDevice, r.to.ToDevice)
	}
	r.resp.ToDevice.Events = msgs
	return last, nil
}

// deviceKeys fills device_lists and the key counts.
func (r *run) deviceKeys(ctx context.Context) error {
	src := r.s.cfg.DeviceKeys
	if src == nil {
		return nil
	}
	changed, left := map[string]bool{}, map[string]bool{}
	if !r.initial {
		if r.from.DeviceKeys < r.to.DeviceKeys {
			c, l, err := src.ListChanges(ctx, r.req.UserID, r.from.DeviceKeys, r.to.DeviceKeys)
			if err != nil {
				return fmt.Errorf("syncer: device list changes for %s: %w", r.req.UserID, err)
			}
			for _, u := range c {
				changed[u] = true
			}
			for _, u := range l {
				left[u] = true
			}
		}
		for u := range r.deviceChanged {
			changed[u] = true
		}
		for u := range changed {
			delete(left, u)
		}
	}
	r.resp.DeviceLists.Changed = sortedKeys(changed)
	r.resp.DeviceLists.Left = sortedKeys(left)
	if r.req.DeviceID == "" {
		return nil
	}
	counts, err := src.OneTimeKeyCounts(ctx, r.req.UserID, r.req.DeviceID)
	if err != nil {
		return fmt.Errorf("syncer: one-time key counts of %s %s: %w", r.req.UserID, r.req.DeviceID, err)
	}
	// Clients read a missing signed_curve25519 count as "unknown" rather
	// than zero, so it is always sent.
	out := map[string]int{"signed_curve25519": 0}
	for k, v := range counts {
		out[k] = v
	}
	r.resp.OneTimeKeysCount = out
	types, err := src.UnusedFallbackKeyTypes(ctx, r.req.UserID, r.req.DeviceID)
	if err != nil {
		return fmt.Errorf("syncer: fallback key types of %s %s: %w", r.req.UserID, r.req.DeviceID, err)
	}
	if types == nil {
		types = []string{}
	}
	r.resp.UnusedFallbackKeyTypes = types
	return nil
}

// sortedKeys returns the keys of a set in order, nil for an empty set.
func sortedKeys(set map[string]bool) []string {
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
