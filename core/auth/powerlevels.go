package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// Infinite is the power level of a room creator in room versions with
// privileged creators (room version 12): higher than any level a
// m.room.power_levels event can express, and equal only to another
// creator's.
const Infinite int64 = math.MaxInt64

// ErrInvalidPowerLevels is wrapped by ParsePowerLevels errors for content
// that the room version does not accept.
var ErrInvalidPowerLevels = errors.New("auth: invalid power levels")

// named indexes the integer-valued top-level keys of m.room.power_levels.
type named int

const (
	keyBan named = iota
	keyKick
	keyRedact
	keyInvite
	keyStateDefault
	keyEventsDefault
	keyUsersDefault
	numNamed
)

// namedKeys are the JSON names of the named keys, in index order.
var namedKeys = [numNamed]string{"ban", "kick", "redact", "invite", "state_default", "events_default", "users_default"}

// namedDefaults are the values the named keys take when absent, whether or
// not the room has a power levels event (client-server spec,
// m.room.power_levels).
var namedDefaults = [numNamed]int64{50, 50, 50, 0, 50, 0, 0}

// defaultNotificationLevel is the level a notifications key, such as
// "room", requires when the power levels do not name it.
const defaultNotificationLevel = 50

// defaultCreatorLevel is the level of the room creator in room versions 1
// to 11 when the room has no power levels event.
const defaultCreatorLevel = 100

// PowerLevels is the effective content of a room's m.room.power_levels
// event, with the spec's defaults applied and, in room version 12, the room
// creators' unlimited power. The zero value is not useful; use
// ParsePowerLevels.
type PowerLevels struct {
	version *roomversion.Version
	// fromEvent is whether a power levels event was given.
	fromEvent bool
	named     [numNamed]int64
	set       [numNamed]bool
	users     map[string]int64
	events    map[string]int64
	notifs    map[string]int64
	// creators are the users with Infinite power (room version 12).
	creators []string
}

// ParsePowerLevels reads the power levels of a room from its
// m.room.power_levels event pl, which may be nil when the room has none,
// and its m.room.create event create, which supplies the room creators and
// may be nil only when pl is not.
//
// Content is parsed as the room version says: from room version 10 every
// value must be a JSON integer; earlier versions also accept integers
// written as strings (optionally signed, padded with whitespace or leading
// zeros), and room versions 1 to 5 accept floats, truncated toward zero.
// Keys of users must be valid user IDs. The error wraps
// ErrInvalidPowerLevels.
func ParsePowerLevels(pl *event.PDU, create *event.PDU) (*PowerLevels, error) {
	var creators []string
	if create != nil {
		creators = createInfoOf(create).creators
	}
	if pl == nil {
		if create == nil {
			return nil, fmt.Errorf("%w: neither a power levels nor a create event", ErrInvalidPowerLevels)
		}
		v := create.Version()
		p := &PowerLevels{version: v, named: namedDefaults, creators: creators}
		if !v.PrivilegedCreators && len(creators) > 0 {
			p.users = map[string]int64{creators[0]: defaultCreatorLevel}
		}
		return p, nil
	}
	parsed := plCache.get(pl, parsePowerLevelsEvent)
	if parsed.err != nil {
		return nil, parsed.err
	}
	if !pl.Version().PrivilegedCreators {
		// Creators do not enter into the levels: share the parsed copy.
		return parsed.pl, nil
	}
	p := *parsed.pl
	p.creators = creators
	return &p, nil
}

// parsedPowerLevels is the cached outcome of parsing a power levels event.
type parsedPowerLevels struct {
	pl  *PowerLevels
	err error
}

// plCache holds the parsed content of power levels events.
var plCache pduCache[parsedPowerLevels]

// parsePowerLevelsEvent parses a power levels event's content, without
// creators. The result is shared and must not be modified.
func parsePowerLevelsEvent(pl *event.PDU) parsedPowerLevels {
	v := pl.Version()
	p := &PowerLevels{version: v, named: namedDefaults, fromEvent: true}
	if err := p.parseContent(pl.Content(), v); err != nil {
		return parsedPowerLevels{err: err}
	}
	return parsedPowerLevels{pl: p}
}

// parseContent fills p from the content of a power levels event.
func (p *PowerLevels) parseContent(content json.RawMessage, v *roomversion.Version) error {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(content, &c); err != nil || c == nil {
		return fmt.Errorf("%w: content is not an object", ErrInvalidPowerLevels)
	}
	for i, key := range namedKeys {
		raw, ok := c[key]
		if !ok {
			continue
		}
		if isNull(raw) && !v.IntegerPowerLevels {
			// Older versions read a null level as absent.
			continue
		}
		n, err := parseLevel(raw, v)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidPowerLevels, key, err)
		}
		p.named[i], p.set[i] = n, true
	}
	var err error
	if p.users, err = parseLevelMap(c["users"], v, true); err != nil {
		return fmt.Errorf("%w: users: %v", ErrInvalidPowerLevels, err)
	}
	if p.events, err = parseLevelMap(c["events"], v, false); err != nil {
		return fmt.Errorf("%w: events: %v", ErrInvalidPowerLevels, err)
	}
	if v.NotificationsPowerLevels {
		if p.notifs, err = parseLevelMap(c["notifications"], v, false); err != nil {
			return fmt.Errorf("%w: notifications: %v", ErrInvalidPowerLevels, err)
		}
	} else {
		// Before room version 6 the auth rules ignore notifications, so
		// a malformed value must not make the event unusable: keep the
		// entries that parse.
		p.notifs = parseLevelMapLenient(c["notifications"], v)
	}
	return nil
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// parseLevelMap reads an object of power levels. A missing key (raw empty)
// is an empty map; before room version 10 so is null. When userKeys is set
// every key must be a valid user ID.
func parseLevelMap(raw json.RawMessage, v *roomversion.Version, userKeys bool) (map[string]int64, error) {
	if len(raw) == 0 || (isNull(raw) && !v.IntegerPowerLevels) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("not an object")
	}
	out := make(map[string]int64, len(m))
	for k, val := range m {
		if userKeys && !ValidUserID(k) {
			return nil, fmt.Errorf("%q is not a valid user ID", k)
		}
		n, err := parseLevel(val, v)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", k, err)
		}
		out[k] = n
	}
	return out, nil
}

// parseLevelMapLenient is parseLevelMap that drops what does not parse.
func parseLevelMapLenient(raw json.RawMessage, v *roomversion.Version) map[string]int64 {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, val := range m {
		if n, err := parseLevel(val, v); err == nil {
			out[k] = n
		}
	}
	return out
}

// parseLevel reads one power level value under the rules of room version
// v (room version pages: "m.room.power_levels events accept values as
// strings" for versions 1 to 9, "... as floats" for versions 1 to 5).
func parseLevel(raw json.RawMessage, v *roomversion.Version) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, errors.New("empty value")
	}
	switch c := raw[0]; {
	case c == '"':
		if v.IntegerPowerLevels {
			return 0, errors.New("a string, not an integer")
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return parseLevelString(s)
	case c == '-' || (c >= '0' && c <= '9'):
		return parseLevelNumber(string(raw), v)
	default:
		return 0, errors.New("not an integer")
	}
}

// parseLevelString reads a power level written as a string: a base 10
// integer with an optional single sign, any number of leading zeros, and
// optional surrounding whitespace.
func parseLevelString(s string) (int64, error) {
	t := strings.TrimSpace(s)
	digits := t
	if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	if digits == "" {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// parseLevelNumber reads a power level written as a JSON number. Integers
// are exact; fractions and exponents are accepted only in room versions
// without strict canonical JSON, and are truncated toward zero.
func parseLevelNumber(s string, v *roomversion.Version) (int64, error) {
	if !strings.ContainsAny(s, ".eE") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return n, nil
		}
		if v.StrictCanonicalJSON {
			return 0, fmt.Errorf("%s is out of range", s)
		}
	} else if v.StrictCanonicalJSON {
		return 0, fmt.Errorf("%s is not an integer", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%s is not a finite number", s)
	}
	f = math.Trunc(f)
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64, nil
	case f <= math.MinInt64:
		return math.MinInt64, nil
	}
	return int64(f), nil
}

// Creators returns the room creators named by a create event: in room
// versions 1 to 10 its content's creator, from version 11 its sender, and
// in version 12 also the users in content.additional_creators.
func Creators(create *event.PDU) []string {
	return slices.Clone(createInfoOf(create).creators)
}

// createInfo is what the rules read from a create event's content.
type createInfo struct {
	creators []string
	// noFederate is whether m.federate is false.
	noFederate bool
}

// createCache holds the createInfo of create events.
var createCache pduCache[createInfo]

// createInfoOf returns the cached createInfo of a create event. Its slice
// is shared and must not be modified.
func createInfoOf(create *event.PDU) createInfo {
	return createCache.get(create, parseCreate)
}

// parseCreate reads a create event's creators and m.federate.
func parseCreate(create *event.PDU) createInfo {
	v := create.Version()
	var c struct {
		Creator            json.RawMessage `json:"creator"`
		AdditionalCreators json.RawMessage `json:"additional_creators"`
		Federate           json.RawMessage `json:"m.federate"`
	}
	_ = json.Unmarshal(create.Content(), &c)
	// Only the literal false stops federation.
	info := createInfo{noFederate: string(c.Federate) == "false"}
	if !v.CreatorIsSender {
		var creator string
		if json.Unmarshal(c.Creator, &creator) == nil && creator != "" {
			info.creators = []string{creator}
		}
		return info
	}
	info.creators = []string{create.Sender()}
	if v.PrivilegedCreators {
		var extra []string
		if json.Unmarshal(c.AdditionalCreators, &extra) == nil {
			for _, u := range extra {
				if !contains(info.creators, u) {
					info.creators = append(info.creators, u)
				}
			}
		}
	}
	return info
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// IsCreator reports whether userID is a room creator with Infinite power.
// It is false in room versions before 12, where creators are ordinary
// users once the room has power levels.
func (p *PowerLevels) IsCreator(userID string) bool {
	return p.version.PrivilegedCreators && contains(p.creators, userID)
}

// UserLevel returns the power level of userID: Infinite for a room creator
// in room version 12, else the users entry, else users_default.
func (p *PowerLevels) UserLevel(userID string) int64 {
	if p.IsCreator(userID) {
		return Infinite
	}
	if n, ok := p.users[userID]; ok {
		return n
	}
	return p.named[keyUsersDefault]
}

// EventLevel returns the level required to send an event of the given type:
// the events entry, else state_default for state events and events_default
// for others. It does not apply to m.room.member, whose levels are Invite,
// Kick and Ban.
func (p *PowerLevels) EventLevel(eventType string, isState bool) int64 {
	if n, ok := p.events[eventType]; ok {
		return n
	}
	if isState {
		return p.named[keyStateDefault]
	}
	return p.named[keyEventsDefault]
}

// Ban returns the level required to ban a user.
func (p *PowerLevels) Ban() int64 { return p.named[keyBan] }

// Kick returns the level required to kick a user.
func (p *PowerLevels) Kick() int64 { return p.named[keyKick] }

// Invite returns the level required to invite a user.
func (p *PowerLevels) Invite() int64 { return p.named[keyInvite] }

// Redact returns the level required to redact another user's event.
func (p *PowerLevels) Redact() int64 { return p.named[keyRedact] }

// StateDefault returns the level required for state events not named in
// events.
func (p *PowerLevels) StateDefault() int64 { return p.named[keyStateDefault] }

// EventsDefault returns the level required for message events not named
// in events.
func (p *PowerLevels) EventsDefault() int64 { return p.named[keyEventsDefault] }

// UsersDefault returns the level of users not named in users.
func (p *PowerLevels) UsersDefault() int64 { return p.named[keyUsersDefault] }

// Notification returns the level required to trigger the notification
// named key, such as "room" for @room; 50 unless the power levels say
// otherwise.
func (p *PowerLevels) Notification(key string) int64 {
	if n, ok := p.notifs[key]; ok {
		return n
	}
	return defaultNotificationLevel
}

// FromEvent reports whether the levels came from an m.room.power_levels
// event rather than the defaults of a room without one.
func (p *PowerLevels) FromEvent() bool { return p.fromEvent }

// Users returns a copy of the explicit per-user levels. Without a power
// levels event in room versions 1 to 11 it holds the creator at 100.
func (p *PowerLevels) Users() map[string]int64 { return copyMap(p.users) }

// Events returns a copy of the explicit per-event-type levels.
func (p *PowerLevels) Events() map[string]int64 { return copyMap(p.events) }

// Notifications returns a copy of the explicit notification levels.
func (p *PowerLevels) Notifications() map[string]int64 { return copyMap(p.notifs) }

// copyMap returns a copy of m, never nil.
func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
