package syncapi

import (
	"sync"

	"hearth/core/filter"
)

// filterCacheSize bounds the parsed filters a filterCache keeps.
const filterCacheSize = 256

// filterCache keeps parsed sync filters. A client sends the same filter
// with every /sync, inline or as the ID of a stored one; reading and
// parsing it again each time was nearly a tenth of a busy sync's CPU.
// Parsed filters are only read, so requests share them, and a stored
// filter never changes (its ID is a hash of its JSON). The zero value is
// ready to use.
type filterCache struct {
	mu     sync.Mutex
	parsed map[string]*filter.Filter
}

// get returns the filter cached under key, or else the one load returns,
// parsed with filter.Parse and kept under key. Failures are not kept.
func (c *filterCache) get(key string, load func() ([]byte, error)) (*filter.Filter, error) {
	c.mu.Lock()
	f, ok := c.parsed[key]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	raw, err := load()
	if err != nil {
		return nil, err
	}
	if f, err = filter.Parse(raw); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.parsed == nil || len(c.parsed) >= filterCacheSize {
		// Start over rather than track use: clients reuse few filters.
		c.parsed = make(map[string]*filter.Filter)
	}
	c.parsed[key] = f
	c.mu.Unlock()
	return f, nil
}
