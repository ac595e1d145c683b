package notifications

import "sync"

// userRoom names one user's view of one room.
type userRoom struct{ user, room string }

// Bounds of the read states kept in memory: entries, and unread
// notifications held by them.
const (
	cacheShards     = 64
	maxCachedStates = 65536
	maxCachedHits   = 1 << 22
)

// unreadCache keeps each (user, room)'s latest read state, so that Counts
// evaluates only the events that arrived since it last ran. It is
// bounded: when full, it forgets any entry, and a miss walks again. A
// write to the markers bumps its shard's generation, so that a walk that
// started before the write, from the old markers, does not put its result
// back.
type unreadCache struct {
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.Mutex
	gen     uint64
	hits    int
	entries map[userRoom]*readState
}

func newUnreadCache() *unreadCache {
	c := &unreadCache{}
	for i := range c.shards {
		c.shards[i].entries = make(map[userRoom]*readState)
	}
	return c
}

// shard picks the shard of a key by an FNV-1a hash of it.
func (c *unreadCache) shard(k userRoom) *cacheShard {
	h := uint32(2166136261)
	for _, s := range [2]string{k.user, k.room} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint32(s[i])) * 16777619
		}
		h = (h ^ 0) * 16777619
	}
	return &c.shards[h%cacheShards]
}

// get returns the key's entry, nil if none, and the generation a later
// put must match.
func (c *unreadCache) get(k userRoom) (*readState, uint64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.entries[k], sh.gen
}

// put stores st for k, unless a write changed markers since the get that
// returned gen.
func (c *unreadCache) put(k userRoom, st *readState, gen uint64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	sh.set(k, st)
}

// replace stores next for k after a marker write, if the entry is still
// old, the one next was derived from; otherwise (or with next nil) it
// drops the entry. Either way it bumps the generation.
func (c *unreadCache) replace(k userRoom, old, next *readState) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen++
	if next != nil && sh.entries[k] == old {
		sh.set(k, next)
		return
	}
	if cur, ok := sh.entries[k]; ok {
		sh.hits -= len(cur.unread)
		delete(sh.entries, k)
	}
}

// set stores st for k, evicting entries while the shard is over its
// bounds. The caller holds sh.mu.
func (sh *cacheShard) set(k userRoom, st *readState) {
	if cur, ok := sh.entries[k]; ok {
		sh.hits -= len(cur.unread)
		delete(sh.entries, k)
	}
	for u, e := range sh.entries {
		if len(sh.entries) < maxCachedStates/cacheShards && sh.hits+len(st.unread) <= maxCachedHits/cacheShards {
			break
		}
		sh.hits -= len(e.unread)
		delete(sh.entries, u)
	}
	sh.entries[k] = st
	sh.hits += len(st.unread)
}
