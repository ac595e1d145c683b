package stateres

import (
	"hearth/core/auth"
	"hearth/core/event"
)

// checkState is the state an event is authorised against during the
// iterative auth checks: the partially resolved state, and for a key it
// lacks, the event of that key among the event's own auth events, unless
// that one was rejected. Load failures are kept in the resolver, since
// auth.State cannot return them.
type checkState struct {
	r        *resolver
	state    *partialState
	fallback []string
}

// partialState is a state being resolved: changes in top over base, which
// is never written, so that the algorithm need not copy a large state.
type partialState struct {
	base, top map[event.StateKey]string
}

// get returns the event ID for k.
func (s *partialState) get(k event.StateKey) (string, bool) {
	if id, ok := s.top[k]; ok {
		return id, true
	}
	id, ok := s.base[k]
	return id, ok
}

// Get implements auth.State.
func (s *checkState) Get(k event.StateKey) *event.PDU {
	if id, ok := s.state.get(k); ok {
		return s.r.mustPDU(id)
	}
	for _, id := range s.fallback {
		p := s.r.mustPDU(id)
		if p != nil && p.IsState() && p.StateTuple() == k && !s.r.rejected(id) {
			return p
		}
	}
	return nil
}

var _ auth.State = (*checkState)(nil)

// mustPDU loads an event for an auth.State, recording a failure in r.err.
func (r *resolver) mustPDU(id string) *event.PDU {
	n, err := r.load(id)
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return nil
	}
	return n.pdu
}

// iterativeAuthChecks applies each event of ids, in order, to state if the
// auth rules allow it against state (with the event's auth events filling
// gaps), and ignores it otherwise.
func (r *resolver) iterativeAuthChecks(state *partialState, ids []string) error {
	cs := &checkState{r: r, state: state}
	for _, id := range ids {
		n, err := r.load(id)
		if err != nil {
			return err
		}
		if !n.pdu.IsState() {
			continue
		}
		cs.fallback = n.auth
		allowed := auth.Check(n.pdu, cs) == nil
		if r.err != nil {
			return r.err
		}
		if allowed {
			state.top[n.pdu.StateTuple()] = id
		}
	}
	return nil
}
