package syncer

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file encodes a /sync answer by hand, without encoding/json. A /sync
// is the largest and most frequent answer the server writes, and most of it
// is events that are already JSON: encoding/json would reflect over every
// struct and map, marshal each section into a buffer of its own, and then
// validate and re-compact every event. AppendJSON copies the events as they
// are and writes the rest directly into one buffer.
//
// The document is the one the struct tags in response.go describe: the same
// field names in the same order, with the same omission rules. Keep the two
// in step when a field changes; TestResponseJSONFields fails until they are.

// AppendJSON appends the JSON encoding of r to dst and returns the extended
// buffer. The document is the one encoding/json writes for r's struct tags
// (map keys sorted, empty event lists as [] rather than null), except that:
//
//   - nil maps in r.Rooms are written as {}, so that rooms.join, invite,
//     knock and leave are always objects;
//   - events (json.RawMessage) are copied as they are, without the
//     validation, compaction and HTML escaping of <, > and & that
//     encoding/json does: they must be valid JSON, as the events the syncer
//     formats are. An empty or nil event is written as null so that the
//     document stays valid;
//   - strings are not HTML-escaped either. Otherwise they are escaped as
//     encoding/json does: quotes, backslashes, control characters, U+2028
//     and U+2029 are escaped and invalid UTF-8 becomes U+FFFD.
//
// Apart from the nil maps, and empty events (on which encoding/json fails),
// none of these change the JSON value a client reads. A nil room in one of
// the maps is written as null, as encoding/json writes it.
func (r *Response) AppendJSON(dst []byte) []byte {
	dst = slices.Grow(dst, r.sizeHint())
	// keys is scratch space for sorting map keys, shared by the maps in
	// turn since none of them nests inside another.
	var scratch [16]string
	keys := scratch[:0]
	dst = append(dst, `{"next_batch":`...)
	dst = appendString(dst, r.NextBatch)
	dst = append(dst, `,"rooms":{"join":`...)
	dst, keys = appendObject(dst, keys, r.Rooms.Join, (*JoinedRoom).appendJSON)
	dst = append(dst, `,"invite":`...)
	dst, keys = appendObject(dst, keys, r.Rooms.Invite, (*InvitedRoom).appendJSON)
	dst = append(dst, `,"knock":`...)
	dst, keys = appendObject(dst, keys, r.Rooms.Knock, (*KnockedRoom).appendJSON)
	dst = append(dst, `,"leave":`...)
	dst, keys = appendObject(dst, keys, r.Rooms.Leave, (*LeftRoom).appendJSON)
	dst = append(dst, `},"presence":`...)
	dst = r.Presence.appendJSON(dst)
	dst = append(dst, `,"account_data":`...)
	dst = r.AccountData.appendJSON(dst)
	dst = append(dst, `,"to_device":`...)
	dst = r.ToDevice.appendJSON(dst)
	dst = append(dst, `,"device_lists":`...)
	dst = r.DeviceLists.appendJSON(dst)
	if r.OneTimeKeysCount != nil {
		dst = append(dst, `,"device_one_time_keys_count":`...)
		dst, _ = appendObject(dst, keys, r.OneTimeKeysCount, appendCount)
	}
	if r.UnusedFallbackKeyTypes != nil {
		dst = append(dst, `,"device_unused_fallback_key_types":`...)
		dst = appendStrings(dst, r.UnusedFallbackKeyTypes)
	}
	return append(dst, '}')
}

// MarshalJSON returns r.AppendJSON(nil), for callers that go through
// encoding/json (which then validates and compacts it, failing on an
// event that is not valid JSON).
func (r *Response) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil), nil
}

// sizeHint estimates the length of r's encoding, so that AppendJSON grows
// its buffer once rather than many times. It counts the events, which are
// nearly all of a /sync, exactly, and the rest roughly.
func (r *Response) sizeHint() int {
	n := 256 + len(r.NextBatch) + r.Presence.sizeHint() + r.AccountData.sizeHint() + r.ToDevice.sizeHint()
	for id, jr := range r.Rooms.Join {
		n += len(id) + 256
		if jr != nil {
			n += jr.State.sizeHint() + jr.Timeline.sizeHint() + jr.Ephemeral.sizeHint() + jr.AccountData.sizeHint()
			for _, h := range jr.Summary.Heroes {
				n += len(h) + 3
			}
		}
	}
	for id, ir := range r.Rooms.Invite {
		n += len(id) + 32
		if ir != nil {
			n += ir.InviteState.sizeHint()
		}
	}
	for id, kr := range r.Rooms.Knock {
		n += len(id) + 32
		if kr != nil {
			n += kr.KnockState.sizeHint()
		}
	}
	for id, lr := range r.Rooms.Leave {
		n += len(id) + 128
		if lr != nil {
			n += lr.State.sizeHint() + lr.Timeline.sizeHint() + lr.AccountData.sizeHint()
		}
	}
	for _, u := range r.DeviceLists.Changed {
		n += len(u) + 3
	}
	for _, u := range r.DeviceLists.Left {
		n += len(u) + 3
	}
	n += 32 * len(r.OneTimeKeysCount)
	for _, t := range r.UnusedFallbackKeyTypes {
		n += len(t) + 3
	}
	return n
}

// appendJSON appends j as a joined room, or null for a nil j.
func (j *JoinedRoom) appendJSON(dst []byte) []byte {
	if j == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"summary":`...)
	dst = j.Summary.appendJSON(dst)
	dst = append(dst, `,"state":`...)
	dst = j.State.appendJSON(dst)
	dst = append(dst, `,"timeline":`...)
	dst = j.Timeline.appendJSON(dst)
	dst = append(dst, `,"ephemeral":`...)
	dst = j.Ephemeral.appendJSON(dst)
	dst = append(dst, `,"account_data":`...)
	dst = j.AccountData.appendJSON(dst)
	if u := j.UnreadNotifications; u != nil {
		dst = append(dst, `,"unread_notifications":{"highlight_count":`...)
		dst = strconv.AppendInt(dst, int64(u.HighlightCount), 10)
		dst = append(dst, `,"notification_count":`...)
		dst = strconv.AppendInt(dst, int64(u.NotificationCount), 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendJSON appends i as an invited room, or null for a nil i.
func (i *InvitedRoom) appendJSON(dst []byte) []byte {
	if i == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"invite_state":`...)
	dst = i.InviteState.appendJSON(dst)
	return append(dst, '}')
}

// appendJSON appends k as a knocked room, or null for a nil k.
func (k *KnockedRoom) appendJSON(dst []byte) []byte {
	if k == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"knock_state":`...)
	dst = k.KnockState.appendJSON(dst)
	return append(dst, '}')
}

// appendJSON appends l as a left room, or null for a nil l.
func (l *LeftRoom) appendJSON(dst []byte) []byte {
	if l == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"state":`...)
	dst = l.State.appendJSON(dst)
	dst = append(dst, `,"timeline":`...)
	dst = l.Timeline.appendJSON(dst)
	dst = append(dst, `,"account_data":`...)
	dst = l.AccountData.appendJSON(dst)
	return append(dst, '}')
}

// appendJSON appends s, leaving out the fields that are empty.
func (s Summary) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	sep := false
	if len(s.Heroes) > 0 {
		dst = append(dst, `"m.heroes":`...)
		dst = appendStrings(dst, s.Heroes)
		sep = true
	}
	if s.JoinedMemberCount != nil {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"m.joined_member_count":`...)
		dst = strconv.AppendInt(dst, int64(*s.JoinedMemberCount), 10)
		sep = true
	}
	if s.InvitedMemberCount != nil {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"m.invited_member_count":`...)
		dst = strconv.AppendInt(dst, int64(*s.InvitedMemberCount), 10)
	}
	return append(dst, '}')
}

// appendJSON appends b as {"events":[...]}.
func (b EventBatch) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"events":`...)
	dst = appendEvents(dst, b.Events)
	return append(dst, '}')
}

// sizeHint is the length of b's encoding.
func (b EventBatch) sizeHint() int { return len(`{"events":[]}`) + eventsSize(b.Events) }

// appendJSON appends t, leaving out an empty prev_batch.
func (t Timeline) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"events":`...)
	dst = appendEvents(dst, t.Events)
	dst = append(dst, `,"limited":`...)
	dst = strconv.AppendBool(dst, t.Limited)
	if t.PrevBatch != "" {
		dst = append(dst, `,"prev_batch":`...)
		dst = appendString(dst, t.PrevBatch)
	}
	return append(dst, '}')
}

// sizeHint estimates the length of t's encoding.
func (t Timeline) sizeHint() int {
	return len(`{"events":[],"limited":false,"prev_batch":""}`) + eventsSize(t.Events) + len(t.PrevBatch)
}

// appendJSON appends d, leaving out the empty lists.
func (d DeviceLists) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if len(d.Changed) > 0 {
		dst = append(dst, `"changed":`...)
		dst = appendStrings(dst, d.Changed)
	}
	if len(d.Left) > 0 {
		if len(d.Changed) > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"left":`...)
		dst = appendStrings(dst, d.Left)
	}
	return append(dst, '}')
}

// appendEvents appends events as a JSON array, [] when there are none. The
// events are copied as they are; an empty one is written as null.
func appendEvents(dst []byte, events []json.RawMessage) []byte {
	dst = append(dst, '[')
	for i, ev := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		if len(ev) == 0 {
			dst = append(dst, "null"...)
			continue
		}
		dst = append(dst, ev...)
	}
	return append(dst, ']')
}

// eventsSize is the length of appendEvents' output for events, without
// the brackets.
func eventsSize(events []json.RawMessage) int {
	n := 0
	for _, ev := range events {
		n += len(ev) + 1
	}
	return n
}

// appendObject appends m as a JSON object with its keys sorted, {} when m is
// empty or nil, writing each value with appendValue (a method expression
// such as (*JoinedRoom).appendJSON). keys is scratch space
// for the sorting; appendObject returns it for reuse.
func appendObject[V any](dst []byte, keys []string, m map[string]V, appendValue func(V, []byte) []byte) ([]byte, []string) {
	dst = append(dst, '{')
	switch len(m) {
	case 0:
	case 1:
		for k, v := range m {
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendValue(v, dst)
		}
	default:
		keys = slices.AppendSeq(slices.Grow(keys[:0], len(m)), maps.Keys(m))
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendValue(m[k], dst)
		}
	}
	return append(dst, '}'), keys
}

// appendCount appends n in decimal. It takes its arguments in the order of
// the appendJSON method expressions, for appendObject.
func appendCount(n int, dst []byte) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// appendStrings appends ss as a JSON array of strings, [] when it is empty.
func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendString appends s as a JSON string, escaped as encoding/json escapes
// it with HTML escaping turned off: " and \ are escaped, control characters
// are written as \b, \f, \n, \r, \t or \u00XX, U+2028 and U+2029 as \u2028
// and \u2029 (JavaScript once could not have them raw in strings), and each
// byte of invalid UTF-8 becomes \ufffd.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0 // s[start:i] is waiting to be copied as it is
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
