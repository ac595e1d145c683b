package syncer

import "encoding/json"

// Response is the body of a /sync answer (spec v1.12, GET /sync). Events are
// already in their client form. Sections that have nothing are sent empty
// rather than left out, which every client accepts and some simple ones need.
//
// [Response.AppendJSON] encodes it without encoding/json, following the
// struct tags below; a change to a field or tag here needs the same change
// there (response_json.go).
type Response struct {
	NextBatch   string      `json:"next_batch"`
	Rooms       Rooms       `json:"rooms"`
	Presence    EventBatch  `json:"presence"`
	AccountData EventBatch  `json:"account_data"`
	ToDevice    EventBatch  `json:"to_device"`
	DeviceLists DeviceLists `json:"device_lists"`
	// OneTimeKeysCount and UnusedFallbackKeyTypes are sent on every sync
	// when end-to-end encryption is wired in, as clients expect.
	OneTimeKeysCount       map[string]int `json:"device_one_time_keys_count,omitzero"`
	UnusedFallbackKeyTypes []string       `json:"device_unused_fallback_key_types,omitzero"`
}

// Rooms holds the updated rooms, by membership.
type Rooms struct {
	Join   map[string]*JoinedRoom  `json:"join"`
	Invite map[string]*InvitedRoom `json:"invite"`
	Knock  map[string]*KnockedRoom `json:"knock"`
	Leave  map[string]*LeftRoom    `json:"leave"`
}

// EventBatch is a list of events; it encodes as {"events": []} when empty.
type EventBatch struct {
	Events []json.RawMessage `json:"events"`
}

// MarshalJSON writes an empty list rather than null for no events, and
// the events as they are (see [Response.AppendJSON]).
func (b EventBatch) MarshalJSON() ([]byte, error) {
	return b.appendJSON(nil), nil
}

// JoinedRoom is a room the user is joined to.
type JoinedRoom struct {
	Summary     Summary    `json:"summary"`
	State       EventBatch `json:"state"`
	Timeline    Timeline   `json:"timeline"`
	Ephemeral   EventBatch `json:"ephemeral"`
	AccountData EventBatch `json:"account_data"`
	// UnreadNotifications is nil when no notification counts are wired in.
	UnreadNotifications *UnreadCounts `json:"unread_notifications,omitempty"`
}

// Summary is what clients need to name a room without its member list. Fields
// are omitted when they did not change since the last sync.
type Summary struct {
	Heroes             []string `json:"m.heroes,omitempty"`
	JoinedMemberCount  *int     `json:"m.joined_member_count,omitempty"`
	InvitedMemberCount *int     `json:"m.invited_member_count,omitempty"`
}

// Timeline is a room's timeline section.
type Timeline struct {
	Events []json.RawMessage `json:"events"`
	// Limited says events between the since token (or the beginning)
	// and the first event were left out.
	Limited bool `json:"limited"`
	// PrevBatch is a /messages token for the point just before the first
	// event (synctoken.Before of its position): paginating backwards from
	// it returns the events older than the first one.
	PrevBatch string `json:"prev_batch,omitempty"`
}

// MarshalJSON writes an empty list rather than null for no events, and
// the events as they are (see [Response.AppendJSON]).
func (t Timeline) MarshalJSON() ([]byte, error) {
	return t.appendJSON(nil), nil
}

// UnreadCounts is a joined room's unread_notifications.
type UnreadCounts struct {
	HighlightCount    int `json:"highlight_count"`
	NotificationCount int `json:"notification_count"`
}

// InvitedRoom is a room the user is invited to: only its stripped state.
type InvitedRoom struct {
	InviteState EventBatch `json:"invite_state"`
}

// KnockedRoom is a room the user knocked on: only its stripped state.
type KnockedRoom struct {
	KnockState EventBatch `json:"knock_state"`
}

// LeftRoom is a room the user left or was banned from.
type LeftRoom struct {
	State       EventBatch `json:"state"`
	Timeline    Timeline   `json:"timeline"`
	AccountData EventBatch `json:"account_data"`
}

// DeviceLists are the users whose devices the client should look at again.
type DeviceLists struct {
	Changed []string `json:"changed,omitempty"`
	Left    []string `json:"left,omitempty"`
}

func newRooms() Rooms {
	return Rooms{
		Join:   map[string]*JoinedRoom{},
		Invite: map[string]*InvitedRoom{},
		Knock:  map[string]*KnockedRoom{},
		Leave:  map[string]*LeftRoom{},
	}
}

// empty reports whether r carries nothing for the client, so that a
// long-polling request keeps waiting.
func (r *Response) empty() bool {
	return len(r.Rooms.Join) == 0 && len(r.Rooms.Invite) == 0 && len(r.Rooms.Knock) == 0 &&
		len(r.Rooms.Leave) == 0 && len(r.Presence.Events) == 0 && len(r.AccountData.Events) == 0 &&
		len(r.ToDevice.Events) == 0 && len(r.DeviceLists.Changed) == 0 && len(r.DeviceLists.Left) == 0
}
