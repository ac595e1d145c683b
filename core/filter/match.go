package filter

import (
	"encoding/json"
	"slices"
	"strings"
)

// Match reports whether an event of type eventType sent by sender passes f:
// its sender is not in NotSenders and is in Senders when present, and its
// type matches no NotTypes pattern and some Types pattern when present. A
// nil f matches everything.
func (f *EventFilter) Match(eventType, sender string) bool {
	if f == nil {
		return true
	}
	if slices.Contains(f.NotSenders, sender) {
		return false
	}
	if f.Senders != nil && !slices.Contains(f.Senders, sender) {
		return false
	}
	if slices.ContainsFunc(f.NotTypes, func(p string) bool { return wildcardMatch(p, eventType) }) {
		return false
	}
	return f.Types == nil || slices.ContainsFunc(f.Types, func(p string) bool { return wildcardMatch(p, eventType) })
}

// LimitOr returns f's limit, or def when f or its limit is absent, capped at
// max.
func (f *EventFilter) LimitOr(def, max int) int {
	n := def
	if f != nil && f.Limit != nil {
		n = *f.Limit
	}
	return min(n, max)
}

// Match is [EventFilter.Match] for a room event filter. It is spelled out
// rather than promoted from the embedded EventFilter so that a nil f, too,
// matches everything instead of panicking.
func (f *RoomEventFilter) Match(eventType, sender string) bool {
	return f == nil || f.EventFilter.Match(eventType, sender)
}

// LimitOr is [EventFilter.LimitOr] for a room event filter, safe on a nil f
// like Match.
func (f *RoomEventFilter) LimitOr(def, max int) int {
	if f == nil {
		return min(def, max)
	}
	return f.EventFilter.LimitOr(def, max)
}

// MatchRoom reports whether f lets events of room roomID through: the room
// is not in NotRooms and is in Rooms when present. A nil f matches every
// room.
func (f *RoomEventFilter) MatchRoom(roomID string) bool {
	return f == nil || matchRoom(f.Rooms, f.NotRooms, roomID)
}

// MatchEvent reports whether an event passes f: its room passes MatchRoom,
// its type and sender pass Match, and, when ContainsURL is set, its content
// (the event's raw "content" JSON) has or lacks a url key accordingly. A nil
// f matches every event.
func (f *RoomEventFilter) MatchEvent(roomID, eventType, sender string, content json.RawMessage) bool {
	if f == nil {
		return true
	}
	if !f.MatchRoom(roomID) || !f.EventFilter.Match(eventType, sender) {
		return false
	}
	return f.ContainsURL == nil || *f.ContainsURL == hasURL(content)
}

// hasURL reports whether content is a JSON object with a url key.
func hasURL(content json.RawMessage) bool {
	var c map[string]json.RawMessage
	if json.Unmarshal(content, &c) != nil {
		return false
	}
	_, ok := c["url"]
	return ok
}

// MatchRoom reports whether f lets room roomID through: it is not in
// NotRooms and is in Rooms when present. A nil f matches every room.
func (f *RoomFilter) MatchRoom(roomID string) bool {
	return f == nil || matchRoom(f.Rooms, f.NotRooms, roomID)
}

// matchRoom applies an include list (nil for all) and an exclude list.
func matchRoom(rooms, notRooms []string, roomID string) bool {
	return !slices.Contains(notRooms, roomID) && (rooms == nil || slices.Contains(rooms, roomID))
}

// wildcardMatch reports whether s matches pattern, in which "*" stands for
// any sequence of characters and every other character for itself, case
// sensitively: the spec's rule for types and not_types. It takes time linear
// in len(pattern)+len(s) for each piece between stars, without backtracking:
// matching each piece at its leftmost place is always right.
func wildcardMatch(pattern, s string) bool {
	first, rest, starred := strings.Cut(pattern, "*")
	if !starred {
		return pattern == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	pieces := strings.Split(rest, "*")
	last := pieces[len(pieces)-1]
	for _, p := range pieces[:len(pieces)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// room returns f's room filter, nil (matching everything) if absent.
func (f *Filter) room() *RoomFilter {
	if f == nil {
		return nil
	}
	return f.Room
}

// MatchRoom reports whether /sync reports on room roomID at all, by
// room.rooms and room.not_rooms.
func (f *Filter) MatchRoom(roomID string) bool { return f.room().MatchRoom(roomID) }

// Timeline returns the filter for room timelines, nil (matching everything)
// if absent.
func (f *Filter) Timeline() *RoomEventFilter {
	if r := f.room(); r != nil {
		return r.Timeline
	}
	return nil
}

// State returns the filter for room state, nil (matching everything) if
// absent.
func (f *Filter) State() *RoomEventFilter {
	if r := f.room(); r != nil {
		return r.State
	}
	return nil
}

// Ephemeral returns the filter for rooms' ephemeral events, nil (matching
// everything) if absent.
func (f *Filter) Ephemeral() *RoomEventFilter {
	if r := f.room(); r != nil {
		return r.Ephemeral
	}
	return nil
}

// RoomAccountData returns the filter for per-room account data, nil
// (matching everything) if absent.
func (f *Filter) RoomAccountData() *RoomEventFilter {
	if r := f.room(); r != nil {
		return r.AccountData
	}
	return nil
}

// PresenceFilter returns the filter for presence, nil (matching everything)
// if absent.
func (f *Filter) PresenceFilter() *EventFilter {
	if f == nil {
		return nil
	}
	return f.Presence
}

// AccountDataFilter returns the filter for global account data, nil
// (matching everything) if absent.
func (f *Filter) AccountDataFilter() *EventFilter {
	if f == nil {
		return nil
	}
	return f.AccountData
}

// TimelineLimit is how many events per room a /sync timeline holds: the
// timeline filter's limit, DefaultTimelineLimit without one, and at most
// MaxTimelineLimit.
func (f *Filter) TimelineLimit() int {
	return f.Timeline().LimitOr(DefaultTimelineLimit, MaxTimelineLimit)
}

// LazyLoadMembers reports whether /sync lazy-loads room members, which the
// spec switches on through the state filter's lazy_load_members.
func (f *Filter) LazyLoadMembers() bool {
	s := f.State()
	return s != nil && s.LazyLoadMembers
}

// IncludeRedundantMembers reports whether lazy-loading /sync must resend
// membership events the client already has; false unless LazyLoadMembers.
func (f *Filter) IncludeRedundantMembers() bool {
	s := f.State()
	return s != nil && s.LazyLoadMembers && s.IncludeRedundantMembers
}

// IncludeLeave reports whether /sync includes rooms the user has left.
func (f *Filter) IncludeLeave() bool {
	r := f.room()
	return r != nil && r.IncludeLeave
}

// UnreadThreadNotifications reports whether /sync splits notification counts
// per thread, switched on through the timeline filter.
func (f *Filter) UnreadThreadNotifications() bool {
	t := f.Timeline()
	return t != nil && t.UnreadThreadNotifications
}

// Federation reports whether events are to be returned in federation format
// rather than the default client format.
func (f *Filter) Federation() bool { return f != nil && f.EventFormat == FormatFederation }
