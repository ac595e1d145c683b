package stateres

import (
	"hearth/core/auth"
	"hearth/core/event"
)

// resolveV2 is state resolution v2 (room versions 2 to 11) and, with v21,
// v2.1 from MSC4297 (room version 12): the full conflicted set also holds
// the conflicted state subgraph, and the first iterative auth checks start
// from the empty state instead of the unconflicted state map.
func (r *resolver) resolveV2(stateSets []map[event.StateKey]string, v21 bool) (map[event.StateKey]string, error) {
	unconflicted, conflicted, rest := split(stateSets)
	if len(conflicted) == 0 {
		return unconflicted, nil
	}

	// The full conflicted set.
	full, err := r.authDifference(unconflicted, rest)
	if err != nil {
		return nil, err
	}
	for id := range conflicted {
		full.add(id)
	}
	if v21 {
		sub, err := r.conflictedSubgraph(conflicted)
		if err != nil {
			return nil, err
		}
		for id := range sub {
			full.add(id)
		}
	}

	// Step 1: the power events of the full conflicted set and the events
	// of their auth chains that are in it, in reverse topological power
	// ordering.
	powerSet, err := r.powerSelection(full)
	if err != nil {
		return nil, err
	}
	powerOrder, err := r.reverseTopologicalPowerOrder(powerSet)
	if err != nil {
		return nil, err
	}

	// Step 2: iterative auth checks from the unconflicted state (v2) or
	// the empty state (v2.1).
	partial := &partialState{top: make(map[event.StateKey]string, len(full))}
	if !v21 {
		partial.base = unconflicted
	}
	if err := r.iterativeAuthChecks(partial, powerOrder); err != nil {
		return nil, err
	}

	// Step 3: the other events of the full conflicted set, in mainline
	// ordering based on the resolved power levels.
	others := make([]string, 0, len(full)-len(powerSet))
	for id := range full {
		if !powerSet.has(id) {
			others = append(others, id)
		}
	}
	pl, _ := partial.get(powerLevelsKey)
	others, err = r.mainlineOrder(others, pl)
	if err != nil {
		return nil, err
	}

	// Step 4: iterative auth checks on top of the partial state.
	if err := r.iterativeAuthChecks(partial, others); err != nil {
		return nil, err
	}

	// Step 5: the unconflicted state map wins. It becomes the result:
	// split made it for this call.
	for k, id := range partial.top {
		if _, ok := unconflicted[k]; !ok {
			unconflicted[k] = id
		}
	}
	return unconflicted, nil
}

// powerSelection returns the power events of the full conflicted set
// together with the events of their auth chains that are also in it.
func (r *resolver) powerSelection(full idSet) (idSet, error) {
	selected := make(idSet)
	var power []string
	for id := range full {
		n, err := r.load(id)
		if err != nil {
			return nil, err
		}
		if isPowerEvent(n.pdu) {
			selected.add(id)
			power = append(power, id)
		}
	}
	chains := make(idSet)
	if err := r.walkAuth(power, chains, nil); err != nil {
		return nil, err
	}
	for id := range chains {
		if full.has(id) {
			selected.add(id)
		}
	}
	return selected, nil
}

// isPowerEvent reports whether p is a power event: power levels, join
// rules, or a membership of leave or ban that someone else sent (a kick or
// a ban).
func isPowerEvent(p *event.PDU) bool {
	if !p.IsState() {
		return false
	}
	switch p.Type() {
	case powerLevelsKey.Type, joinRulesKey.Type:
		return true
	case memberType:
		sk, _ := p.StateKey()
		if sk == p.Sender() {
			return false
		}
		switch auth.Membership(p) {
		case "leave", "ban":
			return true
		}
	}
	return false
}
