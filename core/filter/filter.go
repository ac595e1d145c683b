// Package filter implements the filters of the Matrix client-server API
// v1.12 ("Filtering", and the Filter, RoomFilter, RoomEventFilter and
// EventFilter definitions of POST /user/{userId}/filter): their JSON, the
// validation the spec asks for, and the matching that /sync, /messages and
// /context apply to events and rooms.
//
// A nil filter, or a nil sub-filter, matches everything, so callers can use
// the accessors of a *Filter without checking which parts the client sent.
package filter

import (
	"bytes"
	"encoding/json"
	"hearth/core/matrixerr"
	"net/http"
	"strings"
)

// Event formats of Filter.EventFormat.
const (
	FormatClient     = "client"
	FormatFederation = "federation"
)

// Timeline limits: the spec asks servers to "apply a default value, and
// impose a maximum value to avoid resource exhaustion". DefaultTimelineLimit
// is the events per room a /sync timeline holds when the filter gives no
// limit; MaxTimelineLimit caps what a filter may ask for (the response is
// then marked limited and the client paginates).
const (
	DefaultTimelineLimit = 10
	MaxTimelineLimit     = 100
)

// EventFilter selects events by type and sender, and bounds how many are
// returned. A nil list is absent and excludes nothing (or, for Types and
// Senders, includes everything); an empty non-nil list is present and, for
// Types and Senders, includes nothing.
type EventFilter struct {
	// Limit is the maximum number of events to return; nil for the
	// server's default. Parse requires it to be positive.
	Limit *int `json:"limit,omitempty"`
	// NotSenders are excluded even when listed in Senders.
	NotSenders []string `json:"not_senders,omitzero"`
	// NotTypes are excluded even when matched by Types; "*" is a wildcard
	// for any sequence of characters.
	NotTypes []string `json:"not_types,omitzero"`
	// Senders, when present, are the only senders included.
	Senders []string `json:"senders,omitzero"`
	// Types, when present, are the only event types included; "*" is a
	// wildcard for any sequence of characters.
	Types []string `json:"types,omitzero"`
}

// RoomEventFilter is an EventFilter for room events, which can also select
// by room and by the presence of content.url, and which carries the
// lazy-loading and thread notification switches. The spec's StateFilter has
// the same fields and is represented by this type too.
type RoomEventFilter struct {
	EventFilter
	// UnreadThreadNotifications enables per-thread notification counts in
	// /sync (on the timeline filter).
	UnreadThreadNotifications bool `json:"unread_thread_notifications,omitempty"`
	// LazyLoadMembers makes the endpoints send only the membership events
	// of the senders of the events they return.
	LazyLoadMembers bool `json:"lazy_load_members,omitempty"`
	// IncludeRedundantMembers, with LazyLoadMembers, resends membership
	// events the client has already been sent.
	IncludeRedundantMembers bool `json:"include_redundant_members,omitempty"`
	// NotRooms are excluded even when listed in Rooms.
	NotRooms []string `json:"not_rooms,omitzero"`
	// Rooms, when present, are the only rooms included.
	Rooms []string `json:"rooms,omitzero"`
	// ContainsURL, when set, includes only events whose content has (true)
	// or lacks (false) a url key.
	ContainsURL *bool `json:"contains_url,omitempty"`
}

// RoomFilter is the room part of a Filter: which rooms /sync reports on, and
// the filters for each section of a room.
type RoomFilter struct {
	// NotRooms are excluded even when listed in Rooms; applied before the
	// section filters.
	NotRooms []string `json:"not_rooms,omitzero"`
	// Rooms, when present, are the only rooms included; applied before the
	// section filters.
	Rooms []string `json:"rooms,omitzero"`
	// Ephemeral filters the rooms' ephemeral events (typing, receipts).
	Ephemeral *RoomEventFilter `json:"ephemeral,omitempty"`
	// IncludeLeave includes rooms the user has left.
	IncludeLeave bool `json:"include_leave,omitempty"`
	// State filters the rooms' state (the spec's StateFilter).
	State *RoomEventFilter `json:"state,omitempty"`
	// Timeline filters the rooms' timelines.
	Timeline *RoomEventFilter `json:"timeline,omitempty"`
	// AccountData filters the per-room account data.
	AccountData *RoomEventFilter `json:"account_data,omitempty"`
}

// Filter is a whole filter, as uploaded to POST /user/{userId}/filter or
// passed inline to /sync.
type Filter struct {
	// EventFields lists dot-separated paths of the event fields to return;
	// absent (or empty) for all of them. See ProjectFields.
	EventFields []string `json:"event_fields,omitzero"`
	// EventFormat is "client" (the default when empty) or "federation".
	EventFormat string `json:"event_format,omitempty"`
	// Presence filters presence updates.
	Presence *EventFilter `json:"presence,omitempty"`
	// AccountData filters the global account data.
	AccountData *EventFilter `json:"account_data,omitempty"`
	// Room filters everything about rooms.
	Room *RoomFilter `json:"room,omitempty"`
}

// IsInlineJSON reports whether the filter query parameter of /sync holds a
// filter as JSON rather than a filter ID: the spec tells them apart by a
// leading "{", which is why filter IDs never start with one.
func IsInlineJSON(param string) bool { return strings.HasPrefix(param, "{") }

// Parse decodes and validates a Filter: the body of POST
// /user/{userId}/filter, or an inline /sync filter. It returns a matrixerr.Error:
// 400 M_NOT_JSON when raw is not JSON; 400 M_BAD_JSON when it is not an
// object or a field has the wrong JSON type; 400 M_INVALID_PARAM when a
// value is out of range (a limit below 1, an unknown event_format, a room ID
// not starting with "!" or a user ID not starting with "@"). Unknown keys
// are ignored.
func Parse(raw []byte) (*Filter, error) {
	var f Filter
	if err := decodeObject(raw, &f, "filter"); err != nil {
		return nil, err
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// ParseRoomEventFilter decodes and validates a RoomEventFilter: the filter
// query parameter of /rooms/{roomId}/messages and /context, with the same
// errors as Parse.
func ParseRoomEventFilter(raw []byte) (*RoomEventFilter, error) {
	var f RoomEventFilter
	if err := decodeObject(raw, &f, "room event filter"); err != nil {
		return nil, err
	}
	if err := f.validate("filter"); err != nil {
		return nil, err
	}
	return &f, nil
}

// decodeObject decodes raw, which must be a JSON object, into v.
func decodeObject(raw []byte, v any, what string) error {
	if !json.Valid(raw) {
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeNotJSON, "%s is not valid JSON", what)
	}
	if t := bytes.TrimSpace(raw); t[0] != '{' {
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "%s must be a JSON object", what)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return matrixerr.WithCause(matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "malformed %s: %v", what, err), err)
	}
	return nil
}

// validate applies the checks of Parse to f.
func (f *Filter) validate() error {
	switch f.EventFormat {
	case "", FormatClient, FormatFederation:
	default:
		return invalidParam("event_format must be %q or %q, not %q", FormatClient, FormatFederation, f.EventFormat)
	}
	if err := f.Presence.validate("presence"); err != nil {
		return err
	}
	if err := f.AccountData.validate("account_data"); err != nil {
		return err
	}
	r := f.Room
	if r == nil {
		return nil
	}
	if err := checkIDs("room.rooms", r.Rooms, "!"); err != nil {
		return err
	}
	if err := checkIDs("room.not_rooms", r.NotRooms, "!"); err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		f    *RoomEventFilter
	}{
		{"room.ephemeral", r.Ephemeral}, {"room.state", r.State},
		{"room.timeline", r.Timeline}, {"room.account_data", r.AccountData},
	} {
		if err := s.f.validate(s.name); err != nil {
			return err
		}
	}
	return nil
}

// validate checks the limit and sender IDs of f, called name in errors.
func (f *EventFilter) validate(name string) error {
	if f == nil {
		return nil
	}
	if f.Limit != nil && *f.Limit < 1 {
		return invalidParam("%s.limit must be an integer greater than 0, not %d", name, *f.Limit)
	}
	if err := checkIDs(name+".senders", f.Senders, "@"); err != nil {
		return err
	}
	return checkIDs(name+".not_senders", f.NotSenders, "@")
}

// validate checks f's event filter and room IDs, calling f name in errors.
func (f *RoomEventFilter) validate(name string) error {
	if f == nil {
		return nil
	}
	if err := f.EventFilter.validate(name); err != nil {
		return err
	}
	if err := checkIDs(name+".rooms", f.Rooms, "!"); err != nil {
		return err
	}
	return checkIDs(name+".not_rooms", f.NotRooms, "!")
}

// checkIDs requires every entry of list, called name in errors, to start
// with sigil: "!" for room IDs, "@" for user IDs.
func checkIDs(name string, list []string, sigil string) error {
	for _, id := range list {
		if !strings.HasPrefix(id, sigil) {
			return invalidParam("%s: %q does not start with %q", name, id, sigil)
		}
	}
	return nil
}
