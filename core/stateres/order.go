package stateres

import (
	"container/heap"
	"math"
	"slices"
	"strings"

	"hearth/core/event"
)

// powerItem is one event of a reverse topological power ordering.
type powerItem struct {
	id    string
	power int64
	ts    int64
}

// powerLess is the spec's comparison for the reverse topological power
// ordering: the sender with the greater power level first, then the
// smaller origin_server_ts, then the smaller event ID.
func powerLess(a, b *powerItem) bool {
	if a.power != b.power {
		return a.power > b.power
	}
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.id < b.id
}

// powerHeap is the candidate set of Kahn's algorithm.
type powerHeap []*powerItem

func (h powerHeap) Len() int           { return len(h) }
func (h powerHeap) Less(i, j int) bool { return powerLess(h[i], h[j]) }
func (h powerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *powerHeap) Push(x any)        { *h = append(*h, x.(*powerItem)) }
func (h *powerHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// reverseTopologicalPowerOrder sorts events into the lexicographically
// smallest topological order of the auth_events DAG among them, earliest
// first, by Kahn's algorithm taking the smallest candidate under powerLess
// at each step. It is O(n log n) in the events plus their auth edges.
func (r *resolver) reverseTopologicalPowerOrder(ids idSet) ([]string, error) {
	items := make(map[string]*powerItem, len(ids))
	for id := range ids {
		n, err := r.load(id)
		if err != nil {
			return nil, err
		}
		p, err := r.senderPower(id)
		if err != nil {
			return nil, err
		}
		items[id] = &powerItem{id: id, power: p, ts: n.pdu.OriginServerTS()}
	}
	// An event waits for its auth events among ids; children lists who is
	// waiting on whom.
	indegree := make(map[string]int, len(ids))
	children := make(map[string][]string, len(ids))
	for id := range ids {
		n := r.nodes[id]
		for i, a := range n.auth {
			if !ids.has(a) || slices.Contains(n.auth[:i], a) {
				continue
			}
			indegree[id]++
			children[a] = append(children[a], id)
		}
	}
	h := make(powerHeap, 0, len(ids))
	for id, it := range items {
		if indegree[id] == 0 {
			h = append(h, it)
		}
	}
	heap.Init(&h)
	out := make([]string, 0, len(ids))
	for h.Len() > 0 {
		it := heap.Pop(&h).(*powerItem)
		out = append(out, it.id)
		for _, c := range children[it.id] {
			indegree[c]--
			if indegree[c] == 0 {
				heap.Push(&h, items[c])
			}
		}
	}
	// A cycle in auth_events (impossible for hashed event IDs) leaves
	// events unplaced; they follow in comparison order so that the result
	// stays deterministic.
	if len(out) < len(ids) {
		var left []*powerItem
		for id, it := range items {
			if indegree[id] > 0 {
				left = append(left, it)
			}
		}
		slices.SortFunc(left, func(a, b *powerItem) int {
			if powerLess(a, b) {
				return -1
			}
			if powerLess(b, a) {
				return 1
			}
			return 0
		})
		for _, it := range left {
			out = append(out, it.id)
		}
	}
	return out, nil
}

// authEventOf returns the ID of the event of the given key among the auth
// events of n, or "".
func (r *resolver) authEventOf(n node, k event.StateKey) (string, error) {
	for _, a := range n.auth {
		an, err := r.load(a)
		if err != nil {
			return "", err
		}
		if an.pdu.IsState() && an.pdu.StateTuple() == k {
			return a, nil
		}
	}
	return "", nil
}

// senderPower returns the power level of an event's sender according to
// the power levels and create events among its auth events.
func (r *resolver) senderPower(id string) (int64, error) {
	if p, ok := r.power[id]; ok {
		return p, nil
	}
	n, err := r.load(id)
	if err != nil {
		return 0, err
	}
	plID, err := r.authEventOf(n, powerLevelsKey)
	if err != nil {
		return 0, err
	}
	createID := ""
	if n.pdu.IsCreate() {
		createID = id
	} else if createID, err = r.authEventOf(n, createKey); err != nil {
		return 0, err
	}
	lv, err := r.levelsFor(plID, createID)
	if err != nil {
		return 0, err
	}
	p := lv.userLevel(n.pdu.Sender())
	r.power[id] = p
	return p, nil
}

// mainlineOrder sorts events by the mainline ordering based on the power
// levels event pl ("" when the partial state has none): the mainline
// position descending, then origin_server_ts, then event ID. Positions are
// memoised per power levels event, so each power levels chain is walked
// once.
func (r *resolver) mainlineOrder(ids []string, pl string) ([]string, error) {
	// pos maps a power levels event to its mainline position: its index
	// in the mainline, or that of the first mainline event down its chain
	// of power levels auth events (infinity if there is none).
	pos := make(map[string]int)
	for i, p := 0, pl; p != ""; i++ {
		if _, ok := pos[p]; ok {
			break // a cycle; impossible for hashed event IDs
		}
		pos[p] = i
		n, err := r.load(p)
		if err != nil {
			return nil, err
		}
		if p, err = r.authEventOf(n, powerLevelsKey); err != nil {
			return nil, err
		}
	}
	const (
		infinity = math.MaxInt
		onPath   = -1 // on the walk under way
	)
	position := func(p string) (int, error) {
		var path []string
		at := infinity
		for p != "" {
			if i, ok := pos[p]; ok {
				if i != onPath {
					at = i
				} // else a cycle, impossible for hashed event IDs
				break
			}
			pos[p] = onPath
			path = append(path, p)
			n, err := r.load(p)
			if err != nil {
				return 0, err
			}
			if p, err = r.authEventOf(n, powerLevelsKey); err != nil {
				return 0, err
			}
		}
		for _, q := range path {
			pos[q] = at
		}
		return at, nil
	}
	type item struct {
		id  string
		pos int
		ts  int64
	}
	items := make([]item, len(ids))
	for i, id := range ids {
		n, err := r.load(id)
		if err != nil {
			return nil, err
		}
		parent, err := r.authEventOf(n, powerLevelsKey)
		if err != nil {
			return nil, err
		}
		at, err := position(parent)
		if err != nil {
			return nil, err
		}
		items[i] = item{id: id, pos: at, ts: n.pdu.OriginServerTS()}
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.pos != b.pos {
			if a.pos > b.pos {
				return -1
			}
			return 1
		}
		if a.ts != b.ts {
			if a.ts < b.ts {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	out := ids[:0]
	for _, it := range items {
		out = append(out, it.id)
	}
	return out, nil
}
