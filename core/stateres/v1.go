package stateres

import (
	"bytes"
	"crypto/sha1"
	"slices"
	"strings"

	"hearth/core/auth"
	"hearth/core/event"
)

// v1Event is a conflicting event with what the room version 1 orderings
// compare.
type v1Event struct {
	id    string
	depth int64
	sha   [sha1.Size]byte
}

// resolveV1 is the state resolution of room version 1 (rooms/v1,
// "State resolution"). Start from every key the states agree on (a key
// that only some states have is not a conflict), then resolve the
// conflicting power levels, join rules and membership events in turn by
// ascending depth and descending sha1(event_id), keeping each event the
// auth rules allow in the state resolved so far and stopping at the first
// they reject; every other conflict goes to the event with the highest
// depth and lowest sha1(event_id) that the auth rules allow.
func (r *resolver) resolveV1(stateSets []map[event.StateKey]string) (map[event.StateKey]string, error) {
	resolved := make(map[event.StateKey]string, len(stateSets[0]))
	conflicts := make(map[event.StateKey][]string)
	for _, s := range stateSets {
		for k, id := range s {
			if ids, ok := conflicts[k]; ok {
				if !slices.Contains(ids, id) {
					conflicts[k] = append(ids, id)
				}
				continue
			}
			if prev, ok := resolved[k]; !ok {
				resolved[k] = id
			} else if prev != id {
				conflicts[k] = []string{prev, id}
				delete(resolved, k)
			}
		}
	}
	if len(conflicts) == 0 {
		return resolved, nil
	}

	keys := make([]event.StateKey, 0, len(conflicts))
	for k := range conflicts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b event.StateKey) int {
		if c := v1Pass(a) - v1Pass(b); c != 0 {
			return c
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.StateKey, b.StateKey)
	})

	cs := &checkState{r: r, state: &partialState{top: resolved}}
	allowed := func(id string) (bool, error) {
		n, err := r.load(id)
		if err != nil {
			return false, err
		}
		ok := auth.Check(n.pdu, cs) == nil
		if r.err != nil {
			return false, r.err
		}
		return ok, nil
	}
	for _, k := range keys {
		evs, err := r.v1Events(conflicts[k])
		if err != nil {
			return nil, err
		}
		if v1Pass(k) < v1Others {
			// Ascending depth, then descending sha1(event_id).
			slices.SortFunc(evs, func(a, b v1Event) int {
				if a.depth != b.depth {
					return cmpInt(a.depth, b.depth)
				}
				return -bytes.Compare(a.sha[:], b.sha[:])
			})
			resolved[k] = evs[0].id
			for _, e := range evs[1:] {
				ok, err := allowed(e.id)
				if err != nil {
					return nil, err
				}
				if !ok {
					break
				}
				resolved[k] = e.id
			}
			continue
		}
		// Descending depth, then ascending sha1(event_id): the first
		// event the auth rules allow wins.
		slices.SortFunc(evs, func(a, b v1Event) int {
			if a.depth != b.depth {
				return cmpInt(b.depth, a.depth)
			}
			return bytes.Compare(a.sha[:], b.sha[:])
		})
		for _, e := range evs {
			ok, err := allowed(e.id)
			if err != nil {
				return nil, err
			}
			if ok {
				resolved[k] = e.id
				break
			}
		}
	}
	return resolved, nil
}

// The passes of room version 1 state resolution, in order.
const (
	v1PowerLevels = iota
	v1JoinRules
	v1Members
	v1Others
)

// v1Pass returns the pass that resolves conflicts for key k.
func v1Pass(k event.StateKey) int {
	switch {
	case k == powerLevelsKey:
		return v1PowerLevels
	case k == joinRulesKey:
		return v1JoinRules
	case k.Type == memberType:
		return v1Members
	}
	return v1Others
}

// v1Events loads the conflicting events of one key.
func (r *resolver) v1Events(ids []string) ([]v1Event, error) {
	out := make([]v1Event, len(ids))
	for i, id := range ids {
		n, err := r.load(id)
		if err != nil {
			return nil, err
		}
		out[i] = v1Event{id: id, depth: n.pdu.Depth(), sha: sha1.Sum([]byte(id))}
	}
	return out, nil
}

// cmpInt compares two integers.
func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
