package stateres

import (
	"hearth/core/event"
)

// idSet is a set of event IDs.
type idSet map[string]struct{}

func (s idSet) add(id string) { s[id] = struct{}{} }

func (s idSet) has(id string) bool {
	_, ok := s[id]
	return ok
}

// walkAuth adds to seen every event in the auth chains of starts: the
// events reachable from them by auth_events links, not the starts
// themselves unless one is an ancestor of another. Events already in seen
// or in stop are neither added again nor walked through; because an auth
// chain is closed under auth_events, stop may hold a whole chain computed
// earlier in the same call, and the walk does no work twice. The events
// of the chains are cached for the rest of the call; the starts, which
// may be a whole large state, are not.
func (r *resolver) walkAuth(starts []string, seen, stop idSet) error {
	var stack []string
	for _, start := range starts {
		if n, ok := r.nodes[start]; ok {
			stack = append(stack[:0], n.auth...)
		} else {
			p, err := r.fetch(start)
			if err != nil {
				return err
			}
			stack = append(stack[:0], p.AuthEvents()...)
			if createID := r.impliedCreate(p); createID != "" {
				stack = append(stack, createID)
			}
		}
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen.has(id) || stop.has(id) {
				continue
			}
			seen.add(id)
			n, err := r.load(id)
			if err != nil {
				return err
			}
			stack = append(stack, n.auth...)
		}
	}
	return nil
}

// split divides the state sets into the unconflicted state map (keys that
// every set has, with the same event) and the conflicted state set (every
// other event of any set). It also returns, for each state set, the IDs of
// its events that are not unconflicted.
func split(stateSets []map[event.StateKey]string) (unconflicted map[event.StateKey]string, conflicted idSet, rest [][]string) {
	first, others := stateSets[0], stateSets[1:]
	unconflicted = make(map[event.StateKey]string, len(first))
	conflicted = make(idSet)
	rest = make([][]string, len(stateSets))
	for k, id := range first {
		same := true
		for _, s := range others {
			if other, ok := s[k]; !ok || other != id {
				same = false
				break
			}
		}
		if same {
			unconflicted[k] = id
		} else {
			conflicted.add(id)
			rest[0] = append(rest[0], id)
		}
	}
	for i, s := range others {
		for k, id := range s {
			if _, ok := unconflicted[k]; !ok {
				conflicted.add(id)
				rest[i+1] = append(rest[i+1], id)
			}
		}
	}
	return unconflicted, conflicted, rest
}

// authDifference returns the union of the full auth chains of the state
// sets minus their intersection. The full auth chain of a state set is the
// chain of its unconflicted events, which every set shares, plus the chain
// of its other events; the shared part is walked once, and each set's own
// part stops where it meets it, so the work is linear in the events walked.
func (r *resolver) authDifference(unconflicted map[event.StateKey]string, rest [][]string) (idSet, error) {
	shared := make([]string, 0, len(unconflicted))
	for _, id := range unconflicted {
		shared = append(shared, id)
	}
	sharedChain := make(idSet)
	if err := r.walkAuth(shared, sharedChain, nil); err != nil {
		return nil, err
	}
	count := make(map[string]int)
	for _, ids := range rest {
		own := make(idSet)
		if err := r.walkAuth(ids, own, sharedChain); err != nil {
			return nil, err
		}
		for id := range own {
			count[id]++
		}
	}
	diff := make(idSet)
	for id, c := range count {
		if c < len(rest) {
			diff.add(id)
		}
	}
	return diff, nil
}

// conflictedSubgraph returns the events on auth_events paths that lead from
// one event of the conflicted state set to another, endpoints included
// (room version 12, "Conflicted state subgraph"). An event belongs to it
// when a conflicted event reaches it and it reaches a conflicted event; one
// depth-first walk from the conflicted events, memoising whether each
// event reaches the conflicted set, finds them all in linear time.
func (r *resolver) conflictedSubgraph(conflicted idSet) (idSet, error) {
	const (
		visiting = iota + 1
		reaches
		reachesNot
	)
	status := make(map[string]uint8)
	out := make(idSet)
	type frame struct {
		id   string
		auth []string
		next int
		hit  bool
	}
	var stack []frame
	enter := func(id string) error {
		n, err := r.load(id)
		if err != nil {
			return err
		}
		status[id] = visiting
		stack = append(stack, frame{id: id, auth: n.auth, hit: conflicted.has(id)})
		return nil
	}
	for start := range conflicted {
		if status[start] != 0 {
			continue
		}
		if err := enter(start); err != nil {
			return nil, err
		}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next < len(top.auth) {
				a := top.auth[top.next]
				top.next++
				switch status[a] {
				case 0:
					if err := enter(a); err != nil {
						return nil, err
					}
				case reaches:
					top.hit = true
				}
				continue
			}
			f := *top
			stack = stack[:len(stack)-1]
			if f.hit {
				status[f.id] = reaches
				out.add(f.id)
				if len(stack) > 0 {
					stack[len(stack)-1].hit = true
				}
			} else {
				status[f.id] = reachesNot
			}
		}
	}
	return out, nil
}
