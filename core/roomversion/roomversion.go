// Package roomversion describes the Matrix room versions 1 to 12: the
// algorithms and rule differences that an event's room version selects.
//
// Everything that behaves differently between room versions asks a
// *Version for the difference by name instead of comparing version strings,
// so that the differences are listed in one place, this table.
package roomversion

import "slices"

// EventIDFormat is how a room version names its events.
type EventIDFormat int

const (
	// EventIDInEvent means the event carries its own ID in an event_id
	// field of the form $opaque:server (room versions 1 and 2).
	EventIDInEvent EventIDFormat = iota + 1
	// EventIDHashStd is "$" followed by the reference hash in unpadded
	// standard base64 (room version 3).
	EventIDHashStd
	// EventIDHashURL is "$" followed by the reference hash in unpadded
	// URL-safe base64 (room versions 4 and later).
	EventIDHashURL
)

// StateRes names a state resolution algorithm.
type StateRes int

const (
	// StateResV1 is the original algorithm (room version 1).
	StateResV1 StateRes = iota + 1
	// StateResV2 is state resolution v2 (room versions 2 to 11).
	StateResV2
	// StateResV21 is state resolution v2.1 from MSC4297 (room version 12):
	// v2 that starts from the empty state and also resolves the
	// conflicted state subgraph.
	StateResV21
)

// Version is one room version and its rule differences. The zero value is
// not a valid version; use Lookup.
type Version struct {
	// ID is the version identifier as it appears in m.room.create.
	ID string
	// Stable is whether the spec marks the version stable.
	Stable bool
	// EventIDFormat is how event IDs are derived.
	EventIDFormat EventIDFormat
	// StateRes is the state resolution algorithm.
	StateRes StateRes

	// AuthorizeRedactions makes the auth rules check m.room.redaction
	// events (redact level or same domain as the redacted event); later
	// versions check redactions only when applying them (room versions 1
	// and 2).
	AuthorizeRedactions bool
	// EnforceKeyValidity requires the signing key to be valid at the
	// event's origin_server_ts (room version 5 and later).
	EnforceKeyValidity bool
	// SpecialCaseAliases keeps the m.room.aliases auth rule and its
	// redaction exemption (room versions 1 to 5).
	SpecialCaseAliases bool
	// StrictCanonicalJSON rejects floats and integers outside ±(2^53-1)
	// in events (room version 6 and later).
	StrictCanonicalJSON bool
	// NotificationsPowerLevels makes the auth rules check changes to the
	// notifications key of m.room.power_levels (room version 6 and later).
	NotificationsPowerLevels bool
	// Knocking allows the knock join rule and membership (room version 7
	// and later).
	Knocking bool
	// RestrictedJoins allows the restricted join rule (room version 8 and
	// later).
	RestrictedJoins bool
	// RedactKeepsJoinAuthorisedVia keeps join_authorised_via_users_server
	// in redacted member events (room version 9 and later).
	RedactKeepsJoinAuthorisedVia bool
	// KnockRestricted allows the knock_restricted join rule (room version
	// 10 and later).
	KnockRestricted bool
	// IntegerPowerLevels requires power level values to be JSON integers,
	// not strings (room version 10 and later).
	IntegerPowerLevels bool
	// UpdatedRedactionRules applies MSC2176 and MSC3821 (room version 11
	// and later): redaction keeps less at the top level and more content of
	// create, power_levels and redaction events.
	UpdatedRedactionRules bool
	// RedactsInContent moves the redacts key of m.room.redaction into
	// content (room version 11 and later, MSC2174).
	RedactsInContent bool
	// CreatorIsSender drops the creator key of m.room.create: the sender is
	// the creator (room version 11 and later, MSC2175).
	CreatorIsSender bool
	// RoomIDFromCreateEvent derives the room ID from the create event's
	// reference hash, and the create event has no room_id and is never
	// listed in auth_events (room version 12, MSC4291).
	RoomIDFromCreateEvent bool
	// PrivilegedCreators gives the creator and additional_creators
	// unlimited power that power levels cannot name (room version 12,
	// MSC4289).
	PrivilegedCreators bool
}

// versions is the table, in version order.
var versions = []Version{
	{ID: "1", Stable: true, EventIDFormat: EventIDInEvent, StateRes: StateResV1, SpecialCaseAliases: true,
		AuthorizeRedactions: true},
	{ID: "2", Stable: true, EventIDFormat: EventIDInEvent, StateRes: StateResV2, SpecialCaseAliases: true,
		AuthorizeRedactions: true},
	{ID: "3", Stable: true, EventIDFormat: EventIDHashStd, StateRes: StateResV2, SpecialCaseAliases: true},
	{ID: "4", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2, SpecialCaseAliases: true},
	{ID: "5", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2, SpecialCaseAliases: true,
		EnforceKeyValidity: true},
	{ID: "6", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevels: true},
	{ID: "7", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevels: true, Knocking: true},
	{ID: "8", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevels: true, Knocking: true,
		RestrictedJoins: true},
	{ID: "9", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevels: true, Knocking: true,
		RestrictedJoins: true, RedactKeepsJoinAuthorisedVia: true},
	{ID: "10", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevels: true, Knocking: true,
		RestrictedJoins: true, RedactKeepsJoinAuthorisedVia: true, KnockRestricted: true, IntegerPowerLevels: true},
	{ID: "11", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV2,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevels: true, Knocking: true,
		RestrictedJoins: true, RedactKeepsJoinAuthorisedVia: true, KnockRestricted: true, IntegerPowerLevels: true,
		UpdatedRedactionRules: true, RedactsInContent: true, CreatorIsSender: true},
	{ID: "12", Stable: true, EventIDFormat: EventIDHashURL, StateRes: StateResV21,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevels: true, Knocking: true,
		RestrictedJoins: true, RedactKeepsJoinAuthorisedVia: true, KnockRestricted: true, IntegerPowerLevels: true,
		UpdatedRedactionRules: true, RedactsInContent: true, CreatorIsSender: true,
		RoomIDFromCreateEvent: true, PrivilegedCreators: true},
}

// Default is the version new rooms get when the client names none.
const Default = "11"

// Lookup returns the version with the given identifier, or false when the
// version is unknown to this server.
func Lookup(id string) (*Version, bool) {
	for i := range versions {
		if versions[i].ID == id {
			return &versions[i], true
		}
	}
	return nil, false
}

// MustLookup is Lookup for identifiers known at compile time; it panics on
// an unknown version.
func MustLookup(id string) *Version {
	v, ok := Lookup(id)
	if !ok {
		panic("roomversion: unknown room version " + id)
	}
	return v
}

// All returns every supported version in order, for /capabilities and for
// tests that run across versions.
func All() []*Version {
	out := make([]*Version, len(versions))
	for i := range versions {
		out[i] = &versions[i]
	}
	return out
}

// IDs returns the identifiers of every supported version in order.
func IDs() []string {
	ids := make([]string, len(versions))
	for i, v := range versions {
		ids[i] = v.ID
	}
	return slices.Clip(ids)
}
