// Package stateres resolves conflicting room states into one, with the
// state resolution algorithm that the room version selects: the original
// algorithm of room version 1, state resolution v2 (room versions 2 to 11)
// and v2.1 from MSC4297 (room version 12).
//
// The package reads events only through the Events interface and keeps no
// state between calls; everything it memoises (loaded events, auth chains,
// power levels, mainline positions) lives for one call to Resolve. The work
// is linear in the size of the states and of the auth chains walked, plus
// n log n sorting of the conflicted events: a state event is fetched once,
// the chain shared by every state is walked once, and the auth rules run
// only for events of the full conflicted set.
package stateres

import (
	"errors"
	"fmt"
	"slices"

	"hearth/core/event"
	"hearth/core/roomversion"
)

// Events gives state resolution the events it needs, by ID.
type Events interface {
	Event(id string) (*event.PDU, error)
}

// Rejections may be implemented by an Events source that knows which events
// were rejected when they were received. The iterative auth checks never
// take a rejected event from an event's auth_events to fill a gap in the
// partially resolved state (room versions 2 and later, "Iterative auth
// checks"). Sources that do not implement it have no rejected events.
type Rejections interface {
	Rejected(id string) bool
}

// ErrMissingEvent is wrapped by the error Resolve returns when an event it
// needs (a state event or one in an auth chain) is not available.
var ErrMissingEvent = errors.New("stateres: missing event")

// ErrUnsupported is returned for a room version whose state resolution
// algorithm this package does not know.
var ErrUnsupported = errors.New("stateres: unsupported state resolution algorithm")

// Resolve returns the resolution of stateSets, each a map from (type, state
// key) to event ID, under the state resolution algorithm of room version v.
// The input maps are not modified; the result is a new map.
func Resolve(v *roomversion.Version, stateSets []map[event.StateKey]string, events Events) (map[event.StateKey]string, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: nil room version", ErrUnsupported)
	}
	switch len(stateSets) {
	case 0:
		return map[event.StateKey]string{}, nil
	case 1:
		return copyState(stateSets[0]), nil
	}
	r := newResolver(v, events)
	switch v.StateRes {
	case roomversion.StateResV1:
		return r.resolveV1(stateSets)
	case roomversion.StateResV2:
		return r.resolveV2(stateSets, false)
	case roomversion.StateResV21:
		return r.resolveV2(stateSets, true)
	}
	return nil, fmt.Errorf("%w: room version %s", ErrUnsupported, v.ID)
}

// copyState returns a copy of a state map.
func copyState(s map[event.StateKey]string) map[event.StateKey]string {
	out := make(map[event.StateKey]string, len(s))
	for k, id := range s {
		out[k] = id
	}
	return out
}

// Well-known state keys.
var (
	createKey      = event.StateKey{Type: "m.room.create"}
	powerLevelsKey = event.StateKey{Type: "m.room.power_levels"}
	joinRulesKey   = event.StateKey{Type: "m.room.join_rules"}
)

const memberType = "m.room.member"

// node is an event loaded during one resolution, with the auth event IDs
// the algorithm walks: the event's auth_events, plus for room version 12
// the create event that the room ID implies.
type node struct {
	pdu  *event.PDU
	auth []string
}

// resolver holds what one call to Resolve memoises.
type resolver struct {
	v      *roomversion.Version
	src    Events
	rej    Rejections
	nodes  map[string]node
	power  map[string]int64 // sender power level of an event, by event ID
	levels map[string]levels
	// room and createID cache the create event ID of the last room ID
	// seen (room version 12).
	room, createID string
	err            error // the first load error met inside an auth.State
}

func newResolver(v *roomversion.Version, src Events) *resolver {
	r := &resolver{
		v:      v,
		src:    src,
		nodes:  make(map[string]node),
		power:  make(map[string]int64),
		levels: make(map[string]levels),
	}
	r.rej, _ = src.(Rejections)
	return r
}

// load returns the event with the given ID, loading it once per call.
func (r *resolver) load(id string) (node, error) {
	if n, ok := r.nodes[id]; ok {
		return n, nil
	}
	p, err := r.fetch(id)
	if err != nil {
		return node{}, err
	}
	n := node{pdu: p, auth: p.AuthEvents()}
	if createID := r.impliedCreate(p); createID != "" && !slices.Contains(n.auth, createID) {
		n.auth = append(append(make([]string, 0, len(n.auth)+1), createID), n.auth...)
	}
	r.nodes[id] = n
	return n, nil
}

// fetch asks the source for an event, bypassing the cache.
func (r *resolver) fetch(id string) (*event.PDU, error) {
	p, err := r.src.Event(id)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrMissingEvent, id, err)
	}
	if p == nil {
		return nil, fmt.Errorf("%w %s", ErrMissingEvent, id)
	}
	return p, nil
}

// impliedCreate returns, for a room version 12 event other than the create
// event, the ID of the create event, which such events never list in
// auth_events: it is the room ID with "$" for "!". Otherwise it returns "".
func (r *resolver) impliedCreate(p *event.PDU) string {
	if !r.v.RoomIDFromCreateEvent || p.IsCreate() {
		return ""
	}
	return r.createOf(p.RoomID())
}

// createOf returns the ID of the create event of a room version 12 room.
func (r *resolver) createOf(room string) string {
	if room != r.room {
		r.room, r.createID = room, ""
		if len(room) > 1 {
			r.createID = "$" + room[1:]
		}
	}
	return r.createID
}

// rejected reports whether the source marks the event as rejected.
func (r *resolver) rejected(id string) bool {
	return r.rej != nil && r.rej.Rejected(id)
}
