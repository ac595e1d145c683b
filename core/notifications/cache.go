package notifications

import "sync"

// userRoom names one user's view of one room.
type userRoom struct{ user, room string }

// Bounds of the read states kept in memory: entries, and unread
// notifications held by them.
const (
	cacheShards     = 64
	maxCachedStates = 65536
	maxCachedHits   = 1 << 21
)

// unreadCache keeps each (user, room)'s read state, so that Counts
// evaluates only the events that arrived since it last ran. It is
// bounded: when full, it forgets any entry, and a miss walks again. Each
// shard has a generation that MarkRead bumps after it moves a marker: a
// state whose markers were read under an older generation reads them
// again.
type unreadCache struct {
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.Mutex
	gen     uint64
	hits    int // unread notifications held, as last reported by resize
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
		h *= 16777619 // a zero byte between the two
	}
	return &c.shards[h%cacheShards]
}

// get returns the key's state, making an empty one if there is none.
func (c *unreadCache) get(k userRoom) *readState {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st, ok := sh.entries[k]
	if !ok {
		sh.evict(userRoom{})
		st = &readState{}
		sh.entries[k] = st
	}
	return st
}

// peek returns the key's state, nil if there is none.
func (c *unreadCache) peek(k userRoom) *readState {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.entries[k]
}

// generation returns the generation of the key's shard.
func (c *unreadCache) generation(k userRoom) uint64 {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.gen
}

// bump records that a marker of k moved.
func (c *unreadCache) bump(k userRoom) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen++
}

// resize records that st, the state of k, now holds n unread
// notifications, evicting others while the shard holds too many. The
// caller holds st.mu.
func (c *unreadCache) resize(k userRoom, st *readState, n int) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.entries[k] != st {
		// Evicted meanwhile: it is no longer counted.
		return
	}
	sh.hits += n - st.accounted
	st.accounted = n
	sh.evict(k)
}

// evict drops entries other than keep while the shard is over its bounds
// (counting one entry more when keep is the zero key, about to be added).
// The caller holds sh.mu. An evicted state may still be in use; it is
// just not found again.
func (sh *cacheShard) evict(keep userRoom) {
	adding := 0
	if keep == (userRoom{}) {
		adding = 1
	}
	for k, st := range sh.entries {
		if len(sh.entries)+adding <= maxCachedStates/cacheShards && sh.hits <= maxCachedHits/cacheShards {
			return
		}
		if k == keep {
			continue
		}
		sh.hits -= st.accounted
		delete(sh.entries, k)
	}
}
