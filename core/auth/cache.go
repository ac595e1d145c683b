package auth

import (
	"runtime"
	"sync"
	"weak"

	"hearth/core/event"
)

// pduCache memoises a value computed from an immutable PDU, such as its
// parsed power levels, for as long as the PDU is alive: state resolution
// checks thousands of events against the same few power levels, create and
// membership events, and decoding their JSON each time would dominate
// Check. Entries are keyed by weak pointers and dropped when the PDU is
// garbage collected, so the cache never keeps an event alive.
type pduCache[V any] struct {
	m sync.Map // weak.Pointer[event.PDU] -> V
}

// get returns the value for p, computing it with compute on a miss.
// compute must be a pure function of p.
func (c *pduCache[V]) get(p *event.PDU, compute func(*event.PDU) V) V {
	k := weak.Make(p)
	if v, ok := c.m.Load(k); ok {
		return v.(V)
	}
	v := compute(p)
	if _, loaded := c.m.LoadOrStore(k, v); !loaded {
		runtime.AddCleanup(p, func(k weak.Pointer[event.PDU]) { c.m.Delete(k) }, k)
	}
	return v
}
