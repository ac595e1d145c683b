package room

import (
	"encoding/json"
	"fmt"
	"sync"

	"hearth/core/event"
	"hearth/persist"
)

// State is a room's state as event IDs by (type, state key). Maps handed
// out by this package are shared and must not be modified; use clone.
type State map[event.StateKey]string

func (s State) clone() State {
	c := make(State, len(s)+1)
	for k, v := range s {
		c[k] = v
	}
	return c
}

// maxChain bounds how many deltas a state group may sit on before the
// store writes a full snapshot instead, so that loading any state reads at
// most maxChain records.
const maxChain = 32

// stateGroup is one stored state: a delta over a parent group, or a full
// snapshot when Parent is 0. A delta entry with an empty event ID removes
// the key.
type stateGroup struct {
	Parent uint64      `json:"p,omitempty"`
	Chain  int         `json:"n,omitempty"` // deltas between this group and its snapshot
	Delta  [][3]string `json:"d"`           // [type, state key, event ID]
}

// groups stores state groups and caches their expanded state.
type groups struct {
	mu    sync.Mutex
	last  uint64           // highest group number handed out
	cache map[uint64]State // expanded states, bounded by cacheSize
	order []uint64         // insertion order, for eviction
}

// groupCacheSize bounds the expanded states kept in memory.
const groupCacheSize = 512

func newGroups(last uint64) *groups {
	return &groups{last: last, cache: make(map[uint64]State)}
}

func (g *groups) remember(id uint64, s State) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.cache[id]; ok {
		return
	}
	if len(g.order) >= groupCacheSize {
		delete(g.cache, g.order[0])
		g.order = g.order[1:]
	}
	g.cache[id] = s
	g.order = append(g.order, id)
}

func (g *groups) cached(id uint64) (State, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.cache[id]
	return s, ok
}

// load returns the expanded state of group id.
func (g *groups) load(tx persist.Tx, id uint64) (State, error) {
	if id == 0 {
		return State{}, nil
	}
	if s, ok := g.cached(id); ok {
		return s, nil
	}
	// Walk up to the nearest snapshot or cached state, then apply the
	// deltas back down.
	var chain []stateGroup
	var base State
	for cur := id; ; {
		if s, ok := g.cached(cur); ok {
			base = s
			break
		}
		raw, err := tx.Get(groupKey(cur))
		if err != nil {
			return nil, fmt.Errorf("room: load state group %d: %w", cur, err)
		}
		var sg stateGroup
		if err := json.Unmarshal(raw, &sg); err != nil {
			return nil, fmt.Errorf("%w: state group %d: %v", errCorrupt, cur, err)
		}
		chain = append(chain, sg)
		if sg.Parent == 0 {
			base = State{}
			break
		}
		if len(chain) > maxChain+1 {
			return nil, fmt.Errorf("%w: state group %d chain too long", errCorrupt, id)
		}
		cur = sg.Parent
	}
	s := base.clone()
	for i := len(chain) - 1; i >= 0; i-- {
		applyDelta(s, chain[i].Delta)
	}
	g.remember(id, s)
	return s, nil
}

func applyDelta(s State, delta [][3]string) {
	for _, d := range delta {
		k := event.StateKey{Type: d[0], StateKey: d[1]}
		if d[2] == "" {
			delete(s, k)
		} else {
			s[k] = d[2]
		}
	}
}

// store writes a new group holding state, as a delta over parent (whose
// expanded state is parentState) when that is short, else as a snapshot,
// and returns its number.
func (g *groups) store(tx persist.Tx, parent uint64, parentChain int, parentState, state State) (uint64, error) {
	sg := stateGroup{}
	if parent != 0 && parentChain < maxChain {
		sg.Parent = parent
		sg.Chain = parentChain + 1
		for k, id := range state {
			if parentState[k] != id {
				sg.Delta = append(sg.Delta, [3]string{k.Type, k.StateKey, id})
			}
		}
		for k := range parentState {
			if _, ok := state[k]; !ok {
				sg.Delta = append(sg.Delta, [3]string{k.Type, k.StateKey, ""})
			}
		}
	} else {
		sg.Delta = make([][3]string, 0, len(state))
		for k, id := range state {
			sg.Delta = append(sg.Delta, [3]string{k.Type, k.StateKey, id})
		}
	}
	raw, err := json.Marshal(sg)
	if err != nil {
		return 0, fmt.Errorf("room: encode state group: %w", err)
	}
	g.mu.Lock()
	g.last++
	id := g.last
	g.mu.Unlock()
	if err := tx.Set(groupKey(id), raw); err != nil {
		return 0, fmt.Errorf("room: store state group: %w", err)
	}
	g.remember(id, state)
	return id, nil
}

// chainOf returns how many deltas group id sits on, reading its record.
func (g *groups) chainOf(tx persist.Tx, id uint64) (int, error) {
	if id == 0 {
		return 0, nil
	}
	raw, err := tx.Get(groupKey(id))
	if err != nil {
		return 0, fmt.Errorf("room: load state group %d: %w", id, err)
	}
	var sg stateGroup
	if err := json.Unmarshal(raw, &sg); err != nil {
		return 0, fmt.Errorf("%w: state group %d: %v", errCorrupt, id, err)
	}
	return sg.Chain, nil
}
